"""tools/dpi/ipv4.py: packets read from raw bytes, as every packet path reads them, and the
segments and datagrams a censor injects, built as bytes (checked against scapy's reading)."""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, TCP, UDP

from tests.unit.samples import client_hello
from tools.dpi import ipv4

CLIENT, FB = "95.56.1.1", "157.240.241.35"


def test_tcp_udp_and_other_protocols_are_read() -> None:
    tcp = ipv4.parse(bytes(IP(src=CLIENT, dst=FB) / TCP(sport=40000, dport=443, flags="PA", seq=7) / b"hello"))
    assert tcp is not None and tcp.tcp and (tcp.key, tcp.seq, tcp.payload) == ((CLIENT, 40000, FB, 443), 7, b"hello")
    udp = ipv4.parse(bytes(IP(src=CLIENT, dst="8.8.8.8") / UDP(sport=5353, dport=53) / b"q"))
    assert udp is not None and udp.udp and (udp.dport, udp.payload) == (53, b"q")
    icmp = ipv4.parse(bytes(IP(src=CLIENT, dst=FB) / ICMP()))
    assert icmp is not None and (icmp.proto, icmp.sport, icmp.dport) == (1, 0, 0)


def test_fragments_and_lying_lengths_are_not_read() -> None:
    assert ipv4.parse(bytes(IP(dst=FB, flags="MF") / TCP() / (b"x" * 40))) is None
    whole = bytes(IP(dst=FB) / TCP() / (b"x" * 40))
    assert ipv4.parse(whole[:-5]) is None  # the total length says more than came
    assert ipv4.parse(whole[:-5], partial=True) is None  # and the copy is not a cut one (short of COPY_BYTES)


def test_a_copy_cut_short_by_the_queue_is_read_up_to_its_end_when_partial() -> None:
    """NFQUEUE copies at most COPY_BYTES: a DPI reads a big ClientHello's first bytes only."""
    segment = IP(src=CLIENT, dst=FB) / TCP(sport=40000, dport=443, flags="PA")
    padded = bytes(segment / (client_hello("facebook.com") + b"p" * 8000))  # 8 KB and more on the wire
    copy = padded[: ipv4.COPY_BYTES]
    assert ipv4.parse(copy) is None
    cut = ipv4.parse(copy, partial=True)
    assert cut is not None and cut.length == len(padded) and len(cut.payload) == ipv4.COPY_BYTES - 40


def test_built_segments_and_datagrams_are_what_scapy_reads() -> None:
    rst = IP(bytes(ipv4.tcp_segment(FB, 443, CLIENT, 40000, 5, 9, ipv4.RST | ipv4.ACK)))
    assert (rst.src, rst.dst, rst[TCP].flags, rst[TCP].seq, rst[TCP].ack) == (FB, CLIENT, "RA", 5, 9)
    page = IP(bytes(ipv4.tcp_segment(FB, 80, CLIENT, 40000, 1, 2, ipv4.PSH | ipv4.ACK, b"odd", window=8192)))
    answer = IP(bytes(ipv4.udp_datagram("8.8.8.8", 53, CLIENT, 5353, b"answer")))
    for built in (rst, page, answer):  # checksums as scapy computes them
        layer = built[TCP] if TCP in built else built[UDP]
        expected_ip, expected_l4 = built.chksum, layer.chksum
        del built.chksum, layer.chksum
        again = IP(bytes(built))
        assert (again.chksum, (again[TCP] if TCP in again else again[UDP]).chksum) == (expected_ip, expected_l4)
    assert bytes(page[TCP].payload) == b"odd" and bytes(answer[UDP].payload) == b"answer"
