"""BlockTrafficForVPNProtocols: a DPI box that recognises VPN handshakes and drops the flow.

It reads the packets that open a VPN (tools/dpi/vpn.py) on any port, or only the listed
ones: for OpenVPN the first packet of a UDP flow and the first data segment of a TCP
connection (kernel selection: the flow's first original-direction packet, or the
client's third, SYN and ACK being the first two, when its length fits a client's hard
reset), for WireGuard every UDP packet of a handshake initiation's length (176 bytes
with its IP and UDP headers). A recognised opening is dropped and so is the rest of its
flow, by the kernel: the tunnel never comes up (the client retries and times out), and
a WireGuard tunnel that was up before the censor came dies at its next rekeying, two
minutes at most. Everything else is left alone; a UDP flow is never marked as passed, so
a later initiation on it is still read.

What gets around it: Shadowsocks, obfs4 (Tor's bridges) and other fully encrypted
protocols, which have no fixed bytes to match; a VPN inside TLS or another allowed
protocol; OpenVPN with tls-auth or tls-crypt against this strict recogniser (not against
a DPI reading opcodes and sizes); obfuscated forks (AmneziaWG). A VPS address blocked
outright (DropTrafficForServerEndpoint) beats them all.

Models an assumption, not a measurement: the reference on Kazakhstan (kazakhstan.md
sections 3 and 7) reports VPN use rising during the blocks but no measurement of a
Kazakh DPI recognising VPN protocols. Elsewhere protocol blocking of VPNs was reported:
Russia's DPI (TSPU) against OpenVPN and WireGuard from 2023, Iran's and China's filtering
of OpenVPN; and Xue et al. (USENIX Security 2022) fingerprinted OpenVPN flows from their
opcodes at an ISP.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import Kind, ports
from tools.censors.base import Decision, Field
from tools.censors.queue import QueueCensor
from tools.dpi.ipv4 import Packet
from tools.dpi.vpn import (
    OPENVPN_RESET_SIZE,
    OPENVPN_TCP_LENGTH,
    OPENVPN_TLV_ROOM,
    WG_INITIATION_SIZE,
    inspect_tcp,
    inspect_udp,
)

PROTOCOLS = ("openvpn", "wireguard")
IP, UDP, TCP, TCP_OPTIONS = 20, 8, 20, 40
FIRST_TCP_DATA = 3  # SYN, ACK, then the first data segment
# IP lengths of the packets each opening can be in
OPENVPN_UDP = (IP + UDP + OPENVPN_RESET_SIZE, IP + UDP + OPENVPN_RESET_SIZE + OPENVPN_TLV_ROOM)
OPENVPN_TCP = (
    IP + TCP + OPENVPN_TCP_LENGTH + OPENVPN_RESET_SIZE,
    IP + TCP + TCP_OPTIONS + OPENVPN_TCP_LENGTH + OPENVPN_RESET_SIZE + OPENVPN_TLV_ROOM,
)
WIREGUARD_UDP = IP + UDP + WG_INITIATION_SIZE
FLOWS_REMEMBERED = 65_536  # offline: flows whose first packets are counted, at once


def _protocols(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        raise ValueError("not a list")
    if any(p not in PROTOCOLS for p in value):
        raise ValueError("unknown protocol")
    return tuple(dict.fromkeys(value))


PROTOCOL_LIST = Kind(f"a list of one or more of {', '.join(repr(p) for p in PROTOCOLS)}", _protocols)


class BlockTrafficForVPNProtocols(QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "protocols": Field(PROTOCOL_LIST, "the VPN protocols whose openings it recognises", PROTOCOLS),
        "ports": Field(ports(15, least=0), "only flows to these destination ports (default: every port)", ()),
    }
    models = (
        "assumption: no measurement of VPN-protocol DPI in Kazakhstan (kazakhstan.md sections 3, 7); "
        "as reported of Russia's TSPU (2023-), Iran and China"
    )
    probe_sees = (
        "the VPN does not come up (tunnel-failure); without it, the site's own blocking; "
        "web_connectivity through a tunnel that was up: tcp_ip/http-failure generic_timeout_error once it rekeys"
    )
    circumvention = (
        "Shadowsocks, obfs4 and other fully encrypted protocols; a VPN inside TLS; "
        "OpenVPN with tls-crypt against this strict recogniser; obfuscated forks (AmneziaWG)"
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.protocols, self.ports = self.params["protocols"], self.params["ports"]
        self._sent: dict[tuple, int] = {}  # offline: packets each flow's sender sent (the kernel's connbytes)

    def selection(self) -> list[str]:
        dports = f" -m multiport --dports {','.join(map(str, self.ports))}" if self.ports else ""
        first = "-m connbytes --connbytes {0}:{0} --connbytes-dir original --connbytes-mode packets"
        out = []
        if "openvpn" in self.protocols:
            out.append(f"-p udp{dports} {first.format(1)} -m length --length {OPENVPN_UDP[0]}:{OPENVPN_UDP[1]}")
            out.append(
                f"-p tcp{dports} {first.format(FIRST_TCP_DATA)} -m length --length {OPENVPN_TCP[0]}:{OPENVPN_TCP[1]}"
            )
        if "wireguard" in self.protocols:
            out.append(f"-p udp{dports} -m length --length {WIREGUARD_UDP}")
        return out

    def selects(self, pkt: Packet) -> bool:
        """The offline twin of the kernel selection."""
        if not (pkt.udp or pkt.tcp) or (self.ports and pkt.dport not in self.ports):
            return False
        first = pkt.reverse_key not in self._sent and pkt.key not in self._sent
        sent = self._count(pkt.key)
        if pkt.udp:
            opening = "openvpn" in self.protocols and first and OPENVPN_UDP[0] <= pkt.length <= OPENVPN_UDP[1]
            return opening or ("wireguard" in self.protocols and pkt.length == WIREGUARD_UDP)
        return "openvpn" in self.protocols and sent == FIRST_TCP_DATA and OPENVPN_TCP[0] <= pkt.length <= OPENVPN_TCP[1]

    def _count(self, key: tuple) -> int:
        """One more packet of ``key``'s flow; the oldest flow forgotten past FLOWS_REMEMBERED."""
        self._sent[key] = self._sent.pop(key, 0) + 1
        if len(self._sent) > FLOWS_REMEMBERED:
            del self._sent[next(iter(self._sent))]
        return self._sent[key]

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        seen = inspect_udp(pkt.payload) if pkt.udp else inspect_tcp(pkt.payload)
        if seen.protocol is None or seen.protocol not in self.protocols:
            if pkt.udp:
                return Decision()  # a UDP flow stays open to reading: its next initiation is read too
            flow, decision = "pass", Decision(flow="pass")
        else:
            flow, decision = "block", Decision("drop", flow="block", note=f"drop: {seen.reason}")
        flows[pkt.key] = flows[pkt.reverse_key] = flow  # both ways, as the connection's mark
        return decision
