"""ThrottleAccessNetwork: every TLS flow through an operator's router slowed, not cut.

ThrottleTrafficForTLSSNI with every name on the list: each port-443 flow crossing the
node has its ClientHello held (``delay_s`` plus up to ``jitter_s``) and its server's
packets shaped, whatever its SNI (or none). Plain HTTP and DNS go on. ``rate`` is what
each subscriber behind the node gets (default 256kbit): the shaping class holds that
times the subscribers, so an operator's capacity shrinks in proportion, whatever the
lab's size. The hold defaults to 2.5 s plus up to 0.2 s.

Models 2022-01-04, when Tele2's and Kcell's traffic fell but not to zero: throttling
(kazakhstan.md section 4). How it was done is not published; the lab's hold-and-shape,
measured in 2022 on single sites (section 3), is an assumption here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, ClassVar

from tools.censors.base import Attachment, Field
from tools.censors.queue import QueueCensor
from tools.censors.shutdown import ShutdownCensor, access_segments, sides
from tools.censors.throttle_traffic_for_tls_sni import HOLD_FIELDS, ThrottleTrafficForTLSSNI, tc_bits
from topologies.model import TopologyModel


class ThrottleAccessNetwork(ThrottleTrafficForTLSSNI, ShutdownCensor):
    # A shorter hold than the single-site throttle's: handshakes still read as throttled
    # (over 2 s), with room under the probe's 5 s TLS limit when hundreds are held at once.
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "delay_s": dataclasses.replace(HOLD_FIELDS["delay_s"], default=2.5),
        "jitter_s": dataclasses.replace(HOLD_FIELDS["jitter_s"], default=0.2),
        "rate": dataclasses.replace(HOLD_FIELDS["rate"], doc="the shaped rate per subscriber"),
    }
    models = "kazakhstan.md section 4 (2022-01-04: Tele2/Kcell fall but not to zero; mechanism assumed)"
    probe_sees = "the operator's subscribers: every site accessible, TLS handshake over 2 s (lab outcome throttled)"
    circumvention = "another operator's network; traffic not on port 443 (a VPN on another port)"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.per_subscriber = self.rate

    def throttles(self, sni: str | None) -> bool:
        return True

    def attach(self, at: Attachment) -> None:
        model = at.model
        count = sum(model.role(h) == "subscriber" for s in access_segments(model, at.host.name) for h in model.graph[s])
        self.rate = f"{tc_bits(self.per_subscriber) * max(count, 1)}bit"
        super().attach(at)

    def effect(self, model: TopologyModel, node: str, client: str, address: str, now: dt.datetime | None) -> str | None:
        return "throttled" if any(sides(model, node, client, address)) else None
