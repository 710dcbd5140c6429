"""The interception device under hostile input, without root or a kernel (issue 9, items
1, 2, 9 and 10): the real Interceptor's packet handling is driven with packets shaped
like netfilterqueue's (payload, mark, one verdict), and its own connections go to a TLS
server on 127.0.0.1 with a certificate from a throw-away root it trusts.

Every test ends by checking that the device still decides to intercept facebook.com: a
bad packet never costs the next subscriber anything.

The last tests are what got around the 2019 device (kazakhstan.md section 6), packet by
packet: no reassembly, a flow's state from the first packet seen, no teardown by a client
RST; and the ``reassemble`` device that splitting no longer gets around.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP
from scapy.packet import Raw

from tests.unit.conftest import LabPki, LoopbackServer, tls_http_handler
from tools.dpi import hostile, ipv4
from tools.dpi.tls import client_hello
from tools.gateway import interceptor, rules, upstream
from tools.gateway.flows import DECIDING, DONE, FlowTable
from tools.gateway.interceptor import Config, Decision, Interceptor
from tools.gateway.national_ca import QAZNET_2019, NationalCA
from tools.gateway.stats import rss_kb
from tools.gateway.surveillance import read
from tools.gateway.takeover import Handshake
from tools.gateway.walled_garden import WalledGarden

SERVER = "127.0.0.1"  # the device's own connections go here, and nowhere else
CLIENT = "127.0.0.2"  # never sent to: packets from it exist only as bytes
WALLED = "127.0.0.64/26"  # subscribers in the walled garden: every name is intercepted
WAIT = 10.0


class FakePacket:
    """A queued packet as netfilterqueue hands it over: bytes, a mark, one verdict."""

    def __init__(self, payload: bytes | None) -> None:
        self.payload, self.mark, self.verdict = payload, 0, None

    def get_payload(self) -> bytes:
        if self.payload is None:
            raise RuntimeError("Payload data is no longer available")  # as netfilterqueue says
        return self.payload

    def get_mark(self) -> int:
        return self.mark

    def set_mark(self, mark: int) -> None:
        self.mark = mark

    def _give(self, verdict: str) -> None:
        if self.verdict is not None:
            raise RuntimeError("Verdict already given for this packet")
        self.verdict = verdict

    def accept(self) -> None:
        self._give("accept")

    def drop(self) -> None:
        self._give("drop")


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("national-ca")
    NationalCA.create(QAZNET_2019).write(directory)
    return directory


@pytest.fixture
def upstream_server(pki: LabPki) -> Iterator[LoopbackServer]:
    server = LoopbackServer(tls_http_handler(pki.server_context(), b"real"))
    yield server
    server.close()


@pytest.fixture
def silent_server() -> Iterator[LoopbackServer]:
    """A server that accepts and never says a word: a decision waits on it for its timeout."""
    gone = threading.Event()
    server = LoopbackServer(lambda conn: gone.wait(WAIT))
    yield server
    gone.set()
    server.close()


@pytest.fixture
def make_device(ca_dir: Path, pki: LabPki, tmp_path: Path) -> Iterator[Callable[..., Interceptor]]:
    devices: list[Interceptor] = []
    workdir = tmp_path / "device"
    workdir.mkdir()

    def make(**overrides: object) -> Interceptor:
        config = Config(
            queue=0,
            targets=frozenset({"facebook.com"}),
            ca_dir=ca_dir,
            generation="2019",
            shift_hours=6,
            trust_bundle=str(pki.root_pem),
            workdir=workdir,
            log=workdir / "surveillance.jsonl",
            walled=(WALLED,),
            spare_keys=0,  # no keys made ahead: 16 per device cost 90 s of CPU over this module
        )
        devices.append(Interceptor(replace(config, **overrides)))
        return devices[-1]

    yield make
    for device in devices:
        device.pool.stop(timeout=0.1)


# -- packets ------------------------------------------------------------------------------
def tcp(src: str, sport: int, port: int, flags: str, seq: int = 1000, payload: bytes = b"", **kw: object) -> bytes:
    segment = TCP(sport=sport, dport=port, flags=flags, seq=seq, ack=1, **kw)
    return (
        bytes(IP(src=src, dst=SERVER) / segment / Raw(payload)) if payload else bytes(IP(src=src, dst=SERVER) / segment)
    )


def hello_with_sni(name: bytes) -> bytes:
    """A minimal TLS 1.2 ClientHello naming ``name`` as it is, whatever its bytes."""
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    ext = struct.pack("!HH", 0, len(entry) + 2) + struct.pack("!H", len(entry)) + entry
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\xc0\x2f" + b"\x01\x00" + struct.pack("!H", len(ext)) + ext
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def send(device: Interceptor, data: bytes) -> FakePacket:
    """One packet through the device's queue callback; its verdict may be pending."""
    pkt = FakePacket(data)
    device.on_packet(pkt)
    return pkt


def handshake(device: Interceptor, src: str, sport: int, port: int) -> None:
    """The client's SYN (seq 999) and the server's SYN-ACK, each accepted at once."""
    for data in (
        tcp(
            src,
            sport,
            port,
            "S",
            seq=999,
            options=[("MSS", 1460), ("WScale", 7), ("SAckOK", b""), ("Timestamp", (1, 0))],
        ),
        bytes(IP(src=SERVER, dst=src) / TCP(sport=port, dport=sport, flags="SA", seq=5000, ack=1000)),
    ):
        assert send(device, data).verdict == "accept"


def open_flow(device: Interceptor, src: str, sport: int, port: int, hello: bytes) -> FakePacket:
    """SYN, SYN-ACK and the ClientHello of one flow; the ClientHello's packet is returned."""
    handshake(device, src, sport, port)
    return send(device, tcp(src, sport, port, "PA", seq=1000, payload=hello, options=[("Timestamp", (2, 1))]))


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def decision(device: Interceptor, key: tuple[str, int, str, int]) -> Decision:
    """The decision a worker hands to the loop for ``key`` (taken, not acted on: acting on
    an interception is a TCP_REPAIR takeover, for the lab tests)."""
    wait_for(lambda: any(d.key == key for d in device.decided), "a decision")
    with device.decided_lock:
        (mine,) = [d for d in device.decided if d.key == key]
        device.decided.remove(mine)
    return mine


def settle(device: Interceptor, pkt: FakePacket) -> None:
    """Run the loop's housekeeping until ``pkt`` has its verdict."""
    wait_for(lambda: device.tick(time.monotonic()) or pkt.verdict is not None, "a verdict")


def assert_still_intercepts(device: Interceptor, port: int, sport: int = 40000) -> None:
    held = open_flow(device, CLIENT, sport, port, client_hello("facebook.com"))
    assert held.verdict is None  # held while the device decides
    d = decision(device, (CLIENT, sport, SERVER, port))
    assert d.failure is None and d.up is not None and d.up.trusted and d.ctx is not None, d
    d.up.tls.close()


def errors(device: Interceptor) -> dict[str, int]:
    device.write_stats()
    return json.loads(device.stats.path.read_text())["errors"]


# -- item 1: any packet, one verdict ------------------------------------------------------
def test_the_reported_mss_option_is_accepted_and_interception_goes_on(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """The reproduction: an MSS option of length 3 in a SYN stopped the device."""
    device = make_device()
    pkt = FakePacket(bytes(IP(dst=SERVER) / TCP(dport=443, flags="S", options=[(2, b"\x05")])))
    device.on_packet(pkt)
    assert pkt.verdict == "accept"
    assert errors(device) == {}
    assert_still_intercepts(device, upstream_server.port)


BAD_OPTIONS = {
    "MSS length 3": b"\x02\x03\x05",
    "MSS length 2": b"\x02\x02",
    "MSS length 0": b"\x02\x00\x05\xb4",
    "MSS length 1": b"\x02\x01\x05\xb4",
    "MSS length 255": b"\x02\xff\x05\xb4",
    "MSS, no length": b"\x02",
    "MSS 0": b"\x02\x04\x00\x00",
    "window scale 255": b"\x03\x03\xff\x01",
    "window scale length 4": b"\x03\x04\x07\x00",
    "SACK-permitted length 3": b"\x04\x03\x00\x01",
    "timestamp length 9": b"\x08\x09" + bytes(7),
    "timestamp length 2": b"\x08\x02\x01\x01",
    "timestamp, cut short": b"\x08\x0a\x00\x00",
    "unknown kind, length past the end": b"\xfe\x28" + bytes(2),
    "all NOPs": b"\x01" * 40,
    "all ones": b"\xff" * 40,
}


def test_malformed_tcp_options_in_syns_and_syn_acks(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """Each malformed option, in a client's SYN and in a server's SYN-ACK: accepted, no
    error; then a flow of the same subscriber is still intercepted."""
    device = make_device()
    for sport, options in enumerate(BAD_OPTIONS.values(), start=41000):
        syn = bytes(IP(src=CLIENT, dst=SERVER) / TCP(sport=sport, dport=443, flags="S"))
        synack = bytes(IP(src=SERVER, dst=CLIENT) / TCP(sport=443, dport=sport, flags="SA"))
        for data in (with_options(syn, options), syn, with_options(synack, options)):
            pkt = FakePacket(data)
            device.on_packet(pkt)
            assert pkt.verdict == "accept"
    assert errors(device) == {}
    assert_still_intercepts(device, upstream_server.port)


def with_options(packet: bytes, options: bytes) -> bytes:
    """``packet`` (IPv4 without options, TCP without options or payload) with ``options``
    as its TCP options, padded to whole words; IP total length and data offset fixed up."""
    options += bytes(-len(options) % 4)
    data = bytearray(packet + options)
    data[2:4] = struct.pack("!H", len(data))
    data[32] = (5 + len(options) // 4) << 4
    return bytes(data)


def test_header_lengths_that_lie(make_device: Callable[..., Interceptor], upstream_server: LoopbackServer) -> None:
    """Data offsets 0-15, IP header lengths 0-15, total lengths short and long, truncated
    packets, fragments, other protocols, garbage: each accepted, none an error."""
    device = make_device()
    good = bytes(IP(src=CLIENT, dst=SERVER) / TCP(sport=41001, dport=443, flags="PA") / Raw(client_hello("x.kz")))
    cases = [b"", b"\x45", good[:19], good[:20], good[:39], bytes(60), b"\xff" * 60]
    for doff in range(16):
        cases.append(good[:32] + bytes([doff << 4]) + good[33:])
    for ihl in range(16):
        cases.append(bytes([0x40 | ihl]) + good[1:])
    for total in (0, 20, 39, 40, len(good) - 1, len(good) + 1, 0xFFFF):
        cases.append(good[:2] + struct.pack("!H", total) + good[4:])
    cases.append(good[:6] + b"\x20\x00" + good[8:])  # more fragments
    cases.append(good[:6] + b"\x00\x10" + good[8:])  # a later fragment
    cases.append(good[:9] + b"\x11" + good[10:])  # UDP
    cases.append(b"\x60" + good[1:])  # IPv6 version nibble
    for data in cases:
        pkt = FakePacket(data)
        device.on_packet(pkt)
        assert pkt.verdict is not None
    assert errors(device) == {}
    assert_still_intercepts(device, upstream_server.port)


def test_an_exception_while_handling_a_packet_is_its_own_verdict(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Whatever raises while one packet is handled (here netfilterqueue's own error for a
    payload no longer there) accepts that packet, is counted, and is logged at the 1st,
    10th, 100th, 1000th time of its kind only."""
    device = make_device()
    for _ in range(1000):
        pkt = FakePacket(None)
        device.on_packet(pkt)
        assert pkt.verdict == "accept"
    assert errors(device) == {"packet:RuntimeError": 1000}
    logged = [line for line in capfd.readouterr().err.splitlines() if "packet:RuntimeError" in line]
    assert [line.split("(#")[1].split(")")[0] for line in logged] == ["1", "10", "100", "1000"]
    assert_still_intercepts(device, upstream_server.port)


# -- item 2: hostile SNI ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (b"a" * 64 + b".com", "no host name"),
        (b"a..b", "no host name"),
        (b"face\x00book.com", "no host name"),
        (b".facebook.com", "no host name"),
        (b"a" * 300, "no host name"),
        (b"f\xc3\xa4cebook.com", "no TLS"),  # not ASCII: not a host name a DPI reads
    ],
)
def test_hostile_sni_from_a_walled_subscriber_passes_the_flow(
    name: bytes, reason: str, make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """Item 2: a walled subscriber's every name is intercepted, so the device connects with
    the name it read; one OpenSSL will not send ends in a decision to pass the flow,
    logged with why, never in a worker's exception and a flow deciding forever."""
    device = make_device()
    held = open_flow(device, "127.0.0.70", 42000, upstream_server.port, hello_with_sni(name))
    settle(device, held)
    assert held.verdict == "accept" and held.mark & rules.MARK_PASS
    passed = [e for e in read(device.config.log) if e["event"] == "passed"]
    assert reason in passed[-1]["reason"], passed
    assert errors(device) == {}
    assert_still_intercepts(device, upstream_server.port)


def test_a_decision_that_never_comes_back_passes_the_flow_at_its_deadline(
    make_device: Callable[..., Interceptor], silent_server: LoopbackServer, upstream_server: LoopbackServer
) -> None:
    """A flow never stays deciding: past decide_timeout its held packets are passed, and
    the decision that comes back later finds nothing to act on."""
    device = make_device(decide_timeout=0.3)
    started = time.monotonic()
    held = open_flow(device, CLIENT, 43000, silent_server.port, client_hello("facebook.com"))
    assert held.verdict is None
    settle(device, held)
    assert 0.3 <= time.monotonic() - started < 5
    assert held.verdict == "accept" and held.mark & rules.MARK_PASS
    assert device.flows.peek((CLIENT, 43000, SERVER, silent_server.port)).state == DONE
    assert "no decision within 0.3s" in read(device.config.log)[-1]["reason"]
    assert_still_intercepts(device, upstream_server.port)


# -- item 10: bounded state ---------------------------------------------------------------
def test_a_syn_flood_from_spoofed_sources_keeps_the_flow_table_bounded(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """100,000 SYNs from as many sources: at most max_flows flows, the rest evicted oldest
    first and counted, every SYN accepted; the device still intercepts."""
    device = make_device(max_flows=1000)
    template = bytearray(bytes(IP(src="10.0.0.0", dst=SERVER) / TCP(sport=1, dport=443, flags="S")))
    for i in range(100_000):
        template[12:16] = struct.pack("!I", 0x0A000000 + i)
        pkt = FakePacket(bytes(template))
        device.on_packet(pkt)
        assert pkt.verdict == "accept"
    assert len(device.flows) == 1000
    device.write_stats()
    stats = json.loads(device.stats.path.read_text())
    assert stats["counts"]["flows_evicted"] == 99_000 and stats["counts"]["packets"] == 100_000
    assert stats["flows"] == 1000 and stats["errors"] == {}
    assert_still_intercepts(device, upstream_server.port)


def test_decisions_waiting_past_the_bound_pass_their_flows(
    make_device: Callable[..., Interceptor], silent_server: LoopbackServer, upstream_server: LoopbackServer
) -> None:
    """One worker, one waiting place: the third flow to need a decision is passed at once
    (fail open) and counted."""
    device = make_device(workers=1, max_pending=1)
    first = open_flow(device, CLIENT, 44000, silent_server.port, client_hello("facebook.com"))
    wait_for(lambda: device.pool.pending() == 0, "the worker to take the first decision")
    second = open_flow(device, CLIENT, 44001, silent_server.port, client_hello("facebook.com"))
    third = open_flow(device, CLIENT, 44002, silent_server.port, client_hello("facebook.com"))
    assert first.verdict is None and second.verdict is None
    assert third.verdict == "accept" and third.mark & rules.MARK_PASS
    assert read(device.config.log)[-1]["reason"] == "overload: too many decisions waiting"
    device.write_stats()
    assert json.loads(device.stats.path.read_text())["counts"]["passed_overload_decisions"] == 1


def test_intercepted_connections_past_the_bound_pass_their_flows(
    make_device: Callable[..., Interceptor], silent_server: LoopbackServer
) -> None:
    device = make_device(max_relays=2)
    held = [open_flow(device, CLIENT, 45000 + i, silent_server.port, client_hello("facebook.com")) for i in range(3)]
    assert [p.verdict for p in held] == [None, None, "accept"]
    assert read(device.config.log)[-1]["reason"] == "overload: too many intercepted connections"


def test_flow_table_idle_expiry_is_refreshed_by_each_packet() -> None:
    table = FlowTable(max_flows=3, ttl=10, decide_timeout=5)
    a, _ = table.new(("a", 1, "s", 443), now=0)
    table.new(("b", 1, "s", 443), now=1)
    assert table.get(("a", 1, "s", 443), now=9) is a  # a packet of a: seen again
    idle, overdue = table.expired(now=11)
    assert [k[0] for k, _ in idle] == ["b"] and not overdue
    assert table.expired(now=18.9) == ([], [])
    assert [k[0] for k, _ in table.expired(now=19)[0]] == ["a"]


def test_flow_table_full_evicts_the_least_recently_seen() -> None:
    table = FlowTable(max_flows=2, ttl=10, decide_timeout=5)
    table.new(("a", 1, "s", 443), now=0)
    table.new(("b", 1, "s", 443), now=1)
    table.get(("a", 1, "s", 443), now=2)
    _, displaced = table.new(("c", 1, "s", 443), now=3)
    assert [k[0] for k, _ in displaced] == ["b"]
    assert sorted(k[0] for k in table.flows) == ["a", "c"]


def test_flow_table_deciding_deadline_is_not_moved_by_packets() -> None:
    table = FlowTable(max_flows=2, ttl=100, decide_timeout=5)
    key = ("a", 1, "s", 443)
    flow, _ = table.new(key, now=0)
    table.start_deciding(key, flow, now=1)
    assert flow.state == DECIDING
    table.get(key, now=5.5)  # a retransmission: refreshes idleness, not the deadline
    assert table.expired(now=5.9) == ([], [])
    assert table.expired(now=6) == ([], [(key, flow)])
    assert table.deciding == 0


# -- memory that stays flat ---------------------------------------------------------------
def test_a_decided_flow_keeps_no_bytes(make_device: Callable[..., Interceptor]) -> None:
    """A flow stays in the table after its decision so that its later packets pass at
    once, for up to 30 s and 16,384 flows: it keeps none of its ClientHello (it used to
    keep the whole of it, and its SNI: 6.5 KB a flow here)."""
    device = make_device(flow_ttl=3600.0)  # none expires while the test runs, however slowly
    padding = struct.pack("!HH", 21, 3000) + bytes(3000)
    hello = hostile.client_hello(b"x" * 1000 + b".example.org", rng=random.Random(9), extra_extensions=padding)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for sport in range(10000, 10400):
            assert open_flow(device, CLIENT, sport, 443, hello).verdict == "accept"
        per_flow = (tracemalloc.get_traced_memory()[0] - before) / 400
    finally:
        tracemalloc.stop()
    assert len(device.flows) == 400 and all(f.state == DONE for f in device.flows.flows.values())
    assert per_flow < 2048, f"{per_flow:.0f} bytes per decided flow, its ClientHello was {len(hello)}"


def rss() -> int:
    return rss_kb()["rss_kb"] << 10


def test_resumed_connections_read_no_session(pki: LabPki, upstream_server: LoopbackServer) -> None:
    """Reading a connection's TLS session leaks a copy of it on CPython 3.11 to 3.12.6
    (gh-116810), and the device connects to the server for every flow it intercepts: it
    read one each time and grew 11 MB per 100,000 hostile packets. It reads one after a
    full handshake only; 1,200 connections to one server: the first full, every other one
    resumed, and the last 1,000 grew the process by less than 2 MiB (a read each: 6 MiB)."""
    ctx, sessions, resumed = upstream.context(str(pki.root_pem)), upstream.Sessions(), []
    for i in range(1200):
        if i == 200:
            before = rss()
        up = upstream.connect(ctx, SERVER, upstream_server.port, "localhost", sessions)
        assert up.tls is not None, up.failure
        resumed.append(up.tls.session_reused)
        up.tls.close()
    growth = rss() - before
    assert resumed[0] is False and all(resumed[1:])
    assert sessions.reads_left == upstream.SESSION_READS - 1
    assert growth < 2 << 20, f"grew {growth >> 10} KiB over 1,000 resumed connections"


def test_a_server_that_never_resumes_costs_at_most_the_reads(pki: LabPki, serve: Callable[..., LoopbackServer]) -> None:
    """A server that resumes nothing (a fresh context per connection: no ticket it can
    read) makes every connection a full handshake: the device reads a session after each
    until its reads are spent, and no more after that."""

    def handshake_only(conn: socket.socket) -> None:
        with pki.server_context().wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    server = serve(handshake_only)
    ctx, sessions = upstream.context(str(pki.root_pem)), upstream.Sessions(reads=100)
    for i in range(600):
        if i == 100:
            before = rss()
        up = upstream.connect(ctx, SERVER, server.port, "localhost", sessions)
        assert up.tls is not None and not up.tls.session_reused, up.failure
        up.tls.close()
    growth = rss() - before
    assert sessions.reads_left == 0 and sessions.get((SERVER, server.port, "localhost")) is not None
    assert growth < 2 << 20, f"grew {growth >> 10} KiB over 500 connections past the reads"


def test_the_walled_garden_holds_at_most_its_limit(tmp_path: Path) -> None:
    """With enforcement, every address whose forged handshake fails is walled, spoofed
    ones too: past its limit the garden walls no one more (and releases no one from a
    walled block), until a subscriber leaves it."""
    from tools.gateway.surveillance import Log

    garden = WalledGarden("92.46.0.30", ["2.132.0.0/16"], Log(tmp_path / "log.jsonl"), limit=3)
    for n in range(1, 6):
        garden.wall(f"95.56.1.{n}", "rejected the national chain")
    assert [garden.contains(f"95.56.1.{n}") for n in range(1, 6)] == [True, True, True, False, False]
    garden.release("2.132.0.9")  # in a walled block: would take a place
    assert garden.contains("2.132.0.9")
    garden.release("95.56.1.1")  # walled one by one: leaves, and frees its place
    garden.wall("95.56.1.4", "rejected the national chain")
    assert not garden.contains("95.56.1.1") and garden.contains("95.56.1.4")
    assert len(garden.walled) + len(garden.released) == 3
    assert [c[0] for c in list(garden.changes.queue)] == ["-A", "-A", "-A", "-D", "-A"]


def test_the_national_ca_keeps_the_keys_of_its_most_recent_hosts(ca_dir: Path) -> None:
    ca = NationalCA.load(ca_dir, QAZNET_2019)
    ca.key_limit = 2
    a, b = ca.host_key("CN=a"), ca.host_key("CN=b")
    assert ca.host_key("CN=a") is a  # one key per host (1.7), used again
    ca.host_key("CN=c")  # b is the least recently used: forgotten
    assert list(ca._host_keys) == ["CN=a", "CN=c"]
    assert ca.host_key("CN=b") is not b


# -- item 9: nothing blocking on the loop -------------------------------------------------
def test_walling_a_subscriber_runs_no_iptables_on_the_calling_thread(tmp_path: Path) -> None:
    """The device calls wall() from a relay thread and contains() from its loop: both only
    touch sets; the iptables change waits in the garden's queue for its own thread (not
    started here: no rules are installed without root)."""
    from tools.gateway.surveillance import Log

    garden = WalledGarden("92.46.0.30", ["2.132.0.0/16"], Log(tmp_path / "log.jsonl"))
    garden.wall("95.56.1.2", "rejected the national chain")
    assert garden.contains("95.56.1.2") and garden.contains("2.132.0.9")
    garden.release("2.132.0.9")
    assert not garden.contains("2.132.0.9")
    assert [c[0] for c in list(garden.changes.queue)] == ["-A", "-I"]


def test_a_key_being_forged_is_forged_once_and_off_the_loop(
    make_device: Callable[..., Interceptor], pki: LabPki
) -> None:
    """Two workers needing the same forged leaf at once: one forges, the other waits on its
    future; both get the same context."""
    device = make_device()
    results = []
    threads = [threading.Thread(target=lambda: results.append(device.contexts.get(pki.root.cert))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert len(list(device.config.workdir.glob("*.key"))) == 1


def test_the_decision_queue_wake_up_never_blocks_a_worker(make_device: Callable[..., Interceptor]) -> None:
    """Workers wake the loop through a socket pair; a full one (the loop busy) is enough
    of a wake-up, not a reason to block."""
    device = make_device()
    device.wake_w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    for _ in range(100_000):
        device._decide(("c", 1, "127.0.0.1", 1), "127.0.0.1", 1, "a..b")  # refused at once
        if len(device.decided) > 2000:
            break
    assert len(device.decided) > 2000
    assert all(isinstance(d, Decision) and d.failure is None and not d.up.trusted for d in device.decided[:5])


def test_wire_options_read_only_whole_rfc_options() -> None:
    opts = ipv4.tcp_options(b"\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02\x08\x0a" + struct.pack("!II", 7, 9))
    assert opts == ipv4.Options(mss=1460, wscale=7, sack=True, ts_val=7, ts_ecr=9)
    assert ipv4.tcp_options(b"\x02\x04\x05\xb4\x02\x03\x05") == ipv4.Options(mss=1460)
    assert ipv4.tcp_options(b"\x03\x03\xff") == ipv4.Options(wscale=14)


def raw_options(options: list[tuple[str, object]]) -> bytes:
    """TCP options as they come off the wire (what the device keeps of a SYN)."""
    return bytes(TCP(flags="S", options=options))[20:]


def test_handshake_keeps_client_and_server_options_apart() -> None:
    """The client's SYN and the server's SYN-ACK options, as the device needs both to
    continue the connection in the server's place (1.5: the device answers before the server)."""
    syn = raw_options([("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)])
    synack = raw_options([("MSS", 1400), ("NOP", None), ("WScale", 0)])
    hs = Handshake.of(syn, synack)
    assert (hs.client_mss, hs.client_wscale, hs.client_sack, hs.client_ts) == (1460, 7, True, True)
    assert (hs.server_mss, hs.server_wscale, hs.server_sack, hs.server_ts) == (1400, 0, False, False)


def test_handshake_defaults_without_options_or_with_broken_ones() -> None:
    """No options (or only malformed ones) means MSS 536 (RFC 9293), no window scaling,
    SACK or timestamps."""
    assert Handshake.of(b"", b"") == Handshake()
    assert Handshake.of(b"\x02\x03\x05", b"\x08\x02") == Handshake()
    assert (Handshake().client_mss, Handshake().server_wscale) == (536, None)


def test_the_reset_built_from_bytes_is_the_one_scapy_builds() -> None:
    built = ipv4.tcp_reset("95.56.1.2", 40000, "157.240.241.35", 443, 0xFFFFFFF0)
    assert built.dst == "157.240.241.35"
    assert bytes(built) == bytes(
        IP(src="95.56.1.2", dst="157.240.241.35", id=0, flags=0)
        / TCP(sport=40000, dport=443, flags="R", seq=0xFFFFFFF0, window=0)
    )


# -- kazakhstan.md section 6: what got around the 2019 device ------------------------------
def data(sport: int, port: int, seq: int, payload: bytes, **ip: object) -> bytes:
    """A data segment of the client's (CLIENT, ``sport``) flow to the server's ``port``."""
    return bytes(IP(src=CLIENT, dst=SERVER, **ip) / TCP(sport=sport, dport=port, flags="PA", seq=seq, ack=1) / payload)


FIRST_SEGMENT = "no whole ClientHello in the first data segment (no reassembly)"


def passed_for(device: Interceptor, pkt: FakePacket, reason: str) -> None:
    """``pkt`` went on at once with the pass mark, and the log says why."""
    assert pkt.verdict == "accept" and pkt.mark & rules.MARK_PASS
    assert read(device.config.log)[-1]["reason"] == reason


class SentPackets:
    """An injector that keeps what it is given (the server's reset) instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[ipv4.Built] = []

    def send(self, packet: ipv4.Built) -> None:
        self.sent.append(packet)


def test_a_retransmission_queued_before_the_takeover_never_reaches_the_server(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ClientHello the client retransmits while the device decides and that the device
    reads from its queue only after the takeover (the kernel queued it before the socket
    existed; later ones are delivered to the socket) is dropped, as while deciding.
    Accepted, it reached the server, whose answer at the socket's sequence numbers was
    spliced into the forged handshake: the client timed out and the device logged
    BAD_RECORD_TYPE (kz2020_nursultan, 1 cell in 80, under load). Data past it goes on;
    once the socket is gone (a client's reset reached it), so does a retransmission (the
    server's reset answers it, as a proxy's kernel would). The takeover itself (TCP_REPAIR)
    is the lab tests'; here adopt() gives one end of a socket pair."""
    taken: list[socket.socket] = []

    def adopt(*_: object) -> socket.socket:
        taken.extend(socket.socketpair())
        return taken[0]

    monkeypatch.setattr(interceptor, "adopt", adopt)
    device, port, hello = make_device(), upstream_server.port, client_hello("facebook.com")
    device.injector = SentPackets()  # type: ignore[assignment]
    key = (CLIENT, 46700, SERVER, port)
    held = open_flow(device, CLIENT, 46700, port, hello)
    wait_for(lambda: device.decided, "the decision")
    queued = FakePacket(data(46700, port, 1000, hello))  # in the queue, not read yet
    settle(device, held)
    flow = device.flows.peek(key)
    assert held.verdict == "drop" and flow is not None and flow.handed_over == 1000 + len(hello)
    device.on_packet(queued)  # the relay waits for the client's handshake on the socket
    assert queued.verdict == "drop"
    assert send(device, data(46700, port, 1000 + len(hello), b"finished")).verdict == "accept"
    taken[1].close()  # the client's end goes: the relay is over, the socket gone
    wait_for(lambda: flow.handed_over is None, "the relay to end")
    assert send(device, data(46700, port, 1000, hello)).verdict == "accept"
    assert device.injector.sent  # type: ignore[attr-defined]  # the server's half was reset
    taken[0].close()


def test_a_clienthello_in_two_segments_is_not_intercepted(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """kz_segmentation: the device decides from the first data segment alone; half a
    ClientHello passes the flow, and the second half goes on too."""
    device, port, hello = make_device(), upstream_server.port, client_hello("facebook.com")
    handshake(device, CLIENT, 46000, port)
    half = len(hello) // 2
    passed_for(device, send(device, data(46000, port, 1000, hello[:half])), FIRST_SEGMENT)
    assert send(device, data(46000, port, 1000 + half, hello[half:])).verdict == "accept"
    assert not device.decided and device.flows.deciding == 0
    assert_still_intercepts(device, port)


def test_a_first_copy_cut_short_by_its_ip_length_is_not_intercepted(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """kz_small_ip_length: a copy of the ClientHello whose IP total length is 78 (its first
    38 bytes count), then the whole one: the first passes the flow."""
    device, port, hello = make_device(), upstream_server.port, client_hello("facebook.com")
    handshake(device, CLIENT, 46100, port)
    passed_for(device, send(device, data(46100, port, 1000, hello, len=78)), FIRST_SEGMENT)
    assert send(device, data(46100, port, 1000, hello)).verdict == "accept"
    assert not device.decided


def test_a_second_syn_carrying_a_payload_leaves_the_flow_alone(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """kz_syn_payload: the payload of a second SYN is taken for the flow's first data; the
    flow is passed there, so its ClientHello goes on unread."""
    device, port = make_device(), upstream_server.port
    assert send(device, tcp(CLIENT, 46200, port, "S", seq=999)).verdict == "accept"
    second = send(device, tcp(CLIENT, 46200, port, "S", seq=999, payload=bytes(range(10))))
    passed_for(device, second, "data in a SYN, taken for the flow's first data")
    synack = IP(src=SERVER, dst=CLIENT) / TCP(sport=port, dport=46200, flags="SA", seq=5000, ack=1000)
    assert send(device, bytes(synack)).verdict == "accept"
    assert send(device, data(46200, port, 1000, client_hello("facebook.com"))).verdict == "accept"
    assert not device.decided
    assert_still_intercepts(device, port)


def test_a_client_syn_ack_before_its_syn_turns_the_flow_around(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """kz_tcb_turnaround: the device takes the SYN-ACK's receiver, the server, for the
    client; the real SYN and SYN-ACK change nothing, and the real ClientHello is data from
    "the server", never read: the flow is passed there."""
    device, port = make_device(), upstream_server.port
    assert send(device, tcp(CLIENT, 46300, port, "SA", seq=999)).verdict == "accept"
    handshake(device, CLIENT, 46300, port)
    assert device.flows.peek((SERVER, port, CLIENT, 46300)) is not None
    assert device.flows.peek((CLIENT, 46300, SERVER, port)) is None
    hello = send(device, data(46300, port, 1000, client_hello("facebook.com")))
    passed_for(device, hello, "data from the end the device took for the server")
    assert not device.decided
    assert_still_intercepts(device, port)


def test_only_a_client_syn_ack_starts_a_flow(make_device: Callable[..., Interceptor]) -> None:
    """A server's SYN-ACK whose SYN the device missed starts no flow (the client's first
    data will: under a SYN flood the SYN-ACKs of the SYNs the queue dropped evict nothing);
    a SYN-ACK sent to the server's port, by a client, starts one the other way round."""
    device = make_device()
    server_synack = IP(src=SERVER, dst=CLIENT) / TCP(sport=rules.PORT, dport=46400, flags="SA", seq=5000, ack=1000)
    assert send(device, bytes(server_synack)).verdict == "accept"
    assert len(device.flows) == 0
    client_synack = IP(src=CLIENT, dst=SERVER) / TCP(sport=46401, dport=rules.PORT, flags="SA", seq=999)
    assert send(device, bytes(client_synack)).verdict == "accept"
    assert list(device.flows.flows) == [(SERVER, rules.PORT, CLIENT, 46401)]


@pytest.mark.parametrize("reassemble", [False, True])
def test_a_client_rst_tears_nothing_down(
    reassemble: bool, make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """Geneva's TCB teardown: client RSTs after the handshake's ACK, one with a bad checksum
    and one with a short TTL (and, reassembling, between the ClientHello's segments too),
    change nothing: the flow is intercepted."""
    device, port, hello = make_device(reassemble=reassemble), upstream_server.port, client_hello("facebook.com")
    handshake(device, CLIENT, 46500, port)
    resets = [
        IP(src=CLIENT, dst=SERVER) / TCP(sport=46500, dport=port, flags="R", seq=1000, ack=5001, chksum=0xBAD),
        IP(src=CLIENT, dst=SERVER, ttl=3) / TCP(sport=46500, dport=port, flags="R", seq=1000, ack=5001),
    ]
    ack = IP(src=CLIENT, dst=SERVER) / TCP(sport=46500, dport=port, flags="A", seq=1000, ack=5001)
    for packet in (ack, *resets):
        assert send(device, bytes(packet)).verdict == "accept"
    pieces = [hello[:100], hello[100:]] if reassemble else [hello]
    held = [send(device, data(46500, port, 1000, pieces[0]))]
    if reassemble:
        assert all(send(device, bytes(packet)).verdict == "accept" for packet in resets)
        held.append(send(device, data(46500, port, 1100, pieces[1])))
    assert [p.verdict for p in held] == [None] * len(held)
    d = decision(device, (CLIENT, 46500, SERVER, port))
    assert d.up is not None and d.up.trusted and d.ctx is not None
    d.up.tls.close()
    assert device.stats.counts["resets"] == 2 * (1 + reassemble)


def test_reassembling_a_split_clienthello_intercepts_it(
    make_device: Callable[..., Interceptor], upstream_server: LoopbackServer
) -> None:
    """``reassemble``, the hypothetical stronger device: the ClientHello's segments are
    held until it is whole (a retransmission of held bytes is dropped, an overlapping copy
    adds what is new), then decided: both section-6 splits are intercepted."""
    device, port, hello = make_device(reassemble=True), upstream_server.port, client_hello("facebook.com")
    handshake(device, CLIENT, 46600, port)
    first = send(device, data(46600, port, 1000, hello[:200]))
    assert send(device, data(46600, port, 1000, hello[:200])).verdict == "drop"  # a retransmission
    rest = send(device, data(46600, port, 1200, hello[200:]))
    assert (first.verdict, rest.verdict) == (None, None)
    d = decision(device, (CLIENT, 46600, SERVER, port))
    assert d.up is not None and d.up.trusted
    d.up.tls.close()
    handshake(device, CLIENT, 46601, port)
    short = send(device, data(46601, port, 1000, hello, len=78))
    whole = send(device, data(46601, port, 1000, hello))
    assert (short.verdict, whole.verdict) == (None, None)
    assert device.flows.peek((CLIENT, 46601, SERVER, port)).data == hello
    d = decision(device, (CLIENT, 46601, SERVER, port))
    assert d.up is not None and d.up.trusted
    d.up.tls.close()


def test_reassembling_a_segment_past_a_gap_passes_the_flow(make_device: Callable[..., Interceptor]) -> None:
    device, hello = make_device(reassemble=True), client_hello("facebook.com")
    handshake(device, CLIENT, 46700, 443)
    first = send(device, data(46700, 443, 1000, hello[:100]))
    gap = send(device, data(46700, 443, 1200, hello[200:]))
    assert first.verdict == gap.verdict == "accept" and first.mark & gap.mark & rules.MARK_PASS
    assert read(device.config.log)[-1]["reason"] == "out of order"
