"""BlockTrafficForMTProto: a DPI box that recognises Telegram's obfuscated2 transport.

It reads the first data segment of every TCP flow to the listed ports (default 443 and
80; kernel selection: the client's third packet of the connection, SYN and ACK being
the first two, if it carries at least 64 bytes of data) and blocks the flow if the
segment has the properties of an obfuscated2 init (tools/dpi/mtproto.py): 64 bytes or
more, not TLS, not HTTP, and either a protocol tag that decrypts with the key the init
carries (in an init a client could have drawn: a direct connection to a data centre,
certain) or, unless ``require_tag`` is set, bytes that merely look random (a guess,
whatever their first bytes).
``action: drop`` (the default) drops the segment and the rest of the flow, so the
client's handshake times out; ``action: reset`` also injects a RST to the client.

What it cannot do: the init is random by design, so without ``require_tag`` any
high-entropy first packet on those ports is blocked too (other fully encrypted
protocols: Shadowsocks, obfs4, a VPN's own handshake); with it, MTProxy connections
(whose tag is keyed with the proxy's secret) pass. A fake-TLS MTProxy (``ee`` secrets)
and Telegram's web clients (MTProto over WebSocket over TLS) look like TLS and pass; an
init sent in pieces shorter than 64 bytes, or after an empty first segment, is never
read. Fresh server addresses, Telegram's answer to address blocking, do not help.

Models a candidate, not a measurement: Telegram was "restricted" in Kazakhstan in 2018,
on 2019-05-09 and in January 2022 by a mechanism that is unconfirmed (kazakhstan.md
section 3), and the reference reports no measurement of a Kazakh DPI recognising MTProto.
The censor shows what such a DPI would do, and what the lab's ``telegram_mtproto_blocking`` key
reports against it, beside the address blocking of Telegram's data centres.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import BOOLEAN, choice, ports
from tools.censors.base import Decision, Field
from tools.censors.queue import QueueCensor
from tools.censors.reset_traffic_for_tls_sni import resets
from tools.dpi.ipv4 import Packet
from tools.dpi.mtproto import inspect
from tools.dpi.mtproto_codec import INIT_SIZE

DEFAULT_PORTS = (443, 80)
ACTIONS = ("drop", "reset")
FIRST_DATA_PACKET = 3  # SYN, ACK, then the first data segment
MIN_LENGTH = 20 + 20 + INIT_SIZE  # IP and TCP headers without options, and an init


class BlockTrafficForMTProto(QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "ports": Field(ports(15), "the destination ports whose flows it reads", DEFAULT_PORTS),
        "action": Field(choice(*ACTIONS), "drop the flow, or also reset the client", "drop"),
        "require_tag": Field(BOOLEAN, "block only inits whose tag decrypts, not any random-looking one", False),
    }
    models = (
        "kazakhstan.md section 3 (Telegram restricted 2018, 2019-05-09, 2022-01; mechanism unconfirmed: "
        "protocol DPI is a candidate, not a measured one)"
    )
    probe_sees = (
        "telegram: telegram_mtproto_blocking alone (TCP and HTTP to the data centres and web.telegram.org fine), "
        "generic_timeout_error (reset: connection_reset) at mtproto_handshake"
    )
    circumvention = (
        "a fake-TLS MTProxy (ee secrets), MTProto over WebSocket/TLS (web clients), an init split below 64 bytes, "
        "a VPN; not fresh addresses"
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.ports, self.action, self.require_tag = (self.params[k] for k in ("ports", "action", "require_tag"))
        self._sent: dict[tuple, int] = {}  # offline: packets each flow's client sent (the kernel's connbytes)

    def selection(self) -> list[str]:
        ports = ",".join(str(p) for p in self.ports)
        return [
            f"-p tcp -m multiport --dports {ports} -m connbytes --connbytes {FIRST_DATA_PACKET}:{FIRST_DATA_PACKET} "
            f"--connbytes-dir original --connbytes-mode packets -m length --length {MIN_LENGTH}:65535"
        ]

    def selects(self, pkt: Packet) -> bool:
        """The offline twin of the kernel selection: the client's third packet, if it is long enough."""
        if not pkt.tcp or pkt.dport not in self.ports:
            return False
        self._sent[pkt.key] = self._sent.get(pkt.key, 0) + 1
        return self._sent[pkt.key] == FIRST_DATA_PACKET and pkt.length >= MIN_LENGTH

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        seen = inspect(pkt.payload)
        if not seen.matched or (self.require_tag and seen.tag is None):
            flows[pkt.key] = "pass"
            return Decision(flow="pass")
        flows[pkt.key] = "block"
        injected = resets(pkt, both=False) if self.action == "reset" else []
        return Decision("drop", injected, flow="block", note=f"{self.action}: {seen.reason}")
