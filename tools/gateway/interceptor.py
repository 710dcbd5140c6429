"""The 2019 HTTPS interception device, as a DPI middlebox on the ISP gateway.

It decides from the packets it sees (DESIGN principle 7), in the kernel where it can:
iptables sends to NFQUEUE only what a decision needs, for port-443 flows crossing the
node in either direction (kazakhstan.md 1.4): the SYN and SYN-ACK (to learn the TCP
options) and the client's segments until its ClientHello is whole. Then:

- no TLS, no SNI, or an SNI not on the list (1.3: exact names, so m.facebook.com is not
  intercepted): the held segments go on unchanged and the flow is marked (connmark) so
  that no later packet of it leaves the kernel: same bytes, same certificate;
- an SNI on the list (1.2): the device connects to the server itself (1.9), and if the
  server's chain is one it trusts (1.2), takes the connection over (takeover.py: the
  client's handshake is continued, the server's half reset), serves a forged leaf and
  the national chain (1.7, 1.8) and relays the decrypted traffic unchanged (1.10),
  logging what it reads (surveillance.py); an untrusted server's flow passes untouched.

A ClientHello whose TTL runs out beyond the gateway is still answered (1.5), because the
device answers at the gateway. Packets with bad lengths, truncated or oversized
ClientHellos, or none at all are passed on, never fatal. If the process dies, the queue
is bypassed (fail open) and traffic flows as if the device were absent.

Run inside the gateway node: ``python -m tools.gateway.interceptor CONFIG.json``.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from netfilterqueue import NetfilterQueue
from scapy.layers.inet import IP, TCP

from tools.dpi.inject import Injector
from tools.dpi.tls import parse_client_hello
from tools.gateway import mitm, rules, upstream
from tools.gateway.national_ca import GENERATIONS, NationalCA
from tools.gateway.surveillance import Log
from tools.gateway.takeover import Handshake, Segment, adopt
from tools.gateway.walled_garden import WalledGarden
from tools.services.pki import key_pem, pem, write_private

MAX_HELD_SEGMENTS = 8
MAX_HELLO_BYTES = 16 * 1024
FLOW_TTL = 60.0


@dataclass
class Flow:
    handshake: Handshake = field(default_factory=Handshake)
    held: list = field(default_factory=list)  # netfilterqueue packets awaiting a verdict
    data: bytes = b""
    first: Segment | None = None
    state: str = "handshake"  # handshake, collecting, deciding, done
    seen: float = field(default_factory=time.monotonic)


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

    @classmethod
    def load(cls, path: str) -> Config:
        raw: dict[str, Any] = json.loads(Path(path).read_text())
        raw["targets"] = frozenset(t.lower() for t in raw["targets"])
        raw["walled"] = tuple(raw.get("walled", ()))
        for key in ("ca_dir", "workdir", "log"):
            raw[key] = Path(raw[key])
        return cls(**raw)


class Interceptor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.ca = NationalCA.load(config.ca_dir, GENERATIONS[config.generation])
        self.ca.shift_hours = config.shift_hours
        self.upstream_ctx = upstream.context(config.trust_bundle)
        self.log = Log(config.log)
        self.flows: dict[tuple, Flow] = {}
        self.contexts: dict[bytes, ssl.SSLContext] = {}
        self.contexts_lock = threading.Lock()
        self.workers = ThreadPoolExecutor(max_workers=16)
        self.decided: list[tuple[tuple, upstream.Upstream]] = []
        self.decided_lock = threading.Lock()
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_r.setblocking(False)
        self.garden = WalledGarden(config.portal, list(config.walled), self.log)
        self.injector = Injector()

    # -- the queue ---------------------------------------------------------------------
    def on_packet(self, pkt: Any) -> None:
        try:
            ip = IP(pkt.get_payload())
            tcp = ip[TCP]
        except (IndexError, ValueError, TypeError):
            pkt.accept()  # not something this device understands: forward it
            return
        if tcp.flags.S:
            self._on_syn(pkt, ip, tcp)
            return
        key = (ip.src, tcp.sport, ip.dst, tcp.dport)
        flow = self.flows.get(key)
        payload = bytes(tcp.payload)
        if (tcp.flags.R or tcp.flags.F) and flow is not None and flow.state == "collecting":
            self._pass(key, flow, None, "closed before a whole ClientHello")
        if not payload or tcp.flags.R or tcp.flags.F:
            pkt.accept()
            return
        if flow is None:  # a flow whose handshake the device missed
            flow = self.flows[key] = Flow()
        if flow.state == "done":
            pkt.accept()
            return
        if flow.state == "deciding":
            pkt.drop()  # a retransmission of what the device holds
            return
        self._collect(key, flow, pkt, ip, tcp, payload)

    def _on_syn(self, pkt: Any, ip: Any, tcp: Any) -> None:
        if tcp.flags.A:  # SYN-ACK from the server
            flow = self.flows.get((ip.dst, tcp.dport, ip.src, tcp.sport))
            if flow is not None:
                flow.handshake.see_syn(tcp.options, from_client=False)
        else:
            flow = self.flows[(ip.src, tcp.sport, ip.dst, tcp.dport)] = Flow()
            flow.handshake.see_syn(tcp.options, from_client=True)
        pkt.accept()

    def _collect(self, key: tuple, flow: Flow, pkt: Any, ip: Any, tcp: Any, payload: bytes) -> None:
        if flow.first is None:
            ts = dict(tcp.options).get("Timestamp")
            flow.first = Segment(
                (ip.src, tcp.sport),
                (ip.dst, tcp.dport),
                tcp.seq,
                tcp.ack,
                tcp.window,
                ts[1] if ts else None,
                time.monotonic(),
            )
            flow.state = "collecting"
        expected = (flow.first.seq + len(flow.data)) & 0xFFFFFFFF
        if tcp.seq != expected:
            if _seq_before(tcp.seq, expected):
                pkt.drop()  # a retransmission of held data
                return
            flow.held.append(pkt)
            self._pass(key, flow, None, "out of order")
            return
        flow.held.append(pkt)
        flow.data += payload
        hello = parse_client_hello(flow.data)
        if not hello.decided:
            if len(flow.held) > MAX_HELD_SEGMENTS or len(flow.data) > MAX_HELLO_BYTES:
                self._pass(key, flow, None, "ClientHello too long to wait for")
            return
        if not hello.is_tls or not hello.sni:
            self._pass(key, flow, None, "no TLS" if not hello.is_tls else "no SNI")
            return
        if hello.sni not in self.config.targets and not self.garden.contains(ip.src):
            self._pass(key, flow, hello.sni, "not a target")
            return
        flow.state = "deciding"
        self.workers.submit(self._decide, key, ip.dst, tcp.dport, hello.sni)

    def _pass(self, key: tuple, flow: Flow, sni: str | None, reason: str) -> None:
        for held in flow.held:
            held.set_mark(held.get_mark() | rules.MARK_PASS)
            held.accept()
        flow.held.clear()
        flow.state = "done"
        self.log.write("passed", key[0], sni=sni, server=key[2], reason=reason)

    # -- the slow path (worker threads) -------------------------------------------------
    def _decide(self, key: tuple, address: str, port: int, sni: str) -> None:
        up = upstream.connect(self.upstream_ctx, address, port, sni)
        if up.trusted:
            self._server_context(up.certificate)  # forge here: a new key takes ~0.1 s, not on the loop
        with self.decided_lock:
            self.decided.append((key, up, sni))
        self.wake_w.send(b"x")

    def _finish(self, key: tuple, up: upstream.Upstream, sni: str) -> None:
        flow = self.flows.get(key)
        if flow is None:
            if up.tls:
                up.tls.close()
            return
        if not up.trusted:
            self._pass(key, flow, sni, f"server not trusted by the device ({up.failure})")
            return
        try:
            sock = adopt(flow.first, flow.handshake, flow.data)
        except OSError as exc:
            up.tls.close()
            self._pass(key, flow, sni, f"takeover failed: {exc}")
            return
        for held in flow.held:
            held.drop()
        flow.held.clear()
        flow.state = "done"
        client, server = flow.first.client, flow.first.server
        # The server's half of the client's connection is abandoned: reset it, at exactly the
        # sequence number it expects (it never got the held ClientHello), or it would answer
        # with a challenge ACK (RFC 5961) whose fresh timestamp breaks the client's PAWS.
        self.injector.send(
            IP(src=client[0], dst=server[0]) / TCP(sport=client[1], dport=server[1], flags="R", seq=flow.first.seq)
        )
        self.log.write(
            "intercepted",
            client[0],
            sni=sni,
            server=server[0],
            real_subject=up.certificate.subject.rfc4514_string(),
        )
        ctx = self._server_context(up.certificate)
        threading.Thread(
            target=mitm.serve,
            daemon=True,
            args=(sock, up.tls, ctx, self.log, client[0], sni, self._rejected, self.garden.release),
        ).start()

    def _rejected(self, subscriber: str) -> None:
        if self.config.enforcement:
            self.garden.wall(subscriber, "rejected the national chain")

    def _server_context(self, real: Any) -> ssl.SSLContext:
        """The TLS context serving the forged leaf for ``real``, one per real certificate."""
        fp = real.fingerprint(hashes.SHA256())
        with self.contexts_lock:
            if fp not in self.contexts:
                leaf, key = self.ca.forge(real)
                base = self.config.workdir / fp.hex()[:16]
                (base.with_suffix(".crt")).write_bytes(pem(leaf) + self.ca.chain_pem())
                write_private(base.with_suffix(".key"), key_pem(key))
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(base.with_suffix(".crt"), base.with_suffix(".key"))
                ctx.set_alpn_protocols(["http/1.1"])
                self.contexts[fp] = ctx
            return self.contexts[fp]

    # -- the loop ------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        queue = NetfilterQueue()
        queue.bind(self.config.queue, self.on_packet, max_len=4096)
        fd = queue.get_fd()
        try:
            while not stop.is_set():
                readable, _, _ = select.select([fd, self.wake_r], [], [], 1.0)
                if fd in readable:
                    queue.run(block=False)
                if self.wake_r in readable:
                    self._drain_decisions()
                self._expire()
        finally:
            queue.unbind()

    def _drain_decisions(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        with self.decided_lock:
            decided, self.decided = self.decided, []
        for key, up, sni in decided:
            try:
                self._finish(key, up, sni)
            except Exception as exc:  # noqa: BLE001 - one bad flow must never stop the device
                print(f"interceptor: {key}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                flow = self.flows.get(key)
                if flow is not None and flow.held:
                    self._pass(key, flow, sni, f"device error: {exc}")

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, f in self.flows.items() if now - f.seen > FLOW_TTL and f.state != "deciding"]:
            flow = self.flows.pop(key)
            for held in flow.held:
                held.accept()


def _seq_before(a: int, b: int) -> bool:
    return ((a - b) & 0xFFFFFFFF) > 0x7FFFFFFF


def main(argv: list[str]) -> int:
    config = Config.load(argv[0])
    device = Interceptor(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rules.install(config.queue)
    device.garden.install()
    print(f"interceptor: ready on queue {config.queue}, {len(config.targets)} target names", flush=True)
    try:
        device.run(stop)
    finally:
        device.garden.remove()
        rules.remove(config.queue)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
