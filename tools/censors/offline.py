"""Grade a capture with a censor, offline: no root, no namespaces, no lab.

    python -m tools.censors.offline CENSOR CAPTURE.pcap [--param NAME=VALUE ...]

Every IP packet of the capture goes through the censor's own logic (``selects`` and
``decide``, the same code the live censor runs on the packets its kernel rules hand it),
in order, with the flow state the kernel's connection marks keep live. One line per
packet the censor decided or that belongs to a decided flow, then a summary, so a
student's capture can be graded on any laptop. VALUE is JSON when it parses as JSON
(``--param domains='["facebook.com"]'``), else a string.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import PcapReader

from tools.censors.base import Censor, CensorError, Decision
from tools.censors.registry import CENSORS


def flow_of(ip: Any) -> tuple:
    layer = ip[TCP] if TCP in ip else ip.getlayer(UDP)
    ports = (layer.sport, layer.dport) if layer is not None else (0, 0)
    return (ip.src, ports[0], ip.dst, ports[1])


def grade(censor: Censor, packets: Any) -> list[dict[str, Any]]:
    """The censor's verdict on each packet it would have seen or whose flow it decided."""
    flows: dict[tuple, str] = {}
    out = []
    for n, pkt in enumerate(packets, start=1):
        if IP not in pkt:
            continue
        ip = pkt[IP]
        decided = flows.get(flow_of(ip))
        if decided is not None:
            past = {"throttle": "throttled"}.get(decided, f"{decided}ed")
            decision = Decision("drop" if decided == "block" else "accept", note=f"flow {past} earlier")
        elif censor.selects(ip):
            try:
                decision = censor.decide(ip, flows)
            except Exception as exc:  # noqa: BLE001 - live, such a packet is passed on
                decision = Decision(note=f"unreadable: {type(exc).__name__}")
        else:
            continue
        out.append({"packet": n, "time": float(pkt.time), "flow": flow_of(ip), "verdict": decision.verdict,
                    "injected": len(decision.inject), "note": decision.note})  # fmt: skip
    return out


def parse_param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CensorError(f"--param {text!r}: expected NAME=VALUE")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.censors.offline", description=__doc__.splitlines()[0])
    parser.add_argument("censor", help=f"one of {', '.join(sorted(CENSORS))}")
    parser.add_argument("capture", type=Path)
    parser.add_argument("--param", action="append", default=[], help="a censor parameter, NAME=VALUE")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    try:
        if args.censor not in CENSORS:
            raise CensorError(f"unknown censor {args.censor!r} (known: {', '.join(sorted(CENSORS))})")
        censor = CENSORS[args.censor](**dict(parse_param(p) for p in args.param))
        with PcapReader(str(args.capture)) as packets:
            verdicts = grade(censor, packets)
    except (CensorError, OSError, ValueError) as exc:
        print(f"kzlab: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    for v in verdicts:
        if args.json:
            print(json.dumps(v))
        else:
            src, sport, dst, dport = v["flow"]
            injected = f" +{v['injected']} injected" if v["injected"] else ""
            print(f"#{v['packet']:<6} {src}:{sport} > {dst}:{dport}  {v['verdict']:6}{injected}  {v['note']}")
    counts = Counter(v["verdict"] for v in verdicts)
    summary = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
    print(f"{args.censor}: {len(verdicts)} packets decided: {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
