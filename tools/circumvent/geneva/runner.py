"""The engine's loop: each packet the host's queue hands over goes through the strategy.

A packet no tree fires on is accepted as it is. An outbound one a tree fires on is
dropped and the packets made of it are sent, in order, from a raw socket, with the SENT
mark. The kernel rewrites a raw packet's IP total length and checksum (and an IP id of
0), which would undo ``tamper{IP:len:...}`` or ``tamper{IP:chksum:...}``; so every sent
packet comes back through the queue once (rules.py: its mark) and leaves with the very
bytes the strategy made (the verdict carries them). The queue keeps order, so the packets
go out in the order made. Inbound trees only tamper, drop or send: the packet's verdict
carries the result.

No packet can stop it (DESIGN principle 8): one whose handling fails is accepted
unchanged (fail open), counted, and the loop goes on.
"""

from __future__ import annotations

import random
import select
import socket
import sys
import threading
import traceback
from collections import Counter, deque
from typing import Any

from tools.circumvent.geneva import actions, rules
from tools.circumvent.geneva.syntax import Strategy
from tools.dpi import nfqueue

NF_INET_LOCAL_IN = 1  # the hook a packet was queued at (netfilter's numbering)
PENDING = 1024  # sent packets awaiting their return through the queue, at most
ERRORS_LOGGED_PER_KIND = 5


def same_but_rewritten(seen: bytes, sent: bytes) -> bool:
    """Whether ``seen`` is ``sent`` but for what the kernel rewrites in a raw packet:
    IP total length, id and header checksum."""
    return len(seen) == len(sent) and seen[:2] == sent[:2] and seen[6:10] == sent[6:10] and seen[12:] == sent[12:]


class Runner:
    """One strategy applied to the queue's packets (``handle`` is the queue's callback)."""

    def __init__(self, strategy: Strategy, sock: Any, rng: random.Random) -> None:
        self.strategy, self.sock, self.rng = strategy, sock, rng
        self.pending: deque[bytes] = deque(maxlen=PENDING)
        self.counts: Counter[str] = Counter(dict.fromkeys(("seen", "triggered", "made", "failed"), 0))

    def handle(self, pkt: Any) -> None:
        self.counts["seen"] += 1
        payload = b""
        try:
            payload = pkt.get_payload()
            if pkt.get_mark() & rules.SENT:
                self.restore(pkt, payload)
                return
            direction = "in" if pkt.hook == NF_INET_LOCAL_IN else "out"
            made = actions.apply(self.strategy, payload, direction, self.rng)
            if made is None:
                pkt.accept()
                return
            self.counts["triggered"] += 1
            if direction == "in":
                self.deliver(pkt, made)
            elif self.send(made) or not made:
                pkt.drop()
            else:  # none of it could be sent: the original goes instead
                self.fail(pkt, OSError("no packet made could be sent"), payload)
        except Exception as exc:  # noqa: BLE001 - one packet never stops the engine
            self.fail(pkt, exc, payload)

    def deliver(self, pkt: Any, made: list[bytes]) -> None:
        """An inbound packet's verdict: what its trees made of it (one packet, or none)."""
        if not made:
            pkt.drop()
            return
        self.counts["made"] += 1
        self.counts["inbound_extra"] += len(made) - 1  # several trees fired: the first one's packet
        pkt.set_payload(made[0])
        pkt.accept()

    def send(self, made: list[bytes]) -> int:
        sent = 0
        for data in made:
            try:
                self.sock.sendto(data, (socket.inet_ntoa(data[16:20]), 0))
            except OSError as exc:
                self.record(exc, data)
                continue
            self.pending.append(data)
            sent += 1
        self.counts["made"] += sent
        return sent

    def restore(self, pkt: Any, seen: bytes) -> None:
        """One of the engine's own packets, back from the raw socket: let it go with the
        bytes the strategy made."""
        at = next((i for i, sent in enumerate(self.pending) if same_but_rewritten(seen, sent)), None)
        if at is None:
            self.counts["unmatched"] += 1
        else:
            self.counts["lost"] += at  # sent earlier but never came back
            for _ in range(at):
                self.pending.popleft()
            wanted = self.pending.popleft()
            if wanted != seen:
                pkt.set_payload(wanted)
        pkt.accept()

    def fail(self, pkt: Any, exc: BaseException, payload: bytes) -> None:
        self.counts["failed"] += 1
        self.record(exc, payload)
        try:
            pkt.accept()
        except Exception as again:  # noqa: BLE001 - the kernel refused the verdict: that packet only
            self.record(again, payload)

    def record(self, exc: BaseException, payload: bytes) -> None:
        """Count an error by kind; the first few of each kind go to stderr with the packet."""
        kind = type(exc).__name__
        if exc.__traceback__ is not None:
            kind += f" in {traceback.extract_tb(exc.__traceback__)[-1].name}"
        self.counts[f"error: {kind}"] += 1
        if self.counts[f"error: {kind}"] <= ERRORS_LOGGED_PER_KIND:
            print(f"geneva: packet error ({kind}): {exc}; packet {payload[:256].hex()}", file=sys.stderr, flush=True)


def serve(strategy: Strategy, port: int, queue_num: int, stop: threading.Event) -> Counter[str]:
    """Install the rules, print ``ready``, run the queue until ``stop``, remove the rules;
    the counts of what happened."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, rules.SENT)
    runner = Runner(strategy, sock, random.Random())
    queue = nfqueue.bind(queue_num, runner.handle)
    try:
        rules.install(port, queue_num, {"out": strategy.outbound, "in": strategy.inbound})
        print(f"ready: queue {queue_num}, port {port}, strategy {strategy}", flush=True)
        fd = queue.get_fd()
        while not stop.is_set():
            if select.select([fd], [], [], 0.5)[0]:
                queue.run(block=False)
    finally:
        rules.remove(queue_num)
        queue.run(block=False)  # verdicts for what was queued before the rules went
        queue.unbind()
        sock.close()
    return runner.counts
