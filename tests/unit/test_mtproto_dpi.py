"""The MTProto DPI (tools/dpi/mtproto.py) and its censor (BlockTrafficForMTProto), offline.

Real first packets: what the lab's Telegram client sends (tools.probes.mtproto, drawn as
tdlib draws them) in all three framings, an MTProxy client's init keyed with a secret,
the ClientHello Python's OpenSSL sends, the telegram test's HTTP POST; and what must not
match: short packets, the starts a client never draws, text.
"""

from __future__ import annotations

import hashlib
import os
import random

import pytest
from scapy.layers.inet import IP, TCP

from tests.unit.samples import client_hello
from tools.censors.base import CensorError
from tools.censors.block_traffic_for_mtproto import BlockTrafficForMTProto
from tools.censors.offline import grade
from tools.censors.registry import CENSORS
from tools.dpi import ipv4, mtproto_codec
from tools.dpi.mtproto import MIN_ENTROPY, entropy, inspect
from tools.probes import mtproto

SAMPLES = 300  # per framing: the init is random, so check many
CLIENT, DC2, VK = "95.56.1.1", "149.154.167.51", "87.240.132.72"
POST = b"POST / HTTP/1.1\r\nHost: 149.154.167.51\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def proxy_init(secret: bytes) -> bytes:
    """An MTProxy client's opening: the key is SHA-256 of bytes 8..40 and the secret."""
    init = mtproto_codec.random_init(mtproto_codec.MODES["intermediate"])
    key = hashlib.sha256(init[8:40] + secret).digest()
    outbound = mtproto_codec._ctr(key, init[40:56])
    return init[:56] + outbound.update(init)[56:]


# -- the DPI reading -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(mtproto_codec.MODES))
def test_every_first_packet_of_every_framing_is_recognised_by_its_tag(mode: str) -> None:
    for _ in range(SAMPLES):
        seen = inspect(mtproto.first_packet(mode))
        assert seen.matched and seen.tag == mode, seen


def test_an_init_alone_is_enough() -> None:
    init = mtproto.first_packet("abridged")[: mtproto_codec.INIT_SIZE]
    assert inspect(init).tag == "abridged"
    assert not inspect(init[:-1]).matched


def test_proxy_init_matches_only_as_a_guess() -> None:
    """Keyed with a proxy's secret, the tag cannot be read; the key-free checks still hold."""
    for _ in range(SAMPLES):
        seen = inspect(proxy_init(os.urandom(16)) + os.urandom(40))
        assert seen.matched and seen.tag is None, seen


def test_any_random_first_packet_matches_as_a_guess() -> None:
    """The false positive the design cannot avoid: a fully encrypted protocol's first packet."""
    matched = [inspect(os.urandom(200)) for _ in range(SAMPLES)]
    assert all(s.matched and s.tag is None for s in matched)


def test_a_start_no_client_draws_does_not_clear_a_random_looking_segment() -> None:
    """The guess is on randomness: one random opening in 256 starts with 0xef (one obfs4
    handshake in 256 got through when such starts were cleared)."""
    for _ in range(SAMPLES):
        random = b"\xef" + os.urandom(199)
        seen = inspect(random)
        assert seen.matched and seen.tag is None, seen


def test_random_bytes_pass_the_entropy_check_with_room() -> None:
    assert min(entropy(os.urandom(64)) for _ in range(2000)) > MIN_ENTROPY


@pytest.mark.parametrize("sni", ["web.telegram.org", "facebook.com", ".".join(["x" * 60] * 4)])
def test_tls_client_hellos_are_not_mtproto(sni: str) -> None:
    seen = inspect(client_hello(sni))
    assert not seen.matched and seen.reason == "TLS"


@pytest.mark.parametrize(
    "request_bytes",
    [
        POST,
        b"GET / HTTP/1.1\r\nHost: web.telegram.org\r\nUser-Agent: kzlab\r\nAccept: */*\r\n\r\n",
        b"PUT /upload HTTP/1.1\r\nHost: example.com\r\n\r\n" + random.Random(1).randbytes(64),
        # (seeded: a parameter is part of the test's id, which every xdist worker must collect alike)
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + random.Random(2).randbytes(64),
        b"PROPFIND /dav/ HTTP/1.1\r\nHost: example.com\r\nDepth: 1\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_http_requests_are_not_mtproto(request_bytes: bytes) -> None:
    seen = inspect(request_bytes)
    assert not seen.matched and seen.reason == "HTTP"


@pytest.mark.parametrize("size", [0, 1, 41, 63])
def test_short_packets_are_not_mtproto(size: int) -> None:
    assert not inspect(mtproto.first_packet()[:size]).matched


@pytest.mark.parametrize("start", sorted(mtproto_codec.RESERVED_STARTS))
def test_reserved_starts_are_never_read_as_certain(start: bytes) -> None:
    """Even with a tag that decrypts (the key is bytes 8..56, untouched here): no client
    sends such an init, so only the guess is left."""
    packet = mtproto.first_packet()
    assert inspect(packet).tag is not None
    seen = inspect(start + packet[4:])
    if start == b"GET ":  # a method and a space: an HTTP request, never a guess
        assert not seen.matched and seen.reason == "HTTP", seen
    else:
        assert seen.matched and seen.tag is None and seen.reason.endswith(f"reserved start {start.hex()}"), seen


def test_abridged_marker_and_zero_second_word_are_never_read_as_certain() -> None:
    packet = mtproto.first_packet()
    for changed, why in (
        (b"\xef" + packet[1:], "starts with 0xef (unobfuscated abridged)"),
        (packet[:4] + bytes(4) + packet[8:], "bytes 4..8 are zero"),
    ):
        seen = inspect(changed)
        assert seen.tag is None and seen.reason == f"random-looking, no tag read: {why}", seen


@pytest.mark.parametrize(
    "text",
    [
        b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n" + bytes(40),
        b"\x00" * 100,
        b"\x01\x00\x00\x00" * 32,
        b"hello, this is not an encrypted protocol at all, just some words ...",
    ],
)
def test_low_entropy_first_packets_are_not_mtproto(text: bytes) -> None:
    seen = inspect(text)
    assert not seen.matched, seen


# -- the censor --------------------------------------------------------------------------------


def segment(dst: str, dport: int, payload: bytes, sport: int = 40000) -> ipv4.Packet | None:
    """A client's data segment as the engine hands it to a censor."""
    return ipv4.parse(
        bytes(IP(src=CLIENT, dst=dst) / TCP(sport=sport, dport=dport, flags="PA", seq=1000, ack=1) / payload)
    )


def test_decide_drops_or_resets_a_telegram_flow_and_passes_others() -> None:
    flows: dict[tuple, str] = {}
    drop = BlockTrafficForMTProto().decide(segment(DC2, 443, mtproto.first_packet()), flows)
    assert (drop.verdict, drop.flow, drop.inject) == ("drop", "block", [])
    assert drop.note == "drop: obfuscated2 init, tag intermediate (direct connection)"
    reset = BlockTrafficForMTProto(action="reset").decide(segment(DC2, 80, mtproto.first_packet(), 40001), flows)
    (rst,) = reset.inject
    assert (reset.verdict, reset.flow) == ("drop", "block")
    sent = IP(bytes(rst))  # the injected bytes, as the client receives them
    assert (sent.src, sent.dst, sent[TCP].flags, sent[TCP].seq) == (DC2, CLIENT, "RA", 1)
    for payload in (client_hello("web.telegram.org"), POST):
        passed = BlockTrafficForMTProto().decide(segment(DC2, 443, payload, 40002), flows)
        assert (passed.verdict, passed.flow, passed.note) == ("accept", "pass", "")
    assert flows[(CLIENT, 40000, DC2, 443)] == "block" and flows[(CLIENT, 40002, DC2, 443)] == "pass"


def test_require_tag_lets_proxies_and_other_encrypted_protocols_through() -> None:
    strict = BlockTrafficForMTProto(require_tag=True)
    assert strict.decide(segment(DC2, 443, mtproto.first_packet("padded")), {}).flow == "block"
    assert strict.decide(segment(VK, 443, proxy_init(b"s" * 16) + os.urandom(40)), {}).flow == "pass"
    loose = BlockTrafficForMTProto()
    assert loose.decide(segment(VK, 443, proxy_init(b"s" * 16) + os.urandom(40)), {}).note.startswith(
        "drop: random-looking"
    )


def flow(dst: str, dport: int, sport: int, *data: bytes) -> list:
    """SYN, SYN-ACK, ACK, then the client's data segments."""
    c, s = IP(src=CLIENT, dst=dst), IP(src=dst, dst=CLIENT)
    out = [
        c / TCP(sport=sport, dport=dport, flags="S", seq=100),
        s / TCP(sport=dport, dport=sport, flags="SA", seq=500, ack=101),
        c / TCP(sport=sport, dport=dport, flags="A", seq=101, ack=501),
    ]
    return out + [c / TCP(sport=sport, dport=dport, flags="PA", seq=101, ack=501) / d for d in data]


def test_offline_grading_reads_only_each_flows_first_data_segment() -> None:
    """The kernel selection's twin: the client's third packet, to a listed port, long enough."""
    capture = [
        *flow(DC2, 443, 41001, mtproto.first_packet(), os.urandom(300)),  # 4 blocked, 5 dropped with it
        *flow(VK, 443, 41002, client_hello("vk.com"), os.urandom(300)),  # 9 passed; 10 its flow
        *flow(DC2, 80, 41003, POST),  # 14 passed
        *flow(VK, 443, 41004, b"hi", os.urandom(300)),  # 18 short first segment: never read, nor 19
        *flow(DC2, 8443, 41005, mtproto.first_packet()),  # 23 a port not listed
    ]
    verdicts = {v["packet"]: (v["verdict"], v["note"]) for v in grade(CENSORS["BlockTrafficForMTProto"](), capture)}
    assert verdicts[4] == ("drop", "drop: obfuscated2 init, tag intermediate (direct connection)")
    assert verdicts[5] == ("drop", "flow blocked earlier")
    assert verdicts[9] == ("accept", "") and verdicts[10] == ("accept", "flow passed earlier")
    assert verdicts[14] == ("accept", "")
    assert not {18, 19, 23} & set(verdicts)
    only_8443 = grade(BlockTrafficForMTProto(ports=[8443]), capture)
    assert [(v["packet"], v["verdict"]) for v in only_8443] == [(23, "drop")]


def test_kernel_selection_is_the_third_packet_of_listed_ports() -> None:
    (rule,) = BlockTrafficForMTProto().selection()
    assert "-m multiport --dports 443,80" in rule
    assert "-m connbytes --connbytes 3:3 --connbytes-dir original --connbytes-mode packets" in rule
    assert rule.endswith("-m length --length 104:65535")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ports": 443}, "'ports' expects a list of 1 to 15 ports"),
        ({"ports": []}, "'ports' expects a list of 1 to 15 ports"),
        ({"ports": ["https"]}, "'ports' expects .*got \\['https'\\]"),
        ({"ports": [0]}, "1-65535"),
        ({"action": "rst"}, "'action' expects one of 'drop', 'reset'"),
        ({"tag": True}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(CensorError, match=message):
        BlockTrafficForMTProto(**params)
