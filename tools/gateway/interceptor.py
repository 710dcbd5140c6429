"""The 2019 HTTPS interception device, as a DPI middlebox on the ISP gateway.

It decides from the packets it sees (DESIGN principle 7), in the kernel where it can:
iptables sends to NFQUEUE only what a decision needs, for port-443 flows crossing the
node in either direction (kazakhstan.md 1.4): the SYN and SYN-ACK (to learn the TCP
options) and the client's first data segment. Then:

- no TLS, no SNI, or an SNI not on the list (1.3: exact names, so m.facebook.com is not
  intercepted): the segment goes on unchanged and the flow is marked (connmark) so that
  no later packet of it leaves the kernel: same bytes, same certificate;
- an SNI on the list (1.2): the device connects to the server itself (1.9), and if the
  server's chain is one it trusts (1.2), takes the connection over (takeover.py: the
  client's handshake is continued, the server's half reset), serves a forged leaf and
  the national chain (1.7, 1.8) and relays the decrypted traffic unchanged (1.10),
  logging what it reads (surveillance.py); an untrusted server's flow passes untouched.

A ClientHello whose TTL runs out beyond the gateway is still answered (1.5), because the
device answers at the gateway. Packets with bad lengths, truncated or oversized
ClientHellos, or none at all are passed on, never fatal. If the process dies, the queue
is bypassed (fail open) and traffic flows as if the device were absent.

What got around it (section 6, Geneva 2019) follows from how little state it keeps:

- it does not reassemble TCP: it decides from the first data segment it sees, and a
  segment that is not a whole ClientHello passes its flow (a ClientHello in two
  segments; a first copy cut short by its IP total length, which the gateway's kernel
  trims to that length before the device reads it);
- its state for a flow comes from the first packet it sees of it (``_on_syn``): a SYN
  makes its sender the client, a SYN-ACK its receiver, and a packet of a flow known the
  other way round changes nothing. A client's SYN-ACK sent before its SYN ("TCB
  turnaround") makes the device take the server for the client, so the real client's
  ClientHello is data from "the server", never read; the payload of a SYN ("load on
  second SYN") is taken for the flow's first data, which is no ClientHello;
- a client's RST (or FIN), whatever its checksum or TTL, changes nothing: the TCB
  teardown that worked against China's firewall did not work here. (The device reads no
  checksum, as a DPI that takes what it sees; a bad-checksum RST dies at the server, and
  after a takeover at the device's own socket, which checks it.)

``reassemble`` makes a stronger, hypothetical device, for a lab to contrast with: it
holds the client's segments until the ClientHello is whole (a bounded wait: at most
MAX_HELD_SEGMENTS and MAX_HELLO_BYTES; a retransmission that overlaps what it holds adds
its new bytes, a gap passes the flow), so splitting the ClientHello no longer gets around it.

Hostile input is the normal case (DESIGN principle 8), so one rule holds for every
packet: whatever goes wrong while handling it, that packet is accepted (the device
fails open), its flow is passed on, the error is counted and logged by kind (stats.py),
and the loop goes on. State is bounded: the flow table (flows.py: idle expiry, a maximum
size, a deadline on every decision), the decisions waiting for a worker (pool.py: when
the queue is full the flow is passed) and the intercepted connections being relayed
(``max_relays``: past it the flow is passed). Nothing on the loop blocks: decisions,
forging (forged.py) and the walled garden's iptables changes run on other threads.
The counters are in ``interceptor-stats.json`` in the working directory.

Run inside the gateway node: ``python -m tools.gateway.interceptor CONFIG.json``.
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.dpi import ipv4, nfqueue
from tools.dpi.inject import Injector
from tools.dpi.tls import parse_client_hello
from tools.gateway import mitm, rules, upstream
from tools.gateway.flows import COLLECTING, DECIDING, DONE, HANDSHAKE, Flow, FlowTable, Key
from tools.gateway.forged import ForgedContexts
from tools.gateway.national_ca import GENERATIONS, NationalCA, SpareKeys
from tools.gateway.pool import Pool
from tools.gateway.stats import Stats, rss_kb
from tools.gateway.surveillance import Log
from tools.gateway.takeover import Handshake, Segment, adopt
from tools.gateway.walled_garden import WalledGarden

MAX_HELD_SEGMENTS = 8  # with ``reassemble``: segments held for one ClientHello, at most
MAX_HELLO_BYTES = 16 * 1024  # and their bytes
SPARE_KEYS_AT_START, SPARE_WAIT = 8, 10.0  # spares made before it says ready, within seconds
SPARE_KEYS = 16  # fresh leaf keys made ahead (national_ca.SpareKeys): a phase first meets many names at once
TICK = 0.02  # seconds between housekeeping rounds (decisions, expiry) while packets flow
STATS_EVERY = 1.0  # seconds between writes of the stats file


@dataclass(frozen=True)
class Config:
    queue: int
    targets: frozenset[str]
    ca_dir: Path
    generation: str
    shift_hours: int
    trust_bundle: str
    workdir: Path
    log: Path
    enforcement: bool = False
    walled: tuple[str, ...] = ()
    portal: str | None = None
    max_flows: int = 16384  # flows tracked at once; the least recently seen goes first
    flow_ttl: float = 30.0  # seconds a flow may go unseen
    decide_timeout: float = 2 * upstream.TIMEOUT + 2  # a decision not back by then passes its flow
    workers: int = 16  # threads deciding (the device's own connections) at once
    max_pending: int = 256  # decisions waiting for a worker; past it a flow is passed
    max_relays: int = 512  # intercepted connections at once; past it a flow is passed
    reassemble: bool = False  # the hypothetical stronger device (section 6: the real one did not)
    spare_keys: int = SPARE_KEYS  # leaf keys made ahead; 0: each made when its host is first met

    @classmethod
    def load(cls, path: str) -> Config:
        raw: dict[str, Any] = json.loads(Path(path).read_text())
        raw["targets"] = frozenset(t.lower() for t in raw["targets"])
        raw["walled"] = tuple(raw.get("walled", ()))
        for key in ("ca_dir", "workdir", "log"):
            raw[key] = Path(raw[key])
        return cls(**raw)


@dataclass(frozen=True)
class Decision:
    """What a worker found: the device's connection to the server and, when the server is
    trusted, the forged context to serve; or why the flow is to be passed."""

    key: Key
    sni: str
    up: upstream.Upstream | None
    ctx: ssl.SSLContext | None = None
    failure: str | None = None


class Interceptor:
    def __init__(self, config: Config) -> None:
        self.config = config
        ca = NationalCA.load(config.ca_dir, GENERATIONS[config.generation])
        ca.shift_hours = config.shift_hours
        self.spares = ca.spares = SpareKeys(config.spare_keys)
        self.contexts = ForgedContexts(ca, config.workdir)
        self.upstream_ctx = upstream.context(config.trust_bundle)
        self.sessions = upstream.Sessions()
        self.log = Log(config.log)
        self.stats = Stats(config.workdir / "interceptor-stats.json")
        self.flows = FlowTable(config.max_flows, config.flow_ttl, config.decide_timeout)
        self.pool = Pool(config.workers, config.max_pending, lambda exc: self.stats.error("worker", exc))
        self.decided: list[Decision] = []
        self.decided_lock = threading.Lock()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        self.relays = 0  # intercepted connections being served
        self.relays_lock = threading.Lock()
        self.garden = WalledGarden(config.portal, list(config.walled), self.log)
        self.injector: Injector | None = None  # a raw socket, opened by run()
        self.next_tick = self.next_stats = 0.0

    # -- the queue ---------------------------------------------------------------------
    def on_packet(self, pkt: Any) -> None:
        """The queue's callback: exactly one verdict for ``pkt``, whatever it holds."""
        self.stats.count("packets")
        parsed = None
        try:
            parsed = ipv4.parse(pkt.get_payload())
            self._handle(pkt, parsed)
        except Exception as exc:  # noqa: BLE001 - one packet must never stop the device
            self.stats.error(f"packet:{type(exc).__name__}", exc)
            _verdict(pkt.accept)  # the device fails open
            if parsed is not None and (flow := self.flows.pop(parsed.key)) is not None:
                self._pass(parsed.key, flow, f"device error: {type(exc).__name__}")
        now = time.monotonic()
        if now >= self.next_tick:  # also under a flood, when the loop never gets to wait
            self.tick(now)

    def _handle(self, pkt: Any, p: ipv4.Packet | None) -> None:
        if p is None or not p.tcp:
            self.stats.count("not_understood")
            pkt.accept()  # not something this device understands: forward it
            return
        now = time.monotonic()
        if p.flags & ipv4.SYN:
            self._on_syn(pkt, p, now)
            return
        if p.flags & ipv4.RST:
            self.stats.count("resets")
        key = p.key
        flow = self.flows.get(key, now)
        if flow is None and (other := self.flows.get(p.reverse_key, now)) is not None:
            self._from_server(pkt, p, other)
            return
        if not p.payload or p.flags & (ipv4.RST | ipv4.FIN):
            pkt.accept()  # section 6: a RST (or FIN) tears nothing down, whatever its checksum or TTL
            return
        if flow is None:  # a flow whose handshake the device missed (or forgot)
            flow = self._new_flow(key, now)
        if flow.state == DECIDING or (flow.state == DONE and flow.handed(p.seq, len(p.payload))):
            # A retransmission of what the device holds, or of what its takeover's socket
            # has (queued before the socket existed): accepted, it would reach the server,
            # whose answer at the socket's sequence numbers would be spliced into the
            # forged handshake.
            pkt.drop()
        elif flow.state == DONE:
            pkt.accept()
        else:
            self._collect(key, flow, pkt, p, now)

    def _on_syn(self, pkt: Any, p: ipv4.Packet, now: float) -> None:
        """A flow's state comes from the first packet the device sees of it (section 6): a
        SYN makes its sender the client, a SYN-ACK its receiver. A SYN or SYN-ACK of a flow
        it knows the other way round changes nothing: after a client's SYN-ACK ("TCB
        turnaround") the real SYN is the "server's", and so is the ClientHello
        (``_from_server``). A SYN's payload is taken for the flow's first data.

        A server's SYN-ACK whose SYN the device missed (evicted, or dropped by a full
        queue) starts no flow: the client's first data starts the same one. Under a SYN
        flood, that keeps the SYN-ACKs of the SYNs the queue dropped from evicting flows."""
        synack = bool(p.flags & ipv4.ACK)
        self.stats.count("syn_acks" if synack else "syns")
        key, other = (p.reverse_key, p.key) if synack else (p.key, p.reverse_key)
        flow = self.flows.get(key, now)
        if flow is None and (self.flows.get(other, now) is not None or (synack and p.sport == rules.PORT)):
            pkt.accept()  # known the other way round, or a server's SYN-ACK the device has no SYN for
            return
        if flow is None or (not synack and flow.state != HANDSHAKE):  # not a retransmitted SYN: a new flow
            flow = self._new_flow(key, now)
        if synack:
            if flow.state == HANDSHAKE:
                flow.server_options = p.options
        elif p.payload:  # "load on second SYN": no ClientHello, and no connection yet to take over
            flow.held.append(pkt)
            self._pass(key, flow, "data in a SYN, taken for the flow's first data")
            return
        else:
            flow.client_options = p.options
        pkt.accept()

    def _from_server(self, pkt: Any, p: ipv4.Packet, flow: Flow) -> None:
        """A packet from the end the device took for the server (after a TCB turnaround,
        the real client): the device reads only its client's data, so the flow's ClientHello
        is never read. The flow is passed at the first such data segment, marked so that
        the kernel keeps the rest (its "client's" data, the real server's, never reaches
        the queue: the rules queue port-443 destinations)."""
        if not p.payload or flow.state == DONE:
            pkt.accept()
            return
        flow.held.append(pkt)
        self._pass(p.reverse_key, flow, "data from the end the device took for the server")

    def _new_flow(self, key: Key, now: float) -> Flow:
        flow, displaced = self.flows.new(key, now)
        for old_key, old in displaced:
            if old_key != key:
                self.stats.count("flows_evicted")
            if old.state != HANDSHAKE:  # a flow past its handshake may hold packets, or be deciding
                self._pass(old_key, old, "evicted: the flow table is full" if old_key != key else "replaced by a SYN")
        return flow

    def _collect(self, key: Key, flow: Flow, pkt: Any, p: ipv4.Packet, now: float) -> None:
        """A client's data segment: its flow's first, decided from alone (section 6), or,
        with ``reassemble``, the next one of a ClientHello not whole yet."""
        if flow.first is None:
            flow.first = Segment(
                (p.src, p.sport), (p.dst, p.dport), p.seq, p.ack, p.window, ipv4.tcp_options(p.options).ts_ecr, now
            )
            flow.state = COLLECTING
            flow.held.append(pkt)
            flow.data = p.payload
        elif not self._reassembled(key, flow, pkt, p):
            return
        hello = parse_client_hello(flow.data)
        if not hello.decided:
            if not self.config.reassemble:
                self._pass(key, flow, "no whole ClientHello in the first data segment (no reassembly)")
            elif len(flow.held) > MAX_HELD_SEGMENTS or len(flow.data) > MAX_HELLO_BYTES:
                self._pass(key, flow, "ClientHello too long to wait for")
            return
        if not hello.is_tls or not hello.sni:
            self._pass(key, flow, "no TLS" if not hello.is_tls else "no SNI")
            return
        flow.sni = hello.sni
        if hello.sni not in self.config.targets and not self.garden.contains(p.src):
            self._pass(key, flow, "not a target")
            return
        if self.relays + self.flows.deciding >= self.config.max_relays:
            self.stats.count("passed_overload_relays")
            self._pass(key, flow, "overload: too many intercepted connections")
            return
        self.flows.start_deciding(key, flow, now)
        if not self.pool.submit(self._decide, key, p.dst, p.dport, hello.sni):
            self.stats.count("passed_overload_decisions")
            self._pass(key, flow, "overload: too many decisions waiting")

    def _reassembled(self, key: Key, flow: Flow, pkt: Any, p: ipv4.Packet) -> bool:
        """With ``reassemble``: whether ``p`` added bytes to the ClientHello held so far. A
        segment that overlaps them adds what lies past them (a first copy cut short by its
        IP length, then the whole one); one within or before them is a retransmission
        (dropped: the device holds it); one past a gap passes the flow."""
        if flow.first is None:
            raise RuntimeError(f"flow {key} is collecting without its first segment")
        offset = (p.seq - flow.first.seq) & 0xFFFFFFFF
        if len(flow.data) < offset <= 0x7FFFFFFF:
            flow.held.append(pkt)
            self._pass(key, flow, "out of order")
            return False
        new = p.payload[len(flow.data) - offset :] if offset <= len(flow.data) else b""
        if not new:
            pkt.drop()
            return False
        flow.held.append(pkt)
        flow.data += new
        return True

    def _pass(self, key: Key, flow: Flow, reason: str) -> None:
        """Let the flow go on untouched: its held packets leave with the pass mark, so that
        the connection's later packets stay in the kernel."""
        for held in flow.held:
            held.set_mark(held.get_mark() | rules.MARK_PASS)
            _verdict(held.accept)
        self.flows.stop_deciding(key)
        if flow.state in (COLLECTING, DECIDING) or flow.held:
            self.log.write("passed", key[0], sni=flow.sni, server=key[2], reason=reason)
        flow.done()

    # -- the slow path (worker threads) -------------------------------------------------
    def _decide(self, key: Key, address: str, port: int, sni: str) -> None:
        """Connect to the server and, if it is trusted, have the forged context ready. Any
        error becomes a decision to pass the flow. TLS sessions are kept for listed names
        only: the names walled subscribers make up would spend the reads (upstream.Sessions)."""
        up = None
        try:
            sessions = self.sessions if sni in self.config.targets else None
            up = upstream.connect(self.upstream_ctx, address, port, sni, sessions)
            real = up.certificate if up.trusted else None  # every trusted connection has one
            decision = Decision(key, sni, up, self.contexts.get(real) if real is not None else None)
        except Exception as exc:  # noqa: BLE001 - a failed decision passes the flow, never hangs it
            self.stats.error(f"decide:{type(exc).__name__}", exc)
            if up is not None and up.tls is not None:
                up.tls.close()
            decision = Decision(key, sni, None, failure=f"device error: {type(exc).__name__}: {exc}")
        with self.decided_lock:
            self.decided.append(decision)
        with contextlib.suppress(BlockingIOError):  # the loop has wake-ups enough pending
            self.wake_w.send(b"x")

    def _finish(self, d: Decision) -> None:
        """On the loop: act on a decision, if its flow still waits for one."""
        flow = self.flows.peek(d.key)
        if flow is None or flow.state != DECIDING:  # passed meanwhile (deadline, eviction, reset)
            self.stats.count("decisions_late")
            if d.up is not None and d.up.tls is not None:
                d.up.tls.close()
            return
        self.stats.count("decisions")
        up, ctx, first = d.up, d.ctx, flow.first
        # A trusted connection has its socket and certificate, and gets a forged context.
        if d.failure is not None or up is None or up.tls is None or up.certificate is None or ctx is None:
            reason = d.failure or f"server not trusted by the device ({up.failure if up else None})"
            self._pass(d.key, flow, reason)
            return
        if first is None:  # a flow is deciding only once its ClientHello's first segment is in
            up.tls.close()
            raise RuntimeError(f"flow {d.key} is deciding without its first segment")
        try:
            sock = adopt(first, Handshake.of(flow.client_options, flow.server_options), flow.data)
        except OSError as exc:
            up.tls.close()
            self._pass(d.key, flow, f"takeover failed: {exc}")
            return
        for held in flow.held:
            _verdict(held.drop)
        self.flows.stop_deciding(d.key)
        flow.done(handed_over=first.seq + len(flow.data))
        self.stats.count("intercepted")
        self.log.write(
            "intercepted",
            d.key[0],
            sni=d.sni,
            server=d.key[2],
            real_subject=up.certificate.subject.rfc4514_string(),
        )
        with self.relays_lock:
            self.relays += 1
        threading.Thread(target=self._relay, daemon=True, args=(sock, d, up.tls, ctx, first.seq, flow)).start()

    def _relay(
        self, sock: socket.socket, d: Decision, tls: ssl.SSLSocket, ctx: ssl.SSLContext, seq: int, flow: Flow
    ) -> None:
        """One intercepted connection's thread: reset the server's half of the client's
        connection, then serve the client (mitm.serve) over ``tls``, the device's connection
        to the server, with ``ctx``, the forged context. Once it is over, the socket is
        gone: a retransmission of what the socket was given goes on to the server (whose
        reset answers it, as a proxy's kernel would) instead of being dropped."""
        client, _, server, sport = d.key
        try:
            if self.injector is None:
                raise RuntimeError("no raw socket to reset the server's half: run() opens it before any flow")
            # The server's half is abandoned: reset it at exactly the sequence number it
            # expects (it never got the held ClientHello), or it would answer with a challenge
            # ACK (RFC 5961) whose fresh timestamp breaks the client's PAWS.
            self.injector.send(ipv4.tcp_reset(client, d.key[1], server, sport, seq))
            mitm.serve(sock, tls, ctx, self.log, client, d.sni, self._rejected, self.garden.release)
        except Exception as exc:  # noqa: BLE001 - counted; the connection is over either way
            self.stats.error(f"relay:{type(exc).__name__}", exc)
            sock.close()
            tls.close()
        finally:
            flow.handed_over = None
            with self.relays_lock:
                self.relays -= 1

    def _rejected(self, subscriber: str) -> None:
        if self.config.enforcement:
            self.garden.wall(subscriber, "rejected the national chain")

    # -- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        self.injector = Injector()
        queue = nfqueue.bind(self.config.queue, self.on_packet)
        fd = queue.get_fd()
        try:
            while not stop.is_set():
                readable, _, _ = select.select([fd, self.wake_r.fileno()], [], [], TICK * 10)
                if fd in readable:
                    queue.run(block=False)
                self.tick(time.monotonic())
        finally:
            queue.unbind()
            self.pool.stop()
            self.write_stats()

    def tick(self, now: float) -> None:
        """Housekeeping: act on the decisions that came back, expire what is due, and
        write the counters every STATS_EVERY seconds."""
        self.next_tick = now + TICK
        try:
            self._drain_decisions()
            self.expire(now)
            if now >= self.next_stats:
                self.next_stats = now + STATS_EVERY
                self.write_stats()
        except Exception as exc:  # noqa: BLE001 - housekeeping must not stop the device either
            self.stats.error(f"tick:{type(exc).__name__}", exc)

    def _drain_decisions(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self.decided_lock:
            decided, self.decided = self.decided, []
        for d in decided:
            try:
                self._finish(d)
            except Exception as exc:  # noqa: BLE001 - one bad flow must never stop the device
                self.stats.error(f"finish:{type(exc).__name__}", exc)
                if (flow := self.flows.peek(d.key)) is not None:
                    self._pass(d.key, flow, f"device error: {type(exc).__name__}")

    def expire(self, now: float) -> None:
        idle, overdue = self.flows.expired(now)
        for key, flow in idle:
            self.stats.count("flows_expired")
            self._pass(key, flow, "idle")
        for key, flow in overdue:
            self.stats.count("passed_decision_deadline")
            self._pass(key, flow, f"no decision within {self.config.decide_timeout:g}s")

    def write_stats(self) -> None:
        self.stats.write(
            flows=len(self.flows),
            deciding=self.flows.deciding,
            pending_decisions=self.pool.pending(),
            relays=self.relays,
            **rss_kb(),
        )


def _verdict(action: Any) -> None:
    """Give a verdict to a queued packet that may have had one already."""
    with contextlib.suppress(RuntimeError):  # "Verdict already given for this packet"
        action()


def main(argv: list[str]) -> int:
    config = Config.load(argv[0])
    device = Interceptor(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rules.install(config.queue)
    device.garden.install()
    device.spares.wait(SPARE_KEYS_AT_START, SPARE_WAIT)  # the first names it meets need not wait for keys
    device.write_stats()  # the counters exist from the moment it says ready
    print(f"interceptor: ready on queue {config.queue}, {len(config.targets)} target names", flush=True)
    try:
        device.run(stop)
    finally:
        device.garden.remove()
        rules.remove(config.queue)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
