"""kz2022_january: the week Kazakhstan went dark, played on the lab clock (kazakhstan.md 4).

On the national topology (Kazakhtelecom and the mobile operators, BGP at the border):

| phase | lab time (UTC) | what happens (kazakhstan.md section 4) |
|---|---|---|
| before | Jan 4 12:00 | all open |
| mobile_falls | Jan 4 14:30 | mobile falls: Beeline cut; Tele2 and Kcell throttled, not to zero |
| nationwide | Jan 5 10:30 | nationwide shutdown at the border, routes stay announced (RIPE); mobile cut |
| window_jan5 | Jan 5 18:00 | inside the access window of Jan 5 17:30-22:00: the border opens |
| dark_jan6 | Jan 6 08:00 | between windows: dark again |
| window_jan7 | Jan 7 03:00 | inside the window of Jan 7 02:30-06:00 |
| whitelist_jan8 | Jan 8 12:00 | after the Jan 8 window: only Kaspi and some media (the whitelist) |
| restored | Jan 11 02:15 | stable again |

The border follows the reported access windows by itself (AccessWindows on the lab
clock); mobile data stays off all week (assumed: reported in the press, not in the
reference). One hour of January 2022 takes ``--seconds-per-hour`` seconds (default 1).
Every cell has its expectation (tools/play/national.py says how a phase reads), the
networkx model predicts every cell too, and the outside view (BGP at the transit
provider, a ping sweep from abroad) is charted in the results.
"""

from tools.play.cli import script_main
from tools.play.national import ALLOWLIST, BORDER_WINDOWS, Country
from tools.play.spec import Phase, Scenario, Step

THROTTLED_NOT_CUT = ("kcell", "tele2")  # "Tele2/Kcell fall but not to zero"


def build(operators: int = 4, subscribers: int = 2) -> Scenario:
    kz = Country(operators, subscribers)
    mobile_ops = kz.operators("mobile")
    slow_ops = [o for o in mobile_ops if o in THROTTLED_NOT_CUT]
    cut_ops = [o for o in mobile_ops if o not in THROTTLED_NOT_CUT]
    mobile, home = kz.subscribers("mobile"), kz.subscribers("home")
    slow = [s for s in mobile if kz.model.graph.nodes[s]["operator"] in slow_ops]
    dark = kz.border_closed() | kz.cut_off(mobile)
    return kz.scenario(
        "kz2022_january",
        "January 4-11, 2022: mobile falls, the border shuts, access windows, a whitelist, restoration",
        (
            Phase("before", at="Jan 4, before the protests reach the network", time="2022-01-04T12:00"),
            Phase(
                "mobile_falls",
                at="Jan 4 ~14:30 UTC: mobile traffic falls; Tele2 and Kcell not to zero",
                time="2022-01-04T14:30",
                steps=kz.each("attach", "cut", "ShutdownAccessNetwork", cut_ops)
                + kz.each("attach", "slow", "ThrottleAccessNetwork", slow_ops),
                expect=kz.cut_off(set(mobile) - set(slow)) | kz.slowed(slow),
            ),
            Phase(
                "nationwide",
                at="Jan 5 ~10:30 UTC: nationwide shutdown, networks stay visible in BGP",
                time="2022-01-05T10:30",
                steps=kz.each("detach", "slow", "", slow_ops)
                + kz.each("attach", "cut", "ShutdownAccessNetwork", slow_ops)
                + (BORDER_WINDOWS,),
                expect=dark,
            ),
            Phase(
                "window_jan5",
                at="Jan 5 17:30-22:00 UTC access window",
                time="2022-01-05T18:00",
                expect=kz.cut_off(mobile),
            ),
            Phase("dark_jan6", at="Jan 6, between windows", time="2022-01-06T08:00", expect=dark),
            Phase(
                "window_jan7",
                at="Jan 7 02:30-06:00 UTC access window",
                time="2022-01-07T03:00",
                expect=kz.cut_off(mobile),
            ),
            Phase(
                "whitelist_jan8",
                at="Jan 8: only some domestic media and Kaspi reachable (the whitelist)",
                time="2022-01-08T12:00",
                steps=kz.each("attach", "allow", "AllowlistAccessNetwork", kz.operators("home"), allow=ALLOWLIST),
                expect=dark | kz.allowlisted(home),
            ),
            Phase(
                "restored",
                at="Jan 11 ~02:15 UTC: stable again",
                time="2022-01-11T02:15",
                steps=(Step("detach", "border"),)
                + kz.each("detach", "cut", "", mobile_ops)
                + kz.each("detach", "allow", "", kz.operators("home")),
            ),
        ),
        "kazakhstan.md section 4 (Cloudflare Radar, RIPE Labs, IODA via net4people/bbs#99, Access Now)",
    )


SCENARIO = build()

if __name__ == "__main__":
    script_main(SCENARIO)
