"""ThrottleAccessNetwork: an operator's subscribers slowed, not cut.

ThrottleTrafficForTLSSNI with every name on the list, for the operator's access network
only: each port-443 flow from or to an address in ``access`` has its ClientHello held
(``delay_s`` plus up to ``jitter_s``) and its server's packets shaped, whatever its SNI
(or none). ``access`` defaults to the prefixes of the node's access segments (those it
is the gateway of that hold subscribers: what ShutdownAccessNetwork cuts), taken from
the model when attached. Flows that only cross the operator's router (to the servers in
its data centre, between other operators and abroad) go on unslowed, as do plain HTTP
and DNS. ``rate`` is what each subscriber behind the node gets (default 256kbit): the
shaping class holds that times the subscribers, so an operator's capacity shrinks in
proportion, whatever the lab's size. The hold defaults to 2.5 s plus up to 0.2 s.

Models 2022-01-04, when Tele2's and Kcell's traffic fell but not to zero: throttling
(kazakhstan.md section 4), of the operators' subscribers (mobile traffic), not of what
the operators host. How it was done is not published; the lab's hold-and-shape,
measured in 2022 on single sites (section 3), is an assumption here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from tools.basics.params import PREFIXES
from tools.censors.base import Attachment, Field
from tools.censors.matching import AddressList
from tools.censors.queue import QueueCensor
from tools.censors.shutdown import ShutdownCensor, access_segments, sides
from tools.censors.throttle_traffic_for_tls_sni import HOLD_FIELDS, ThrottleTrafficForTLSSNI, tc_bits
from tools.censors.tls_sni import FIRST_DATA, selects_first_data
from tools.dpi.ipv4 import Packet

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from topologies.model import TopologyModel


class ThrottleAccessNetwork(ThrottleTrafficForTLSSNI, ShutdownCensor):
    # A shorter hold than the single-site throttle's: handshakes still read as throttled
    # (over 2 s), with room under the probe's 5 s TLS limit when hundreds are held at once.
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "delay_s": dataclasses.replace(HOLD_FIELDS["delay_s"], default=2.5),
        "jitter_s": dataclasses.replace(HOLD_FIELDS["jitter_s"], default=0.2),
        "rate": dataclasses.replace(HOLD_FIELDS["rate"], doc="the shaped rate per subscriber"),
        "access": Field(PREFIXES, "the subscribers' prefixes (default: the node's access segments)", ()),
    }
    models = "kazakhstan.md section 4 (2022-01-04: Tele2/Kcell fall but not to zero; mechanism assumed)"
    probe_sees = "the operator's subscribers: every site accessible, TLS handshake over 2 s (lab outcome throttled)"
    circumvention = "another operator's network; traffic not on port 443 (a VPN on another port)"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.per_subscriber = self.rate
        self.access = AddressList(self.params["access"])

    def throttles(self, sni: str | None) -> bool:
        return True

    def selection(self) -> list[str]:
        return [f"{side} {net} {FIRST_DATA}" for net in self.access for side in ("-s", "-d")]

    def selects(self, pkt: Packet) -> bool:
        return selects_first_data(pkt, 443) and (self.access.covers(pkt.src) or self.access.covers(pkt.dst))

    def prefixes(self, model: TopologyModel, node: str) -> list[str]:
        """``access`` as given, else the subnets of ``node``'s access segments in the model."""
        given = [str(n) for n in self.access]
        return given or [str(model.graph.nodes[s]["subnet"]) for s in access_segments(model, node)]

    def attach(self, at: Attachment) -> None:
        model, node = at.model, at.host.name
        prefixes = self.prefixes(model, node)
        if not prefixes:
            raise RuntimeError(f"censor {self.name} on {node}: {node} has no segment of subscribers to throttle")
        self.params["access"], self.access = tuple(prefixes), AddressList(prefixes)  # the node's engine selects by them
        count = sum(model.role(h) == "subscriber" for s in access_segments(model, node) for h in model.graph[s])
        self.rate = f"{tc_bits(self.per_subscriber) * max(count, 1)}bit"
        super().attach(at)

    def effect(self, model: TopologyModel, node: str, client: str, address: str, now: dt.datetime | None) -> str | None:
        if not any(sides(model, node, client, address)):
            return None
        access = AddressList(self.prefixes(model, node))
        return "throttled" if access.covers(model.primary_address(client)) or access.covers(address) else None
