"""WithdrawRoutes: the country's prefixes withdrawn from BGP toward its providers.

At a BGP router (the border), the export filter toward its providers stops announcing
``prefixes`` (and what they cover; every block when none are given): BIRD sends real
BGP withdrawals (tools/routing/bird.set_withdrawn), the providers lose their routes to
those blocks, and no reply from the world finds its way in: a client inside times out,
a client outside hears "network unreachable" from the provider's router (the lab's
routers answer every unroutable packet, topologies/build.py). Attaching waits until BIRD
has withdrawn them from every provider session (``show route exported``); detaching
announces them again and waits until they are all back. An address stays reachable
while a less specific block still announced covers it.

The shutdown RIPE did *not* see in January 2022: Kazakhstan's networks stayed visible in
BGP while traffic fell (kazakhstan.md section 4; DropTrafficAtBorder models what it saw).
Withdrawal is kept for comparison, as route collectors see it: Egypt's shutdown of
January 2011 is the classic case (general knowledge, not from kazakhstan.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import time
from typing import TYPE_CHECKING, Any, ClassVar

from tools.basics.params import SOME_PREFIXES
from tools.censors.base import Attachment, Field
from tools.censors.matching import AddressList
from tools.censors.shutdown import ShutdownCensor, sides
from tools.routing import bird

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.node import Node

    from topologies.model import TopologyModel

SETTLE_TIMEOUT = 15.0
COUNT = re.compile(r"^(\d+) of \d+ routes", re.MULTILINE)


def providers(model: TopologyModel, node: str) -> list[str]:
    """The BGP neighbours of ``node`` that sell it transit (its BGP protocols' names)."""
    if not model.speaks_bgp(node):
        return []
    return [peer for peer, relation in bird.relations(model, node).items() if relation == "provider"]


class WithdrawRoutes(ShutdownCensor):
    fields: ClassVar[dict[str, Field]] = {
        "prefixes": Field(SOME_PREFIXES, "the prefixes withdrawn (default: every block it announces)", None)
    }
    models = "for comparison: what RIPE did not see in 2022 (kazakhstan.md section 4); Egypt 2011 (general knowledge)"
    probe_sees = "sites abroad: tcp_ip generic_timeout_error at connect; the prefixes vanish from route collectors"
    circumvention = "none through the gateway; a path around it (satellite, a foreign mobile network)"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        given = self.params["prefixes"]
        self.prefixes = AddressList(given) if given is not None else None

    def withdraws(self, model: TopologyModel, address: ipaddress.IPv4Address) -> bool:
        """Whether no announced block covering ``address`` is left (the model's blocks)."""
        covering = [net for net, _ in model.destinations() if address in net]
        withdrawn = self.prefixes
        return bool(covering) and (withdrawn is None or all(any(n.subnet_of(p) for p in withdrawn) for n in covering))

    def effect(self, model: TopologyModel, node: str, client: str, address: str, now: dt.datetime | None) -> str | None:
        near, far = sides(model, node, client, address)
        theirs = set(providers(model, node))
        if far & theirs:  # the client is inside: the world has no route back to it
            return "blocked" if self.withdraws(model, model.primary_address(client)) else None
        if near & theirs:  # the client is outside: its provider has no route in, and says so
            return "unreachable" if self.withdraws(model, ipaddress.IPv4Address(address)) else None
        return None

    def attach(self, at: Attachment) -> None:
        self.protocols = providers(at.model, at.host.name)
        if not self.protocols:
            raise RuntimeError(f"censor {self.name} on {at.host.name}: not a BGP router with providers")
        self.host, self.rundir = at.host, at.rundir
        self.announced = {p: self._exported(at.host, p) for p in self.protocols}
        bird.set_withdrawn(at.host, at.rundir, list(self.prefixes or ()))
        try:
            self._settle(at.host, dict.fromkeys(self.protocols, 0))
        except RuntimeError:
            bird.set_withdrawn(at.host, at.rundir, None)
            raise

    def detach(self) -> None:
        if self.host is not None:
            bird.set_withdrawn(self.host, self.rundir, None)
            try:
                self._settle(self.host, self.announced)
            finally:
                self.host = None

    def _settle(self, host: Node, wanted: dict[str, int]) -> None:
        """Wait until BIRD has sent each provider what the new policy says: as many of the
        routes this censor withdraws exported to it (``show route exported``) as wanted."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        for protocol, count in wanted.items():
            while (exported := self._exported(host, protocol)) != count:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"censor {self.name} on {host.name}: BIRD exports {exported} of the routes to {protocol}, "
                        f"not {count}, {SETTLE_TIMEOUT:.0f} s after the change of policy"
                    )
                time.sleep(0.1)

    def _exported(self, host: Node, protocol: str) -> int:
        """How many of the routes this censor withdraws BIRD has exported to ``protocol``."""
        where = f"where net ~ [ {', '.join(f'{p}+' for p in self.prefixes)} ] " if self.prefixes else ""
        out = bird.birdc(host, self.rundir, f"'show route {where}exported {protocol} count'")
        match = COUNT.search(out)
        if match is None:
            raise RuntimeError(f"censor {self.name} on {host.name}: birdc show route: {out.strip()}")
        return int(match.group(1))
