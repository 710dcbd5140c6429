"""ResetTrafficForTLSSNI: a DPI box that answers a listed SNI with TCP resets.

On the first data segment of a port-443 flow (kernel selection: one packet per flow),
if the ClientHello's SNI is on the list (names and, by default, their subdomains) it
drops the ClientHello, injects a RST to the client (and with ``direction: both`` to the
server), and the kernel drops the rest of the flow. With ``tap: true`` it is an on-path
tap, as the Great Firewall is: it cannot drop, lets the ClientHello through and only races
the server with its RSTs (which the client takes first, being nearer). Models the SNI-based blocking the
lab offers for Facebook and Telegram in 2018-2022, whose exact mechanism is unconfirmed
(kazakhstan.md section 3); as ooni/netem's DPIResetTrafficForTLSSNI.
"""

from __future__ import annotations

from typing import ClassVar

from tools.basics.params import BOOLEAN, choice
from tools.censors.base import Decision, Field
from tools.censors.matching import LIST_FIELDS, ListsNames
from tools.censors.queue import QueueCensor
from tools.censors.tls_sni import FIRST_DATA, selects_first_data, sni_decision
from tools.dpi.ipv4 import ACK, RST, Built, Packet, tcp_segment


def resets(pkt: Packet, both: bool) -> list[Built]:
    """RSTs that look as if each end sent them: to the client from the server's address."""
    out = [tcp_segment(pkt.dst, pkt.dport, pkt.src, pkt.sport, pkt.ack, pkt.seq + len(pkt.payload), RST | ACK)]
    if both:
        out.append(tcp_segment(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.seq, 0, RST))
    return out


class ResetTrafficForTLSSNI(ListsNames, QueueCensor):
    fields: ClassVar[dict[str, Field]] = (
        QueueCensor.fields
        | LIST_FIELDS
        | {
            "direction": Field(choice("client", "both"), "reset the client only, or the server too", "client"),
            "tap": Field(BOOLEAN, "an on-path tap: cannot drop, only races the server with RSTs", False),
        }
    )
    models = "kazakhstan.md section 3 (SNI-based blocking; reset variant, mechanism unconfirmed)"
    probe_sees = 'web_connectivity: blocking "http-failure", connection_reset at tls_handshake'
    circumvention = (
        "no or another SNI (domain fronting, ECH), a ClientHello split over TCP segments, "
        "a VPN/proxy, ignoring RSTs that arrive too early"
    )

    def selection(self) -> list[str]:
        return [FIRST_DATA]

    def selects(self, pkt: Packet) -> bool:
        return selects_first_data(pkt, 443)

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        return sni_decision(pkt, flows, self.listed, lambda sni: self._reset(pkt, sni))

    def _reset(self, pkt: Packet, sni: str) -> Decision:
        rsts = resets(pkt, self.params["direction"] == "both")
        if self.params["tap"]:  # on-path tap: it sees a copy, cannot drop, only races with RSTs
            return Decision("accept", rsts, flow="pass", note=f"reset (tap): SNI {sni}")
        return Decision("drop", rsts, flow="block", note=f"reset: SNI {sni}")
