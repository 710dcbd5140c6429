"""Readiness checks: what a service must answer before the lab counts it as up.

Each check is tried by the lab process itself from inside the service's node: one
thread per node enters the node's network namespace (topologies/kernel.py) and asks as a
client there would (a TCP connection, a DNS answer, routes in the kernel), so waiting
starts no process per check and no shell loop; an attempt costs a system call or two,
so a check can be retried every few milliseconds and passes almost as soon as the
service answers.
"""

from __future__ import annotations

import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tools.dpi.dns import CLASS_IN, HEADER, QR, RD, TYPE_A
from topologies import kernel

RETRY = 0.01  # seconds between attempts at a check that did not pass yet
ATTEMPT = 0.5  # how long one attempt waits for an answer

Probe = Callable[[], bool]  # one attempt, in the calling thread's network namespace


@dataclass(frozen=True)
class TcpOpen:
    """Something accepts TCP connections at address:port."""

    address: str
    port: int

    def __call__(self) -> bool:
        with socket.socket() as s:
            s.settimeout(ATTEMPT)
            return s.connect_ex((self.address, self.port)) == 0


@dataclass(frozen=True)
class DnsAnswers:
    """``server`` answers a recursive A query for ``name`` with at least one address."""

    server: str
    name: str

    def __call__(self) -> bool:
        ident = secrets.randbits(16)
        labels = b"".join(bytes([len(label)]) + label.encode() for label in self.name.split("."))
        query = HEADER.pack(ident, RD, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", TYPE_A, CLASS_IN)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(ATTEMPT)
            try:
                s.connect((self.server, 53))
                s.send(query)
                while (reply := s.recv(4096))[:2] != query[:2]:
                    pass
            except OSError:  # refused (nothing listens yet) or no answer in time
                return False
        return has_address(reply)


def has_address(reply: bytes) -> bool:
    """A DNS response with rcode 0 whose answer section holds an IN A record."""
    try:
        _, flags, qdcount, ancount, _, _ = HEADER.unpack_from(reply)
        if not flags & QR or flags & 0xF:
            return False
        pos = HEADER.size
        for _ in range(qdcount):
            pos = _skip_name(reply, pos) + 4
        for _ in range(ancount):
            pos = _skip_name(reply, pos)
            rtype, rclass, _, length = struct.unpack_from("!HHIH", reply, pos)
            pos += 10 + length
            if pos > len(reply):
                return False
            if (rtype, rclass, length) == (TYPE_A, CLASS_IN, 4):
                return True
    except (struct.error, IndexError):
        return False
    return False


def _skip_name(data: bytes, pos: int) -> int:
    """The offset just past the (possibly compressed) name at ``pos``."""
    while (length := data[pos]) != 0:
        if length >= 0xC0:
            return pos + 2
        pos += 1 + length
    return pos + 1


@dataclass(frozen=True)
class KernelRoutes:
    """The kernel's main IPv4 table holds at least ``count`` routes of ``protocol``
    (RTPROT_*: 12 is BIRD), as ``ip -4 route show proto P`` would list."""

    protocol: int
    count: int

    def __call__(self) -> bool:
        with kernel.Netlink() as nl:
            return nl.count_routes(self.protocol) >= self.count


@dataclass(frozen=True)
class Readiness:
    """A check, tried inside ``node``'s network namespace, that passes once a service
    answers; not before ``after`` has passed, when trying earlier would spoil it (a
    resolver asked before the root answers caches the failure)."""

    node: str
    what: str
    probe: Probe
    after: Readiness | None = None


def tcp_ready(node: str, what: str, address: str, port: int) -> Readiness:
    return Readiness(node, what, TcpOpen(address, port))


def dns_ready(node: str, what: str, server: str, name: str, after: Readiness | None = None) -> Readiness:
    return Readiness(node, what, DnsAnswers(server, name), after)


def wait(
    checks: list[Readiness], pids: dict[str, int], timeout: float, passing: Callable[[], None] = lambda: None
) -> list[tuple[Readiness, str]]:
    """Try every check until it passes, one thread per node (``pids``: a process in each
    node), the checks of a node one after another, calling ``passing`` for each that
    passes; returns those that did not pass within ``timeout``, each with why."""
    deadline = time.monotonic() + timeout
    passed = {check: threading.Event() for check in checks}
    failed: list[tuple[Readiness, str]] = []

    def node_waiter(node: str) -> None:
        mine = [c for c in checks if c.node == node]
        current = mine[0]
        try:
            kernel.enter(pids[node])
            for current in mine:
                after = current.after
                if after in passed and not passed[after].wait(max(0.0, deadline - time.monotonic())):
                    failed.append((current, f"waited for {after.what} on {after.node}"))
                    return
                while not current.probe():
                    if time.monotonic() > deadline:
                        failed.append((current, f"not ready after {timeout:.0f}s"))
                        return
                    time.sleep(RETRY)
                passed[current].set()
                passing()
        except Exception as exc:  # noqa: BLE001 - a check that cannot be tried fails, saying why
            failed.append((current, f"{type(exc).__name__}: {exc}"))

    nodes = dict.fromkeys(c.node for c in checks)
    threads = [threading.Thread(target=node_waiter, args=(n,), daemon=True) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(failed, key=lambda f: f[0].after is not None)  # what others waited for first
