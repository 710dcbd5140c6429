"""DropTrafficForTLSSNI: a DPI box that silently drops a flow after a listed SNI.

The ClientHello never arrives and neither does anything after it in that flow (the
kernel drops the rest by connection mark): the client's handshake times out. This is
how websites were blocked in Kazakhstan in 2023-24 per OONI: "the session times out
after the ClientHello", SNI-based, with consistent DNS (kazakhstan.md section 3); as
ooni/netem's DPIDropTrafficForTLSSNI.
"""

from __future__ import annotations

from typing import ClassVar

from tools.censors.base import Decision, Field
from tools.censors.matching import LIST_FIELDS, ListsNames
from tools.censors.queue import QueueCensor
from tools.censors.tls_sni import FIRST_DATA, selects_first_data, sni_decision
from tools.dpi.ipv4 import Packet


class DropTrafficForTLSSNI(ListsNames, QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | LIST_FIELDS
    models = "kazakhstan.md section 3 (OONI 2023-24: timeout after the ClientHello)"
    probe_sees = 'web_connectivity: blocking "http-failure", generic_timeout_error at tls_handshake'
    circumvention = "no or another SNI (domain fronting, ECH), a split ClientHello, a VPN/proxy"

    def selection(self) -> list[str]:
        return [FIRST_DATA]

    def selects(self, pkt: Packet) -> bool:
        return selects_first_data(pkt, 443)

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        return sni_decision(
            pkt, flows, self.listed, lambda sni: Decision("drop", flow="block", note=f"drop: SNI {sni}")
        )
