"""The engine of a DPI censor, run inside the node it censors at:
``python -m tools.censors.engine CONFIG.json``.

It installs the censor's chain (queue.py), reads its NFQUEUE, calls the censor's
``decide`` on each packet the kernel hands over, issues the verdict (a decided flow is
marked so the kernel handles the rest of it), injects what the decision returns with
scapy, logs every decision that did something, and removes its chain when it stops.
A decision with a ``delay`` holds its packet: the verdict is issued that much later by
the same loop (one thread), which meanwhile goes on deciding other packets.

No packet can stop it (DESIGN principle 8): an exception while handling one packet
(reading it, deciding, injecting) gives that packet the censor's failure verdict (accept
when it fails open, drop when ``fail_closed``), is counted and logged (the first few of
each kind, so a flood cannot fill the disk) and the loop goes on. If the process dies
anyway, a fail-closed censor's chain stays and drops what it selects; the runner sees
the dead engine and fails the phase (Censor.failure).
"""

from __future__ import annotations

import heapq
import itertools
import json
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from tools.censors.base import Decision
from tools.censors.queue import QueueCensor
from tools.dpi import ipv4, nfqueue
from tools.dpi.inject import Injector


def _iptables(args: list[str], check: bool = True) -> None:
    subprocess.run(["iptables", "-w", *args], check=check, capture_output=True)


def remove_rules(censor: QueueCensor, index: int) -> None:
    for args in censor.cleanup(index):
        _iptables(args, check=False)


class _Forgetful(dict):
    """Live, decided flows are the kernel's business (connection marks): the engine keeps
    no per-flow memory, so it does not grow with the flows it has seen."""

    def __setitem__(self, key: object, value: object) -> None:
        pass


ERRORS_LOGGED_PER_KIND = 5


class PacketErrors:
    """Exceptions met on single packets: counted by kind, the first few of each written
    to stderr (the engine's log) with the packet's bytes, so one can be replayed."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def record(self, exc: BaseException, payload: bytes) -> str:
        kind = f"{type(exc).__name__} in {traceback.extract_tb(exc.__traceback__)[-1].name}"
        self.counts[kind] += 1
        if self.counts[kind] <= ERRORS_LOGGED_PER_KIND:
            print(f"engine: packet error ({kind}): {exc}; packet {payload[:256].hex()}", file=sys.stderr, flush=True)
        return kind


class Engine:
    """One censor's handling of the packets its queue hands over: decide, inject, issue
    the verdict (now or after the decision's delay), log. No packet can stop it: an
    exception on one packet gives it the failure verdict and is counted."""

    def __init__(self, censor: QueueCensor, index: int, log: TextIO, injector: Any) -> None:
        self.censor, self.index, self.log, self.injector = censor, index, log, injector
        self.failure_verdict = "drop" if censor.params["fail_closed"] else "accept"
        self.errors = PacketErrors()
        self.unreadable = 0  # packets the kernel selected that are no whole IPv4 packet
        self.flows: dict[tuple, str] = _Forgetful()
        self.held: list[tuple[float, int, Any, Decision]] = []  # (due, order, packet, decision)
        self.order = itertools.count()

    def handle(self, pkt: Any) -> None:
        payload, packet = b"", None
        try:
            payload = pkt.get_payload()
            packet = ipv4.parse(payload, partial=True)
            if packet is None:  # selected by the kernel, but no whole IPv4 packet: it cannot be read
                self.unreadable += 1
                decision = Decision(self.failure_verdict, note="failure verdict: unreadable packet")
            else:
                decision = self.censor.decide(packet, self.flows)
            for extra in decision.inject:
                self.injector.send(extra)
        except Exception as exc:  # noqa: BLE001 - one packet never stops the censor
            kind = self.errors.record(exc, payload)
            decision = Decision(self.failure_verdict, note=f"failure verdict: {kind}")
        if decision.delay > 0:
            heapq.heappush(self.held, (time.monotonic() + decision.delay, next(self.order), pkt, decision))
        else:
            self.verdict(pkt, decision, payload)
        if decision.note:
            self.write(decision, packet)

    def verdict(self, pkt: Any, decision: Decision, payload: bytes = b"") -> None:
        try:
            if decision.flow:
                # Add this censor's bit to the packet's mark: replacing it would erase another
                # censor's decision and send the packet back and forth between the two.
                pkt.set_mark(pkt.get_mark() | self.censor.flow_mark(decision.flow, self.index))
                pkt.repeat()  # back through the chain: the mark is saved on the connection
            elif decision.verdict == "drop":
                pkt.drop()
            else:
                pkt.accept()
        except Exception as exc:  # noqa: BLE001 - the kernel refused this verdict: that packet's loss only
            self.errors.record(exc, payload)

    def write(self, decision: Decision, packet: ipv4.Packet | None) -> None:
        record = {
            "time": round(time.time(), 3),
            "verdict": decision.verdict,
            "flow": decision.flow,
            "note": decision.note,
            "src": packet.src if packet else None,
            "dst": packet.dst if packet else None,
            "injected": len(decision.inject),
            **({"delay": round(decision.delay, 3)} if decision.delay else {}),
        }
        try:
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()
        except OSError as exc:  # a full disk costs the log, not the censor
            self.errors.record(exc, b"")

    def release_due(self, everything: bool = False) -> None:
        while self.held and (everything or self.held[0][0] <= time.monotonic()):
            _, _, pkt, decision = heapq.heappop(self.held)
            self.verdict(pkt, decision)

    def wait(self) -> float:
        """How long the loop may sleep before a held packet is due (at most half a second)."""
        return 0.5 if not self.held else min(0.5, max(0.0, self.held[0][0] - time.monotonic()))


def serve(censor: QueueCensor, index: int, log_path: Path, stop: threading.Event) -> None:
    """The live loop: the queue's packets to the Engine until ``stop``."""
    with open(log_path, "a") as log:
        engine = Engine(censor, index, log, Injector())
        queue = nfqueue.bind(100 + index, engine.handle)
        fd = queue.get_fd()
        try:
            while not stop.is_set():
                if select.select([fd], [], [], engine.wait())[0]:
                    queue.run(block=False)
                engine.release_due()
        finally:
            engine.release_due(everything=True)  # nothing stays held when the censor stops
            queue.unbind()
            if engine.unreadable:
                print(f"engine: unreadable packets given the failure verdict: {engine.unreadable}", file=sys.stderr)
            if engine.errors.counts:
                counts = dict(engine.errors.counts)
                print(f"engine: packets given the failure verdict: {counts}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    from tools.censors.registry import CENSORS

    config = json.loads(Path(argv[0]).read_text())
    censor = CENSORS[config["censor"]](**config["params"])
    if not isinstance(censor, QueueCensor):
        print(f"engine: {config['censor']} is not a queue censor", file=sys.stderr)
        return 2
    index = config["index"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    remove_rules(censor, index)
    for args in censor.rules(index):
        _iptables(args)
    print(f"censor {censor.name}: ready on queue {100 + index}", flush=True)
    try:
        serve(censor, index, Path(config["log"]), stop)
    except BaseException:
        # Dying, not stopped: a fail-closed censor's chain stays and drops what it selects
        # (detach removes it); a fail-open one's goes, though its bypass would pass anyway.
        if not censor.params["fail_closed"]:
            remove_rules(censor, index)
        raise
    remove_rules(censor, index)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
