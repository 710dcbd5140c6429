"""Grade a capture with a censor, offline: no root, no namespaces, no lab.

    python -m tools.censors.offline CENSOR CAPTURE [--param NAME=VALUE ...] [--json]

Every IPv4 packet of the capture (pcap or pcapng) goes through the censor's own logic
(``selects`` and ``decide``, the same code the live censor runs on the packets its kernel
rules hand it), in order, with the flow state the kernel's connection marks keep live.
One line per packet the censor decided or that belongs to a decided flow, printed as it
is decided, then a summary, so a student's capture can be graded on any laptop. VALUE is
JSON when it parses as JSON (``--param domains='["facebook.com"]'``), else a string.

Bad input (tools/dpi/pcap.py reads the file): anything that is not a readable capture
(missing, unreadable, empty, a directory, FIFO or device, not pcap/pcapng, an impossible
version or snaplen, a first record that is damaged, a link type no IPv4 can be read
from) and a capture with no IPv4 packet in it get one line ``kzlab: error: ...`` and exit
status 2. Where it can still grade, it grades and warns (``kzlab: warning: ...`` on
stderr, and ``{"warning": ...}`` objects with ``--json``): packets the capture cut short
(its snaplen), a truncated or damaged record after the first (graded up to there), frames
that carry no IPv4, packets whose grading raised (each given the censor's failure
verdict: accept, or drop with ``fail_closed``), flows forgotten by a full flow table.
Memory does not grow with the capture: one record at a time, verdicts printed as they
come, counters and a bounded flow table kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP

from tools.censors.base import Censor, CensorError, Decision
from tools.censors.registry import CENSORS
from tools.dpi import ipv4
from tools.dpi.pcap import Capture, CaptureError, Frame

MAX_FLOWS = 65_536  # decided flows remembered at once, like a small conntrack table
EXIT_BAD_INPUT = 2


class FlowTable(dict):
    """Decided flows, as the kernel's connection marks keep them live, at most ``limit``:
    a new flow beyond it makes the oldest one forgotten (counted in ``forgotten``)."""

    def __init__(self, limit: int = MAX_FLOWS) -> None:
        super().__init__()
        self.limit = limit
        self.forgotten = 0

    def __setitem__(self, key: tuple, value: str) -> None:
        if key not in self and len(self) >= self.limit:
            del self[next(iter(self))]
            self.forgotten += 1
        super().__setitem__(key, value)


def failure_verdict(censor: Censor) -> str:
    """What the live censor does with a packet it fails on: fail open unless fail_closed."""
    return "drop" if censor.params.get("fail_closed") else "accept"


def grade(censor: Censor, packets: Iterable[Any], flows: FlowTable | None = None) -> Iterator[dict[str, Any]]:
    """The censor's verdict on each packet it would have seen or whose flow it decided,
    as it is decided. ``packets``: scapy packets, or a capture's Frames; each is numbered
    from 1 in the order given. A packet whose grading raises gets the censor's failure
    verdict, with the error in its note and ``failed`` true."""
    flows = FlowTable() if flows is None else flows
    for n, pkt in enumerate(packets, start=1):
        flow = None
        try:
            raw = pkt.ip if isinstance(pkt, Frame) else (bytes(pkt[IP]) if IP in pkt else None)
            packet = ipv4.parse(raw) if raw else None
            if packet is None:  # no whole IPv4 packet: live, the kernel would not select it either
                continue
            flow = packet.key
            decided = flows.get(flow)
            if decided is not None:
                past = {"throttle": "throttled"}.get(decided, f"{decided}ed")
                decision = Decision("drop" if decided == "block" else "accept", note=f"flow {past} earlier")
            elif censor.selects(packet):
                decision = censor.decide(packet, flows)
            else:
                continue
            failed = False
        except Exception as exc:  # noqa: BLE001 - the live rule: this packet fails, the run goes on
            how = "fail closed" if failure_verdict(censor) == "drop" else "fail open"
            error = " ".join(f"{type(exc).__name__}: {exc}".split())[:160]
            decision = Decision(failure_verdict(censor), note=f"error ({how}): {error}")
            failed = True
        yield {"packet": n, "time": float(pkt.time), "flow": flow, "verdict": decision.verdict,
               "injected": len(decision.inject), "note": decision.note, "failed": failed}  # fmt: skip


def parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CensorError(f"--param {text!r}: expected NAME=VALUE")
    try:
        return name, json.loads(value)
    except (ValueError, RecursionError):  # not JSON (or JSON no one means): the string itself
        return name, value


def make_censor(name: str, params: list[str]) -> Censor:
    if name not in CENSORS:
        raise CensorError(f"unknown censor {name!r} (known: {', '.join(sorted(CENSORS))})")
    return CENSORS[name](**dict(parse_param(p) for p in params))


def warnings(capture: Capture, flows: FlowTable, failed: int, verdict: str) -> list[str]:
    """What the grade cannot vouch for, one sentence each."""
    out = []
    if capture.cut:
        out.append(f"{capture.cut} of {capture.records} packets were cut short by the capture (captured length < "
                   "length on the wire: its snaplen): the censor saw cut packets; capture with -s 0")  # fmt: skip
    if capture.problem:
        out.append(f"{capture.problem}; graded up to record {capture.records}")
    if capture.not_ipv4:
        kinds = ", ".join(f"{what} {n}" for what, n in capture.not_ipv4.most_common())
        out.append(f"{capture.not_ipv4.total()} frames carry no IPv4 ({kinds}): not graded")
    if failed:
        out.append(f"{failed} packets raised an error in the censor: each got its failure verdict ({verdict})")
    if flows.forgotten:
        out.append(f"more than {flows.limit} decided flows at once: the {flows.forgotten} oldest were forgotten, "
                   "their later packets graded as new")  # fmt: skip
    return out


def show(v: dict[str, Any]) -> str:
    src, sport, dst, dport = v["flow"] or ("?", "?", "?", "?")
    injected = f" +{v['injected']} injected" if v["injected"] else ""
    return f"#{v['packet']:<6} {src}:{sport} > {dst}:{dport}  {v['verdict']:6}{injected}  {v['note']}"


def fail(message: str) -> int:
    print(f"kzlab: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.censors.offline",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("censor", help=f"one of {', '.join(sorted(CENSORS))}")
    parser.add_argument("capture", type=Path, help="a pcap or pcapng file")
    parser.add_argument("--param", action="append", default=[], help="a censor parameter, NAME=VALUE")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    try:
        censor = make_censor(args.censor, args.param)
    except CensorError as exc:
        return fail(str(exc))
    counts: Counter[str] = Counter()
    flows = FlowTable()
    try:
        with Capture(args.capture) as capture:
            for v in grade(censor, capture.frames(), flows):
                print(json.dumps(v) if args.json else show(v))
                counts[v["verdict"]] += 1
                counts["failed"] += v["failed"]
    except CaptureError as exc:
        return fail(f"{args.capture}: {exc}")
    ipv4 = capture.records - capture.not_ipv4.total()
    if not ipv4:
        what = ", ".join(f"{what} {n}" for what, n in capture.not_ipv4.most_common()) or "no packets"
        return fail(f"{args.capture}: no IPv4 packet to grade ({capture.records} records: {what})")
    for text in warnings(capture, flows, counts.pop("failed", 0), failure_verdict(censor)):
        print(f"kzlab: warning: {text}", file=sys.stderr)
        if args.json:
            print(json.dumps({"warning": text}))
    summary = "".join(f", {k} {n}" for k, n in sorted(counts.items())).replace(",", ":", 1)
    print(f"{args.censor}: {ipv4} IPv4 packets, {counts.total()} decided{summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
