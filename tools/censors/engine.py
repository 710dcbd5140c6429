"""The DPI engine of a node, run inside it: ``python -m tools.censors.engine CONFIG.json``.

One process serves every queue censor attached at its node (queue.py). For each it
installs the chain and queue rule and reads its NFQUEUE; each packet the kernel hands
over is decided in one trip: the packet's mark says which censors selected it, and
their ``decide`` is called in turn, in the kernel's chain order (the censor attached
last first), as one DPI box classifies a packet once. A censor that drops the packet or
blocks its flow ends the turn (the censors behind it never see it, as in the kernel);
the others' flows marks go back with one verdict (NF_REPEAT: the chains save each mark
on the connection, so the kernel handles the rest of the flow). What a decision injects
is sent with a raw socket, and every decision that did something goes to its censor's
log. A decision with a ``delay`` holds the packet: the censors after it decide, and the
verdict is issued, that much later by the same loop (one thread), which meanwhile goes
on deciding other packets.

No packet can stop it (DESIGN principle 8): an exception while one censor handles one
packet (reading it, deciding, injecting) gives that packet the censor's failure verdict
(its turn goes on when the censor fails open, the packet is dropped when ``fail_closed``),
is counted and logged (the first few of each kind, so a flood cannot fill the disk) and
the loop goes on. If the process dies anyway, a fail-closed censor's chain stays and
drops what it selects; the runner sees the dead engine and fails the phase
(Censor.failure).

CONFIG: ``{"censors": [CENSOR, ...], "control": true|false}``, each CENSOR ``{"censor":
name, "params": {...}, "index": n, "log": path}`` (a CENSOR alone: an engine serving
that one censor, as lab 3 starts a student's). With ``control``, JSON lines on stdin
(``{"attach": CENSOR}``, ``{"detach": index}``) are answered by one line on stdout each.
A censor started by hand in a node whose engine serves others is not asked about the
packets they selected first: one engine per node.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tools.censors.base import Censor, Decision
from tools.censors.queue import (
    CENSOR_BITS,
    DROP_NOW,
    QUEUE_CHAINS_REMOVAL,
    QUEUE_CHAINS_SETUP,
    VERDICT,
    QueueCensor,
    marks,
)
from tools.dpi import ipv4, nfqueue
from tools.dpi.inject import Injector


def _iptables(args: list[str], check: bool = True) -> None:
    subprocess.run(["iptables", "-w", *args], check=check, capture_output=True)


def install_rules(censor: QueueCensor, index: int) -> None:
    subprocess.run(["sh", "-c", QUEUE_CHAINS_SETUP], check=True, capture_output=True)
    for args in censor.rules(index):
        _iptables(args)


def remove_rules(censor: QueueCensor, index: int) -> None:
    for args in censor.cleanup(index):
        _iptables(args, check=False)
    subprocess.run(["sh", "-c", QUEUE_CHAINS_REMOVAL], check=False, capture_output=True)


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


@dataclass
class Served:
    """A censor the engine decides for: its index (queue number, mark bits) and log."""

    censor: QueueCensor
    index: int
    log: TextIO

    def __post_init__(self) -> None:
        self.selected, self.block = marks(self.index)  # DONE means "selected" until the verdict
        self.failure_verdict = "drop" if self.censor.params["fail_closed"] else "accept"
        # whether its chain drops the flows it blocks (a throttle's second bit only shapes)
        self.drops_blocked = any(rule[-1] == "DROP" for rule in self.censor.rules(self.index))


@dataclass(slots=True)
class Turn:
    """One packet on its way through the censors that selected it."""

    pkt: Any  # netfilterqueue's packet
    packet: ipv4.Packet | None  # None: no whole IPv4 packet
    payload: bytes
    waiting: list[Served]  # still to decide, in chain order
    mark: int  # the packet's mark without the censors' bits, and the decided flows' marks
    via: int  # the index of the censor whose queue it came by
    flows: bool = False  # a censor decided the flow: its mark must reach the chains
    drop: bool = False
    holder: int = 0  # the index of the censor holding it, while held


class Engine:
    """The decisions of every censor served at the node on the packets the kernel hands
    over: decide in turn, inject, issue one verdict (now or after a delay), log. No
    packet can stop it: an exception on one packet gives it the failure verdict of the
    censor that raised and is counted."""

    def __init__(self, injector: Any) -> None:
        self.injector = injector
        self.served: list[Served] = []  # in chain order: the one attached last first
        self.errors = PacketErrors()
        self.unreadable = 0  # packets the kernel selected that are no whole IPv4 packet
        self.flows: dict[tuple, str] = _Forgetful()
        self.held: list[tuple[float, int, Turn]] = []  # (due, order, turn)
        self.order = itertools.count()

    def add(self, censor: QueueCensor, index: int, log: TextIO) -> None:
        self.served.insert(0, Served(censor, index, log))  # its chain goes first in FORWARD

    def remove(self, index: int) -> None:
        """Stop deciding for censor ``index``; a packet it holds, or that came by its queue
        (which is going), is let go now."""
        self.served = [s for s in self.served if s.index != index]
        for n, (_, order, turn) in enumerate(self.held):
            turn.waiting = [s for s in turn.waiting if s.index != index]
            if index in (turn.holder, turn.via):
                self.held[n] = (0.0, order, turn)
        heapq.heapify(self.held)

    def handle(self, pkt: Any, via: int = 0) -> None:
        """netfilterqueue's callback: one packet, from the queue of censor ``via``."""
        payload, packet = b"", None
        try:
            payload = pkt.get_payload()
            packet = ipv4.parse(payload, partial=True)
        except Exception as exc:  # noqa: BLE001 - one packet never stops the censors
            self.errors.record(exc, payload)
        mark = pkt.get_mark()
        waiting = [s for s in self.served if mark & s.selected]
        if packet is None and waiting:  # selected by the kernel, but no whole IPv4 packet: it cannot be read
            self.unreadable += 1
        self.proceed(Turn(pkt, packet, payload, waiting, mark & ~CENSOR_BITS, via))

    def proceed(self, turn: Turn) -> None:
        """Decide ``turn`` with the censors still waiting, until one ends it or holds it."""
        while turn.waiting:
            served = turn.waiting.pop(0)
            decision, flow_mark = self.decide(served, turn)
            if decision.note:
                self.write(served, decision, turn.packet)
            if flow_mark:
                turn.mark |= flow_mark
                turn.flows = True
                if served.drops_blocked and flow_mark & served.block:
                    turn.waiting.clear()  # dropped at its chain, with the flow
            elif decision.verdict == "drop":
                turn.drop = True
                turn.waiting.clear()
            if decision.delay > 0:
                turn.holder = served.index
                heapq.heappush(self.held, (time.monotonic() + decision.delay, next(self.order), turn))
                return
        self.verdict(turn)

    def decide(self, served: Served, turn: Turn) -> tuple[Decision, int]:
        """The censor's decision and the mark of the flow it decided (0: none)."""
        if turn.packet is None:
            return Decision(served.failure_verdict, note="failure verdict: unreadable packet"), 0
        try:
            decision = served.censor.decide(turn.packet, self.flows)
            for extra in decision.inject:
                self.injector.send(extra)
            return decision, served.censor.flow_mark(decision.flow, served.index) if decision.flow else 0
        except Exception as exc:  # noqa: BLE001 - one packet never stops the censor
            kind = self.errors.record(exc, turn.payload)
            return Decision(served.failure_verdict, note=f"failure verdict: {kind}"), 0

    def verdict(self, turn: Turn) -> None:
        try:
            if turn.flows:
                # Back through the chains, which save each censor's bit on the connection
                # (and drop it, at KZQ, if a censor dropped the packet).
                turn.pkt.set_mark(turn.mark | VERDICT | (DROP_NOW if turn.drop else 0))
                turn.pkt.repeat()
            elif turn.drop:
                turn.pkt.drop()
            else:
                turn.pkt.accept()
        except Exception as exc:  # noqa: BLE001 - the kernel refused this verdict: that packet's loss only
            self.errors.record(exc, turn.payload)

    def write(self, served: Served, decision: Decision, packet: ipv4.Packet | None) -> None:
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
            served.log.write(json.dumps(record) + "\n")
            served.log.flush()
        except OSError as exc:  # a full disk costs the log, not the censor
            self.errors.record(exc, b"")

    def release_due(self, everything: bool = False) -> None:
        while self.held and (everything or self.held[0][0] <= time.monotonic()):
            self.proceed(heapq.heappop(self.held)[2])

    def wait(self) -> float:
        """How long the loop may sleep before a held packet is due (at most half a second)."""
        return 0.5 if not self.held else min(0.5, max(0.0, self.held[0][0] - time.monotonic()))


class Attachments:
    """The engine's work in its node: each served censor's rules, queue and log."""

    def __init__(self, censors: Mapping[str, type[Censor]]) -> None:
        self.censors = censors
        self.engine = Engine(Injector())
        self.attached: dict[int, tuple[QueueCensor, Any, TextIO]] = {}  # index -> censor, queue, log

    def attach(self, config: dict[str, Any]) -> str:
        """Serve one more censor; the line that says so."""
        censor = self.censors[config["censor"]](**config["params"])
        if not isinstance(censor, QueueCensor):
            raise TypeError(f"{config['censor']} is not a queue censor")
        index = config["index"]
        log = open(config["log"], "a")  # noqa: SIM115 - open while the censor is served
        try:  # bound before the kernel queues to it
            queue = nfqueue.bind(100 + index, functools.partial(self.engine.handle, via=index))
        except BaseException:
            log.close()
            raise
        self.attached[index] = (censor, queue, log)
        self.engine.add(censor, index, log)
        remove_rules(censor, index)  # a dead engine's, if any
        try:
            install_rules(censor, index)
        except BaseException:
            self.detach(index)
            raise
        return f"censor {censor.name}: ready on queue {100 + index}"

    def detach(self, index: int, rules: bool = True) -> str:
        censor, queue, log = self.attached.pop(index)
        if rules:
            remove_rules(censor, index)
            queue.run(block=False)  # what it queued before its rules went
        self.engine.remove(index)
        self.engine.release_due()
        queue.unbind()
        log.close()
        return f"censor {censor.name}: detached"

    def close(self, dying: bool) -> None:
        """Stop serving every censor. Dying, not stopped: a fail-closed censor's chain stays
        and drops what it selects (detach removes it); a fail-open one's goes, though its
        bypass would pass anyway."""
        self.engine.release_due(everything=True)  # nothing stays held when the censors stop
        for index, (censor, *_) in list(self.attached.items()):
            self.detach(index, rules=not (dying and censor.params["fail_closed"]))
        if self.engine.unreadable:
            print(f"engine: unreadable packets given the failure verdict: {self.engine.unreadable}", file=sys.stderr)
        if self.engine.errors.counts:
            counts = dict(self.engine.errors.counts)
            print(f"engine: packets given the failure verdict: {counts}", file=sys.stderr, flush=True)

    def request(self, line: str) -> str:
        """One control request (a JSON line) and its answer."""
        try:
            request = json.loads(line)
            if "attach" in request:
                return self.attach(request["attach"])
            return self.detach(request["detach"])
        except Exception as exc:  # noqa: BLE001 - a bad request is answered, not fatal
            return f"error: {type(exc).__name__}: {exc}"


def serve(node: Attachments, control: int | None, stop: threading.Event) -> None:
    """The live loop until ``stop``: the queues' packets to the Engine, and the control
    requests on the file descriptor ``control``, if any, answered on stdout."""
    pending = b""
    while not stop.is_set():
        queues = {queue.get_fd(): queue for _, queue, _ in node.attached.values()}
        watched = [*queues, *([control] if control is not None else [])]
        for fd in select.select(watched, [], [], node.engine.wait())[0]:
            if fd in queues:
                queues[fd].run(block=False)
                continue
            data = os.read(fd, 65536)
            if not data:  # nobody will ask any more: serve on until stopped
                control = None
            pending += data
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                print(node.request(line.decode()), flush=True)
        node.engine.release_due()


def main(argv: list[str]) -> int:
    from tools.censors.registry import CENSORS

    config = json.loads(Path(argv[0]).read_text())
    if "censor" in config:  # one censor's configuration alone
        config = {"censors": [config], "control": False}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    node = Attachments(CENSORS)
    for censor in config["censors"]:
        answer = node.request(json.dumps({"attach": censor}))
        print(answer, file=sys.stderr if answer.startswith("error") else sys.stdout, flush=True)
        if answer.startswith("error"):
            node.close(dying=False)
            return 2
    if config["control"]:
        print("engine: ready", flush=True)
    dying = True
    try:
        serve(node, sys.stdin.fileno() if config["control"] else None, stop)
        dying = False
    finally:
        node.close(dying)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
