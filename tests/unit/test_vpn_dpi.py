"""The VPN-opening recogniser (tools/dpi/vpn.py) and BlockTrafficForVPNProtocols, on real
handshakes captured in the lab.

tests/unit/data/vpn_openings.pcap is home1's link during one run with each method of
tools/circumvent switched on in turn and https://facebook.com/ fetched through it (the
first six packets of each flow to the VPS, 5.9.10.30): WireGuard to UDP 51820, OpenVPN
to UDP 1194 and to TCP 443, and Shadowsocks (TCP and UDP 8388). Made with
``tcpdump -i home1-eth0 -s 0 host 5.9.10.30``, no key of that run is in it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.samples import client_hello
from tools.censors.block_traffic_for_vpn_protocols import BlockTrafficForVPNProtocols
from tools.censors.offline import grade
from tools.dpi import ipv4
from tools.dpi.pcap import Capture, Frame
from tools.dpi.vpn import inspect_tcp, inspect_udp

CAPTURE = Path(__file__).parent / "data" / "vpn_openings.pcap"
CLIENT, VPS = "95.56.1.1", "5.9.10.30"


def frames() -> list[Frame]:
    with Capture(CAPTURE) as capture:
        return list(capture.frames())


def packets() -> list[ipv4.Packet]:
    parsed = [ipv4.parse(frame.ip) for frame in frames() if frame.ip is not None]
    return [p for p in parsed if p is not None]


def payloads(port: int, sender: str, proto: int) -> list[bytes]:
    """The non-empty payloads ``sender`` sent on the flows to or from the VPS's ``port``."""
    return [
        p.payload
        for p in packets()
        if p.proto == proto and p.src == sender and port in (p.sport, p.dport) and p.payload
    ]


def test_the_capture_holds_each_tool() -> None:
    ports = {(p.proto, p.dport) for p in packets() if p.src == CLIENT}
    assert ports == {(17, 51820), (17, 1194), (6, 443), (6, 8388), (17, 8388)}


def test_each_opening_is_recognised_and_nothing_else() -> None:
    found = []
    for p in packets():
        if not p.payload:
            continue
        seen = inspect_udp(p.payload) if p.udp else inspect_tcp(p.payload)
        if seen.protocol is not None:
            found.append((p.src, p.dport, seen.protocol, len(p.payload)))
    assert found == [
        (CLIENT, 51820, "wireguard", 148),  # handshake initiation
        (CLIENT, 1194, "openvpn", 14),  # P_CONTROL_HARD_RESET_CLIENT_V2
        (CLIENT, 443, "openvpn", 16),  # the same, length-prefixed, on TCP
    ]


def test_the_servers_answers_and_the_data_are_not_openings() -> None:
    """WireGuard's response (type 2) and transport data (type 4), OpenVPN's server reset
    (opcode 8) and control packets carrying TLS, in either transport."""
    server_wg = payloads(51820, VPS, 17)
    assert server_wg[0][0] == 2 and len(server_wg[0]) == 92
    assert {p[0] for p in payloads(51820, CLIENT, 17)[1:]} == {4}
    assert payloads(1194, VPS, 17)[0][0] >> 3 == 8
    assert payloads(443, VPS, 6)[0][2] >> 3 == 8
    for p in server_wg + payloads(1194, VPS, 17) + payloads(1194, CLIENT, 17)[1:]:
        assert inspect_udp(p).protocol is None
    for p in payloads(443, VPS, 6) + payloads(443, CLIENT, 6)[1:]:
        assert inspect_tcp(p).protocol is None


def test_shadowsocks_has_nothing_to_recognise() -> None:
    tcp, udp = payloads(8388, CLIENT, 6), payloads(8388, CLIENT, 17)
    assert tcp and udp
    assert all(inspect_tcp(p).protocol is None for p in tcp)
    assert all(inspect_udp(p).protocol is None for p in udp)


def test_tls_is_not_an_opening() -> None:
    hello = client_hello("facebook.com")
    assert inspect_tcp(hello).protocol is None and inspect_udp(hello).protocol is None


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda b: b[:147], "one byte short"),
        (lambda b: b + b"\0", "one byte long"),
        (lambda b: b"\x01\x00\x01\x00" + b[4:], "a reserved byte set"),
        (lambda b: b"\x03" + b[1:], "another message type (cookie reply)"),
    ],
)
def test_a_changed_wireguard_initiation_is_not_one(change, why: str) -> None:
    initiation = payloads(51820, CLIENT, 17)[0]
    assert inspect_udp(initiation).protocol == "wireguard"
    assert inspect_udp(change(initiation)).protocol is None, why


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda b: bytes([0x39]) + b[1:], "key id 1"),
        (lambda b: bytes([0x50]) + b[1:], "opcode 10 (tls-crypt-v2)"),
        (lambda b: b[:1] + b"\0" * 8 + b[9:], "a zero session id"),
        (lambda b: b[:9] + b"\x01" + b[10:], "an ACK array (or tls-auth's HMAC) after the session id"),
        (lambda b: b[:13], "cut short"),
    ],
)
def test_a_changed_openvpn_reset_is_not_one(change, why: str) -> None:
    reset = payloads(1194, CLIENT, 17)[0]
    assert inspect_udp(reset).protocol == "openvpn"
    assert inspect_udp(change(reset)).protocol is None, why
    prefixed = len(change(reset)).to_bytes(2, "big") + change(reset)
    assert inspect_tcp(prefixed).protocol is None, why


def test_over_tcp_the_length_prefix_must_be_the_packets() -> None:
    segment = payloads(443, CLIENT, 6)[0]
    assert inspect_tcp(segment).protocol == "openvpn"
    assert inspect_tcp(segment[2:]).protocol is None  # no prefix
    assert inspect_tcp(b"\x00\x0f" + segment[2:]).protocol is None  # a length the segment does not hold
    assert inspect_udp(segment).protocol is None  # a TCP framing in a datagram


def verdicts(**params: object) -> list[tuple[str, int, str, str]]:
    """(sender, destination port, verdict, note) of every packet the censor decided or dropped."""
    captured = frames()
    out = []
    for v in grade(BlockTrafficForVPNProtocols(**params), captured):
        frame = captured[v["packet"] - 1]
        assert frame.ip is not None
        pkt = ipv4.parse(frame.ip)
        assert pkt is not None
        out.append((pkt.src, pkt.dport, v["verdict"], v["note"]))
    return out


def test_the_censor_drops_the_vpn_flows_and_passes_shadowsocks() -> None:
    graded = verdicts()
    dropped = {(src, port) for src, port, verdict, _ in graded if verdict == "drop"}
    # each VPN flow from its opening on, both ways (the kernel's connection mark)
    assert dropped == {(CLIENT, 51820), (VPS, 43447), (CLIENT, 1194), (VPS, 46473), (CLIENT, 443), (VPS, 40942)}
    openings = [note for _, _, verdict, note in graded if note.startswith("drop: ")]
    assert openings == [
        "drop: WireGuard handshake initiation (type 1, 148 bytes)",
        "drop: OpenVPN P_CONTROL_HARD_RESET_CLIENT_V2 over UDP",
        "drop: OpenVPN P_CONTROL_HARD_RESET_CLIENT_V2 over TCP (length-prefixed)",
    ]
    assert not any(port == 8388 and verdict == "drop" for _, port, verdict, _ in graded)


def test_the_censor_reads_only_the_protocols_and_ports_it_is_given() -> None:
    only_wg = {port for _, port, verdict, note in verdicts(protocols=["wireguard"]) if note.startswith("drop: ")}
    assert only_wg == {51820}
    tcp_443 = {port for _, port, verdict, note in verdicts(ports=[443]) if note.startswith("drop: ")}
    assert tcp_443 == {443}


def test_the_kernel_selection_names_each_opening() -> None:
    rules = BlockTrafficForVPNProtocols(ports=[443, 1194]).selection()
    assert rules == [
        "-p udp -m multiport --dports 443,1194 -m connbytes --connbytes 1:1 --connbytes-dir original "
        "--connbytes-mode packets -m length --length 42:106",
        "-p tcp -m multiport --dports 443,1194 -m connbytes --connbytes 3:3 --connbytes-dir original "
        "--connbytes-mode packets -m length --length 56:160",
        "-p udp -m multiport --dports 443,1194 -m length --length 176",
    ]
