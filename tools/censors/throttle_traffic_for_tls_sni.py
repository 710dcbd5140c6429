"""ThrottleTrafficForTLSSNI: a DPI box that slows the flows of listed SNIs.

On the first data segment of a port-443 flow (kernel selection: one packet per flow),
if the ClientHello's SNI is on the list (names and, by default, their subdomains) the
ClientHello is held for ``delay_s`` plus a random part of up to ``jitter_s`` seconds
(retransmissions of a held ClientHello are dropped) and then let go with the flow
marked "throttled": the kernel passes the rest of the flow, but the server's packets
of it (conntrack direction REPLY) are put by iptables CLASSIFY (mangle FORWARD) into a
tc htb class of ``rate`` on the node's interfaces, so the handshake is late and
everything after it slow. Other flows are released at once with no mark and leave by
htb's direct queue, unshaped.

Models the throttling of RFE/RL's sites (azattyq.org) by SNI from 2022-09-27 to 2023-04,
measured by OONI as TLS handshakes over 2 s with medians over 4 s, and currenttime.tv on
AS9198 2022-11-20..29; the lab also assumes it for the 2018 evening slowdowns of social
media, whose mechanism is unconfirmed (kazakhstan.md section 3). How the real box made
handshakes slow is not published; the lab's hold reproduces the measured handshake
times and the htb class the slow transfer. The defaults (a hold of 3.9 s plus up to
0.3 s, 256kbit) give lab handshakes of 3.9-4.7 s, median about 4.1 s, under the lab
probe's 5 s TLS timeout even with a dozen throttled handshakes at once. The class is one
per interface, shared by every throttled flow leaving by it; one throttle per node.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any, ClassVar

from tools.basics.params import RATE, number
from tools.censors.base import Attachment, Decision, Field
from tools.censors.matching import LIST_FIELDS, ListsNames
from tools.censors.queue import QueueCensor, marks
from tools.censors.tls_sni import FIRST_DATA, first_segment_sni, selects_first_data
from tools.dpi.ipv4 import Packet

UNITS = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000, "bps": 8, "kbps": 8_000, "mbps": 8_000_000}
HOLDING_PRUNE_AT = 4096  # held flows remembered before the ones let go are forgotten
HOLD_FIELDS = {
    "delay_s": Field(number(0, 60, "seconds"), "how long a listed flow's ClientHello is held", 3.9),
    "jitter_s": Field(number(0, 60, "seconds"), "up to this much longer, at random", 0.3),
    "rate": Field(RATE, "the shaped rate of the throttled flows' replies, per interface", "256kbit"),
}


def tc_bits(rate: str) -> int:
    """A tc rate (params.RATE) in bits per second."""
    amount, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", rate).groups()  # type: ignore[union-attr]
    return int(float(amount) * UNITS[unit])


class ThrottleTrafficForTLSSNI(ListsNames, QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | LIST_FIELDS | HOLD_FIELDS
    models = "kazakhstan.md section 3 (OONI: azattyq.org throttled by SNI 2022-09-27..2023-04; 2018 evenings, assumed)"
    probe_sees = "web_connectivity: accessible, TLS handshake over 2 s (lab outcome throttled)"
    circumvention = "no or another SNI (domain fronting, ECH), a split ClientHello, a VPN/proxy"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.delay_s, self.jitter_s, self.rate = (self.params[k] for k in ("delay_s", "jitter_s", "rate"))
        self.holding: dict[tuple, float] = {}  # flow -> when its held ClientHello is let go (live)
        self.prune_at = HOLDING_PRUNE_AT

    # -- the decision, live and offline -------------------------------------------------

    def selection(self) -> list[str]:
        return [FIRST_DATA]

    def selects(self, pkt: Packet) -> bool:
        return selects_first_data(pkt, 443)

    def throttles(self, sni: str | None) -> bool:
        """Whether the flow whose ClientHello names ``sni`` is slowed: a listed name."""
        return self.listed.covers(sni)

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        key, now = pkt.key, time.monotonic()
        if self.holding.get(key, 0.0) > now:
            return Decision("drop")  # a retransmission: the held ClientHello goes on later
        self.holding.pop(key, None)
        if len(self.holding) > self.prune_at:
            # Forget flows let go long ago. The bound follows the flows still held, so that
            # many held at once (a flood of listed names) cost one pass, not one per packet.
            self.holding = {k: t for k, t in self.holding.items() if t > now}
            self.prune_at = max(HOLDING_PRUNE_AT, 2 * len(self.holding))
        _, sni = first_segment_sni(pkt)
        if not self.throttles(sni):
            flows[key] = "pass"
            return Decision(flow="pass")
        delay = self.delay_s + random.uniform(0.0, self.jitter_s)
        flows[key] = "throttle"
        self.holding[key] = now + delay
        return Decision(flow="throttle", delay=delay, note=f"throttle: SNI {sni}, +{delay:.2f}s")

    # -- the kernel's part --------------------------------------------------------------

    def flow_mark(self, flow: str, index: int) -> int:
        done, shaped = marks(index)  # this censor blocks nothing: its second bit means "throttled"
        return done | shaped if flow == "throttle" else done

    def rules(self, index: int) -> list[list[str]]:
        return [r for r in super().rules(index) if r[-1] != "DROP"]  # no blocked flows to drop

    def attach(self, at: Attachment) -> None:
        self.host, self.index = at.host, at.index
        self.handle, self.mangle = f"{0x7A00 + at.index % 256:x}", f"KZT{at.index}"
        self.interfaces = [i for i in at.host.intfNames() if i != "lo"]
        _, shaped = marks(at.index)
        commands = []
        for intf in self.interfaces:
            commands += [
                f"tc qdisc add dev {intf} root handle {self.handle}: htb default 0 direct_qlen 1000",
                f"tc class add dev {intf} parent {self.handle}: classid {self.handle}:1 htb "
                f"rate {self.rate} ceil {self.rate}",
            ]
        commands += [
            f"iptables -w -t mangle -N {self.mangle}",
            f"iptables -w -t mangle -A {self.mangle} -m connmark --mark {shaped:#x}/{shaped:#x} "
            f"-m conntrack --ctdir REPLY -j CLASSIFY --set-class {self.handle}:1",
            f"iptables -w -t mangle -I FORWARD -j {self.mangle}",
        ]
        try:
            for command in commands:
                out = at.host.cmd(f"{command} 2>&1; echo rc=$?").strip()
                if not out.endswith("rc=0"):
                    raise RuntimeError(f"censor {self.name} on {at.host.name}: {command}: {out}")
            super().attach(at)
        except BaseException:
            self._remove()
            raise

    def detach(self) -> None:
        super().detach()
        self._remove()

    def _remove(self) -> None:
        """Remove the mangle chain and this censor's qdiscs (only its own)."""
        if self.host is None:
            return
        for intf in self.interfaces:
            if f"qdisc htb {self.handle}: root" in self.host.cmd(f"tc qdisc show dev {intf} root"):
                self.host.cmd(f"tc qdisc del dev {intf} root")
        self.host.cmd(
            f"iptables -w -t mangle -D FORWARD -j {self.mangle}; "
            f"iptables -w -t mangle -F {self.mangle}; iptables -w -t mangle -X {self.mangle}"
        )
        self.host = None
