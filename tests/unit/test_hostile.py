"""The hostile-packet generator (tools/dpi/hostile.py), and the lab's own parsers fed
every packet it makes, offline (no root, no lab).

The generator: deterministic per seed, every family present, each family makes what it
promises, no packet over 65535 bytes, fragments that fit the MTU. The parsers: the
ClientHello parser, the MTProto DPI and every censor's ``selects``/``decide`` (on scapy's
``IP(bytes)``, as the engines and the offline grader call them) must neither raise nor
take longer than ``SLOW`` on any packet, and what a decision injects must fit the link's
MTU (the engine sends it over a raw socket, which refuses more). A failure lists each
distinct exception with the smallest packet that raises it, in hex: the reproduction.
"""

from __future__ import annotations

import random
import signal
import struct
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP

from tools.basics.paths import REPO
from tools.censors.registry import CENSORS
from tools.dpi import hostile, ipv4
from tools.dpi.hostile import FAMILIES, LENGTH_FIELDS, MAX_PACKET, MTU, SNI_NAMES, Hostile, Target, generate
from tools.dpi.mtproto import inspect
from tools.dpi.tls import parse_client_hello
from topologies.internet import FACEBOOK, FACEBOOK_PREFIXES, all_sites

FB = all_sites((FACEBOOK,))["facebook.com"].address  # 157.240.241.35
NAMES = ("facebook.com", "www.instagram.com")
TARGET = Target(src="95.56.1.2", dst=FB, dns="8.8.8.8", names=NAMES)  # home2, Facebook, 8.8.8.8
SEED = 2019
SAMPLE = 3600  # 300 packets of each family
SLOW = 0.25  # CPU seconds: a decision slower than this stalls an engine's loop for every other packet
PARAMS: dict[str, dict[str, Any]] = {  # what a censor needs to be built; the others take their defaults
    **{
        name: {"domains": list(NAMES)}
        for name in (
            "ResolverBlocklist",
            "SpoofDNSResponse",
            "ResetTrafficForTLSSNI",
            "DropTrafficForTLSSNI",
            "BlockpageForHTTPHost",
            "ThrottleTrafficForTLSSNI",
        )
    },
    "DropTrafficForServerEndpoint": {"prefixes": list(FACEBOOK_PREFIXES)},
    "AllowlistAccessNetwork": {"allow": ["92.46.0.53/32"]},
    "AccessWindows": {
        "censor": "DropTrafficAtBorder",
        "params": {},
        "open": [["2022-01-05T17:30", "2022-01-05T22:00"]],
    },
}


def packets(count: int, families: list[str] | None = None, seed: int = SEED, **kw: Any) -> list[Hostile]:
    return list(generate(count, seed, TARGET, families, **kw))


@pytest.fixture(scope="module")
def sample() -> list[tuple[Hostile, Any]]:
    """The packets every parser is fed, each with scapy's reading of it."""
    return [(p, IP(p.data)) for p in packets(SAMPLE)]


def tcp_header(data: bytes) -> bytes:
    """The TCP header of a packet built with a true IHL (20 bytes at the header's offset)."""
    ihl = (data[0] & 15) * 4
    return data[ihl : ihl + 20]


# -- the generator --------------------------------------------------------------------
def test_deterministic_per_seed() -> None:
    assert packets(2000) == packets(2000)
    assert packets(2000) != packets(2000, seed=SEED + 1)
    # a family's packets do not depend on which other families are asked for
    alone = [p.data for p in packets(100, ["dns"])]
    mixed = [p.data for p in packets(1200) if p.family == "dns"][:100]
    assert alone == mixed


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_makes_ipv4_packets(family: str) -> None:
    made = packets(300, [family])
    assert len(made) == 300 and {p.family for p in made} == {family}
    assert all(p.data[0] >> 4 == 4 and len(p.data) >= 20 for p in made)
    assert len({p.data for p in made}) > 250  # not the same few packets over and over


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown families"):
        next(generate(1, SEED, TARGET, ["tcp_optoins"]))


def test_data_offsets_cover_0_to_15() -> None:
    made = packets(64, ["tcp_data_offset"])
    assert {tcp_header(p.data)[12] >> 4 for p in made[:16]} == set(range(16))
    assert {tcp_header(p.data)[12] >> 4 for p in made[16:32]} == set(range(16))
    assert {tcp_header(p.data)[13] for p in made} == {hostile.SYN, hostile.PSH | hostile.ACK}


def test_flags_cover_all_256_combinations() -> None:
    made = packets(512, ["tcp_flags"])
    assert {tcp_header(p.data)[13] for p in made[:256]} == set(range(256))
    with_hello = [p for p in made[256:] if parse_client_hello(bytes(IP(p.data)[TCP].payload)).sni in NAMES]
    assert {tcp_header(p.data)[13] for p in with_hello} == set(range(256))


def test_ip_header_lengths_and_total_lengths_lie() -> None:
    made = packets(320, ["ip_lengths"])
    assert {p.data[0] & 15 for p in made[:16]} == set(range(16))
    totals = Counter(
        "true" if t == len(p.data) else "shorter" if t < len(p.data) else "longer"
        for p in made
        for t in [struct.unpack_from("!H", p.data, 2)[0]]
    )
    assert totals["shorter"] > 30 and totals["longer"] > 30 and totals["true"] > 10, totals
    assert any(struct.unpack_from("!H", p.data, 2)[0] < 20 for p in made)


def test_tcp_options_with_bad_lengths() -> None:
    made = packets(300, ["tcp_options"])
    options = [p.data[40 : 20 + (tcp_header(p.data)[12] >> 4) * 4] for p in made]
    syns = [o for p, o in zip(made, options, strict=True) if tcp_header(p.data)[13] == hostile.SYN]
    assert any(o.startswith(b"\x02\x03\x05") for o in syns)  # issue 9's MSS of length 3, on a SYN
    for bad in (b"\x02\x00", b"\x02\x01", b"\x03\x02", b"\x08\x09", b"\x08\x02", b"\x02\x28", b"\xfe\xff"):
        assert any(o.startswith(bad) for o in options), bad.hex()
    # options that run past the data offset: the header ends inside them
    assert sum(tcp_header(p.data)[12] >> 4 == 6 and p.data[40:41] != b"\x01" for p in made) >= 10


def test_fragments_lie_overlap_and_pass_65535() -> None:
    made = packets(400, ["fragments"])
    fields = [(struct.unpack_from("!H", p.data, 4)[0], struct.unpack_from("!H", p.data, 6)[0]) for p in made]
    assert sum(f >> 13 & hostile.MF for _, f in fields) > 100
    assert any((f & 0x1FFF) * 8 + len(p.data) - 20 > MAX_PACKET for p, (_, f) in zip(made, fields, strict=True))
    assert any(f >> 13 == hostile.MF | hostile.DF for _, f in fields)
    ranges = defaultdict(list)
    for p, (ident, f) in zip(made, fields, strict=True):
        start = (f & 0x1FFF) * 8
        ranges[ident].append((start, start + len(p.data) - 20))
    overlapping = [
        i for i, r in ranges.items() if any(a < d and c < b for n, (a, b) in enumerate(r) for c, d in r[n + 1 :])
    ]
    assert len(overlapping) > 5


def test_fragment_splits_a_packet_that_reassembles() -> None:
    hello = hostile.client_hello(b"facebook.com", rng=random.Random(1))
    segment = hostile.tcp_segment(TARGET.src, FB, 40000, 443, seq=1, ack=1, flags=hostile.ACK, payload=hello)
    whole = hostile.ipv4(TARGET.src, FB, hostile.TCP, segment, ident=7)
    pieces = hostile.fragment(whole, 32)
    assert len(pieces) > 3 and all(len(p) <= 20 + 32 for p in pieces)
    body = b"".join(p[20:] for p in sorted(pieces, key=lambda p: struct.unpack_from("!H", p, 6)[0] & 0x1FFF))
    assert body == whole[20:]
    assert all(ipv4.checksum(p[:20]) == 0 for p in pieces)


def test_tls_records_truncated_and_oversized() -> None:
    made = packets(400, ["tls_records"])
    hellos = [parse_client_hello(bytes(IP(p.data)[TCP].payload)) for p in made]
    assert sum(h.is_tls and not h.complete for h in hellos) > 50  # truncated, or lengths past the bytes
    assert sum(not h.is_tls for h in hellos) > 50
    assert any(len(p.data) > 1300 for p in made)


def test_client_hello_lengths_lie_one_field_at_a_time() -> None:
    truthful = hostile.client_hello(b"facebook.com", rng=random.Random(1))
    assert parse_client_hello(truthful).sni == "facebook.com"  # a real ClientHello when nothing lies
    for field in LENGTH_FIELDS:
        lied = hostile.client_hello(b"facebook.com", rng=random.Random(1), lies={field: lambda true: true + 1})
        assert len(lied) == len(truthful) and lied != truthful, field
    made = packets(240, ["client_hello"])
    snis = Counter(parse_client_hello(bytes(IP(p.data)[TCP].payload)).sni for p in made)
    assert snis[None] > 50 and snis["example.org"] > 10


def test_sni_names_nobody_resolves() -> None:
    made = packets(210, ["sni_names"])
    for name in SNI_NAMES:
        assert any(name in p.data for p in made), name[:40]
    longest = [p for p in made if len(p.data) == MAX_PACKET]
    assert longest and all(b"a.a.a." in p.data for p in longest)
    assert any(b"a" * 64 in p.data for p in made)


def test_dns_queries() -> None:
    made = packets(600, ["dns"])
    payloads = [bytes(IP(p.data)[UDP].payload) for p in made]
    many = [(p, q) for p, q in zip(made, payloads, strict=True) if len(q) > 12 and q[4:6] >= b"\x00\x19"]
    assert sum(struct.unpack_from("!H", q, 4)[0] == q.count(b"\x00\x01\x00\x01") >= 25 for _, q in many) > 20
    # a query within 40 bytes of the MTU: a reply that copies its questions and adds an answer is over it
    assert any(MTU - 40 < len(p.data) <= MTU for p, _ in many)
    assert any(len(p.data) > MTU for p, _ in many)  # and longer ones, fragmented when sent
    assert any(b"\xc0\x0c\x00\x01" in q[12:] for q in payloads)  # a pointer to itself
    assert any(b"\xff\xfe\xfd" in q for q in payloads)


def test_mtproto_openings_as_the_third_segment() -> None:
    made = packets(240, ["mtproto"])
    seen = Counter()
    for n, p in enumerate(made):
        payload = bytes(IP(p.data)[TCP].payload)
        assert bool(payload) == (n % 3 == 2)  # SYN, ACK, then the opening, on one flow
        if payload:
            verdict = inspect(payload)
            seen["tag" if verdict.tag else "guess" if verdict.matched else "not"] += 1
    assert seen["tag"] > 15 and seen["guess"] > 5 and seen["not"] > 15, seen


def test_random_bytes_after_a_valid_header() -> None:
    made = packets(300, ["random_payload"])
    assert all(ipv4.checksum(p.data[:20]) == 0 and p.data[0] == 0x45 for p in made)
    assert len({p.data[9] for p in made}) > 8  # many protocol numbers


def test_checksums_good_and_bad_as_scapy_computes_them() -> None:
    made = [  # a true header, and a true UDP length (scapy computes the checksum over what it says)
        p
        for p in packets(600, ["tcp_flags", "dns"])
        if p.data[0] == 0x45
        and (p.data[9] == hostile.TCP or struct.unpack_from("!H", p.data, 24)[0] == len(p.data) - 20)
    ]
    verdicts = Counter()
    for p in made:
        ip = IP(p.data)
        layer = ip[TCP] if TCP in ip else ip[UDP]
        sent = (ip.chksum, layer.chksum)
        del ip.chksum, layer.chksum
        again = IP(bytes(ip))
        right = (again.chksum, (again[TCP] if TCP in again else again[UDP]).chksum)
        verdicts["good" if sent == right else "bad" if sent[0] != right[0] and sent[1] != right[1] else "mixed"] += 1
    assert verdicts["good"] > 300 and verdicts["bad"] > 60 and not verdicts["mixed"], verdicts


def test_no_packet_over_65535_and_fragments_fit_the_mtu() -> None:
    whole = packets(6000)
    assert max(len(p.data) for p in whole) == MAX_PACKET
    cut = packets(6000, mtu=MTU)
    over = [p for p in cut if len(p.data) > MTU]
    assert all(p.data[0] & 15 != 5 for p in over), "a packet with a true header was not fragmented"


# -- the parsers ----------------------------------------------------------------------
Failures = dict[tuple[str, str], list[Hostile]]


class TooSlow(BaseException):
    """Raised in a call that used more than SLOW of CPU (a BaseException: the code under
    test cannot swallow it with ``except Exception``)."""


def _too_slow(_signum: int, _frame: object) -> None:
    raise TooSlow


def record(failures: Failures, what: str, packet: Hostile, call: Callable[[Any], Any], arg: Any) -> None:
    """Run ``call(arg)``; an exception, or more than SLOW of this process's CPU time (the
    call is then interrupted, so a quadratic parser costs the test SLOW, not minutes), is
    a failure of ``what``."""
    previous = signal.signal(signal.SIGPROF, _too_slow)
    signal.setitimer(signal.ITIMER_PROF, SLOW)
    try:
        call(arg)
    except TooSlow:
        failures[(what, f"more than {SLOW} s of CPU on one packet")].append(packet)
    except Exception as exc:  # noqa: BLE001 - every exception is a finding to report
        failures[(what, f"{type(exc).__name__}: {' '.join(str(exc).split())[:100]}")].append(packet)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def report(failures: Failures) -> str:
    """One line per failure: what, the error, how many packets, their families, and the
    smallest of them in hex (the minimal reproduction)."""
    lines = []
    for (what, error), found in sorted(failures.items()):
        smallest = min(found, key=lambda p: len(p.data))
        families = ", ".join(f"{f} {n}" for f, n in Counter(p.family for p in found).most_common())
        shown = smallest.data.hex() if len(smallest.data) <= 300 else f"{smallest.data[:300].hex()}..."
        lines.append(f"{what}: {error}: {len(found)} packets ({families}); smallest ({len(smallest.data)} B): {shown}")
    return "\n".join(lines)


def payload_of(ip: Any, data: bytes) -> bytes:
    """What a DPI reads as the transport payload: scapy's, else the bytes after the header."""
    layer = ip.getlayer(TCP) or ip.getlayer(UDP)
    return bytes(layer.payload) if layer is not None else data[20:]


def test_dpi_parsers_survive_every_packet(sample: list[tuple[Hostile, Any]]) -> None:
    failures: Failures = defaultdict(list)
    for packet, ip in sample:
        payload = payload_of(ip, packet.data)
        record(failures, "tls.parse_client_hello", packet, parse_client_hello, payload)
        record(failures, "mtproto.inspect", packet, inspect, payload)
    assert not failures, "\n" + report(failures)


@pytest.mark.parametrize("name", list(CENSORS))
def test_censor_survives_every_packet(name: str, sample: list[tuple[Hostile, Any]]) -> None:
    """selects and decide on every packet; the packets a decision injects built and no
    longer than the MTU."""
    censor = CENSORS[name](**PARAMS.get(name, {}))
    flows: dict[tuple, str] = {}
    failures: Failures = defaultdict(list)

    def one(parsed: ipv4.Packet) -> None:
        if censor.selects(parsed):
            for forged in censor.decide(parsed, flows).inject:
                if len(data := bytes(forged)) > MTU:
                    raise OverflowError(f"injects {len(data)} bytes, over the MTU of {MTU}")

    for packet, _ in sample:
        parsed = ipv4.parse(packet.data)  # what the engine hands a censor (None: the failure verdict)
        if parsed is not None:
            record(failures, name, packet, one, parsed)
    assert not failures, "\n" + report(failures)


# -- the sender's safety --------------------------------------------------------------------
def test_lab_addresses_come_from_the_topologies() -> None:
    allowed = hostile.lab_addresses()
    assert {FB, "8.8.8.8", "1.1.1.1", "87.240.132.72", "95.56.1.2"} <= allowed
    assert not {"9.9.9.9", "192.0.2.1", "157.240.241.99", "127.0.0.1"} & allowed


@pytest.mark.parametrize(
    ("dst", "message"),
    [
        ("192.0.2.1", "'192.0.2.1' is not an address of the lab"),
        ("157.240.241.99", "'157.240.241.99' is not an address of the lab"),  # inside AS32934, no lab node
        (FB, "not inside a lab host"),  # a lab address, but this test runs outside any lab
    ],
)
def test_sender_refuses_outside_the_lab(dst: str, message: str) -> None:
    """One line, exit 2, before any socket is opened (and --count 0: nothing to send)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "tools.dpi.hostile", "--count", "0", "--seed", "1", "--dst", dst]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
