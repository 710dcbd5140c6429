"""The engine of a DPI censor, run inside the node it censors at:
``python -m tools.censors.engine CONFIG.json``.

It installs the censor's chain (queue.py), reads its NFQUEUE, calls the censor's
``decide`` on each packet the kernel hands over, issues the verdict (a decided flow is
marked so the kernel handles the rest of it), injects what the decision returns with
scapy, logs every decision that did something, and removes its chain when it stops.
A decision with a ``delay`` holds its packet: the verdict is issued that much later by
the same loop (one thread), which meanwhile goes on deciding other packets.
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
from pathlib import Path
from typing import Any

from netfilterqueue import NetfilterQueue
from scapy.layers.inet import IP

from tools.censors.base import Decision
from tools.censors.queue import QueueCensor
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


def _flow_key(ip: Any) -> tuple:
    layer = ip.payload
    return (ip.src, getattr(layer, "sport", 0), ip.dst, getattr(layer, "dport", 0), ip.proto)


def serve(censor: QueueCensor, index: int, log_path: Path, stop: threading.Event) -> None:
    """The live loop: one decision per queued packet, verdicts and injections."""

    flows: dict[tuple, str] = _Forgetful()
    held: list[tuple[float, int, Any, Decision]] = []  # (due, order, packet, decision): delayed verdicts
    order = itertools.count()
    injector = Injector()
    log = open(log_path, "a")  # noqa: SIM115 - for the loop's lifetime

    def verdict(pkt: Any, decision: Decision) -> None:
        if decision.flow:
            # Add this censor's bit to the packet's mark: replacing it would erase another
            # censor's decision and send the packet back and forth between the two.
            pkt.set_mark(pkt.get_mark() | censor.flow_mark(decision.flow, index))
            pkt.repeat()  # back through the chain: the mark is saved on the connection
        elif decision.verdict == "drop":
            pkt.drop()
        else:
            pkt.accept()

    def release_due(everything: bool = False) -> None:
        while held and (everything or held[0][0] <= time.monotonic()):
            _, _, pkt, decision = heapq.heappop(held)
            verdict(pkt, decision)

    def on_packet(pkt: Any) -> None:
        try:
            ip = IP(pkt.get_payload())
            decision = censor.decide(ip, flows)
        except Exception as exc:  # noqa: BLE001 - a packet the censor cannot read goes on
            decision = Decision(note=f"unreadable: {type(exc).__name__}")
            ip = None
        for extra in decision.inject:
            injector.send(extra)
        if decision.delay > 0:
            heapq.heappush(held, (time.monotonic() + decision.delay, next(order), pkt, decision))
        else:
            verdict(pkt, decision)
        if decision.note:
            record = {
                "time": round(time.time(), 3),
                "verdict": decision.verdict,
                "flow": decision.flow,
                "note": decision.note,
                "src": ip.src if ip else None,
                "dst": ip.dst if ip else None,
                "injected": len(decision.inject),
                **({"delay": round(decision.delay, 3)} if decision.delay else {}),
            }
            log.write(json.dumps(record) + "\n")
            log.flush()

    queue = NetfilterQueue()
    queue.bind(100 + index, on_packet, max_len=4096)
    fd = queue.get_fd()
    try:
        while not stop.is_set():
            wait = 0.5 if not held else min(0.5, max(0.0, held[0][0] - time.monotonic()))
            if select.select([fd], [], [], wait)[0]:
                queue.run(block=False)
            release_due()
    finally:
        release_due(everything=True)  # nothing stays held when the censor stops
        queue.unbind()
        log.close()


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
    finally:
        remove_rules(censor, index)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
