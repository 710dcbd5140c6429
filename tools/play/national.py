"""What the shutdown scenarios share: the national topology's clients by operator, the
sites they fetch, the shutdown steps, and expectations written as the measurements
describe a phase (kazakhstan.md section 4), not cell by cell.

Every shutdown scenario fetches the same six sites with urlgetter (a web_connectivity
probe would need the control helper abroad, which a shutdown cuts off): four domestic
(gov.kz, kaspi.kz, tengrinews.kz, vlast.kz, all in a Kazakhtelecom data centre) and two
international (facebook.com, youtube.com). What a cell shows when a mechanism bites:

- a subscriber cut off by its operator cannot reach even its resolver:
  ``dns:generic_timeout_error``;
- traffic that cannot cross the border (dropped there, or no route back after a
  withdrawal): the connect times out, ``tcp_ip:generic_timeout_error``; after a
  withdrawal a client abroad is told at once: ``tcp_ip:network_unreachable``;
- throttled, not cut: the page loads, its TLS handshake takes over 2 s: ``throttled``.

Assumed where the reference is silent: DNS kept answering inside the country (the
resolver holds a root-zone copy, topologies/kz_national.py); mobile data stayed off
through the week once cut (reported in the press, not in the reference); the whitelist
of January 8 let through kaspi.kz and one media site, tengrinews.kz (the real list is
unconfirmed), at every operator.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tools.play.expect import cells
from tools.play.predict import CONNECT_CUT, DNS_CUT, NO_ROUTE
from tools.play.spec import Observation, Phase, Scenario, Step, Target
from topologies import kz_national
from topologies.internet import KASPI, KZMEDIA, all_sites
from topologies.kz_isp import ISP_RESOLVER
from topologies.model import TopologyModel

DOMESTIC = ("gov.kz", "kaspi.kz", "tengrinews.kz", "vlast.kz")
INTERNATIONAL = ("facebook.com", "youtube.com")
TARGETS = tuple(Target.fetch(d) for d in DOMESTIC + INTERNATIONAL)
ALLOWED = ("kaspi.kz", "tengrinews.kz")
ALLOWLIST = [*KASPI.prefixes, f"{all_sites((KZMEDIA,))['tengrinews.kz'].address}/32", f"{ISP_RESOLVER}/32"]
# The daily access windows (UTC) of kazakhstan.md section 4: the border opened only then.
WINDOWS = [
    ["2022-01-05T17:30", "2022-01-05T22:00"],
    ["2022-01-06T10:30", "2022-01-06T14:00"],
    ["2022-01-07T02:30", "2022-01-07T06:00"],
    ["2022-01-08T02:30", "2022-01-08T10:00"],
    ["2022-01-09T02:30", "2022-01-09T06:00"],
]
BORDER_WINDOWS = Step(
    "attach", "border", "AccessWindows", "border", {"censor": "DropTrafficAtBorder", "params": {}, "open": WINDOWS}
)


class Country:
    """The clients of one size of the national topology, by what the scenarios ask."""

    def __init__(self, operators: int, subscribers: int) -> None:
        self.params = {"operators": operators, "subscribers": subscribers}
        self.model: TopologyModel = kz_national.build(operators, subscribers)

    def scenario(self, name: str, description: str, phases: tuple[Phase, ...], sources: str) -> Scenario:
        """A shutdown scenario on this country: every one fetches the same sites, captures
        the border's link abroad, observes from abroad and checks the model's prediction."""
        return Scenario(
            name=name,
            description=description,
            topology="kz_national",
            topology_params=self.params,
            targets=TARGETS,
            capture=(("border", "transit"),),
            observe=Observation(vantage="abroad", collector="transit"),
            predict=True,
            phases=phases,
            sources=sources,
        )

    def subscribers(self, access: str | None = None) -> list[str]:
        nodes = self.model.nodes("subscriber")
        return [n for n in nodes if access is None or self.model.graph.nodes[n]["access"] == access]

    def operators(self, access: str) -> list[str]:
        """The routers of the operators whose subscribers have ``access`` (home, mobile)."""
        return sorted({self.model.graph.nodes[n]["operator"] for n in self.subscribers(access)})

    # -- expectations --------------------------------------------------------------------
    def border_closed(self) -> dict[tuple[str, str], str]:
        """Nothing crosses the border: subscribers lose the world, abroad loses the country."""
        return cells(self.subscribers(), INTERNATIONAL, CONNECT_CUT) | cells(["abroad"], DOMESTIC, CONNECT_CUT)

    def withdrawn(self) -> dict[tuple[str, str], str]:
        """The country's routes withdrawn: subscribers' replies from the world find no way
        back (a timeout); abroad, the transit provider's router answers "no route"."""
        return cells(self.subscribers(), INTERNATIONAL, CONNECT_CUT) | cells(["abroad"], DOMESTIC, NO_ROUTE)

    @staticmethod
    def cut_off(clients: Iterable[str]) -> dict[tuple[str, str], str]:
        """Subscribers whose operator cut them off: not even their resolver answers."""
        return cells(clients, DOMESTIC + INTERNATIONAL, DNS_CUT)

    @staticmethod
    def slowed(clients: Iterable[str]) -> dict[tuple[str, str], str]:
        return cells(clients, DOMESTIC + INTERNATIONAL, "throttled")

    @staticmethod
    def allowlisted(clients: Iterable[str]) -> dict[tuple[str, str], str]:
        """Only the allow-list's sites load."""
        return cells(clients, [t for t in DOMESTIC + INTERNATIONAL if t not in ALLOWED], CONNECT_CUT)

    # -- steps ---------------------------------------------------------------------------
    def each(self, action: str, key: str, censor: str, routers: Iterable[str], **params: Any) -> tuple[Step, ...]:
        """The same step at several operators' routers (keys ``<key>_<router>``)."""
        return tuple(Step(action, f"{key}_{r}", censor, r if action == "attach" else "", params) for r in routers)
