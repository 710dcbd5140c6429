"""shutdown_variants: the same country shut down by each mechanism, side by side.

One phase per mechanism on the national topology, each undone before the next, so a
student compares what subscribers see (the matrix) with what the world sees (the
charts: BGP visibility at the transit provider, a ping sweep from abroad):

| phase | mechanism (what it models) | inside | BGP from abroad | pings from abroad |
|---|---|---|---|---|
| data_plane | DropTrafficAtBorder (RIPE, Jan 5 2022) | the world cut off | all visible | none answer |
| withdrawal | WithdrawRoutes (not 2022; Egypt 2011) | the same, but abroad: no route | the country vanishes | none |
| mobile_only | ShutdownAccessNetwork, mobile (Jan 4) | mobile cut | all visible | fixed line answers |
| mobile_throttle | ThrottleAccessNetwork, mobile (Jan 4) | mobile slow, not cut | all visible | all answer |
| whitelist | AllowlistAccessNetwork, all (Jan 8) | Kaspi and one media site | all visible | servers only |

Inside, the first two look the same (the world times out); abroad, a withdrawal is
"network unreachable" at once, and route collectors lose the country: how RIPE could say
that Kazakhstan's was a data-plane shutdown (kazakhstan.md 4).
"""

from tools.play.cli import script_main
from tools.play.national import ALLOWLIST, Country
from tools.play.spec import Phase, Scenario, Step


def build(operators: int = 4, subscribers: int = 2) -> Scenario:
    kz = Country(operators, subscribers)
    mobile_ops, all_ops = kz.operators("mobile"), kz.operators("mobile") + kz.operators("home")
    mobile = kz.subscribers("mobile")
    return kz.scenario(
        "shutdown_variants",
        "one country, each shutdown mechanism in turn: what subscribers and the world see",
        (
            Phase("baseline", at="no shutdown"),
            Phase(
                "data_plane",
                at="DropTrafficAtBorder: packets dropped at the border, routes still announced",
                steps=(Step("attach", "border_drop", "DropTrafficAtBorder", "border"),),
                expect=kz.border_closed(),
            ),
            Phase(
                "withdrawal",
                at="WithdrawRoutes: the country's prefixes withdrawn from the transit provider",
                steps=(Step("detach", "border_drop"), Step("attach", "withdraw", "WithdrawRoutes", "border")),
                expect=kz.withdrawn(),
            ),
            Phase(
                "mobile_only",
                at="ShutdownAccessNetwork at every mobile operator",
                steps=(Step("detach", "withdraw"),) + kz.each("attach", "cut", "ShutdownAccessNetwork", mobile_ops),
                expect=kz.cut_off(mobile),
            ),
            Phase(
                "mobile_throttle",
                at="ThrottleAccessNetwork at every mobile operator",
                steps=kz.each("detach", "cut", "", mobile_ops)
                + kz.each("attach", "slow", "ThrottleAccessNetwork", mobile_ops),
                expect=kz.slowed(mobile),
            ),
            Phase(
                "whitelist",
                at="AllowlistAccessNetwork at every operator: Kaspi and one media site",
                steps=kz.each("detach", "slow", "", mobile_ops)
                + kz.each("attach", "allow", "AllowlistAccessNetwork", all_ops, allow=ALLOWLIST),
                expect=kz.allowlisted(kz.subscribers()),
            ),
            Phase("restored", at="every mechanism removed", steps=kz.each("detach", "allow", "", all_ops)),
        ),
        "kazakhstan.md section 4 (RIPE Labs: data-plane blocking, routes stayed visible); withdrawal compared",
    )


SCENARIO = build()

if __name__ == "__main__":
    script_main(SCENARIO)
