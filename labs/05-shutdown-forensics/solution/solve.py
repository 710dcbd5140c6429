"""Lab 5's reference submission: the student's day recorded in a live lab (root), then
read from the outside view alone, as a student reads it.

    python -m labs solve 5 --student ID --out DIR

The recording (the lab's environment, sealed) goes to DIR/outside; ``analyse`` then
reads it. The first sample is the day before any shutdown, and each later one is read
against it:

- the route collector lost some of the country's blocks: WithdrawRoutes;
- BGP intact, but no address of any operator answers the ping sweep: DropTrafficAtBorder;
- some operators' addresses stop answering: their access network is cut, entirely
  (ShutdownAccessNetwork: nothing works inside for them) or but for an allow-list
  (AllowlistAccessNetwork: some pairs still work);
- everything answers, but on the international link their subscribers' ClientHellos
  come seconds after their TCP handshakes: ThrottleAccessNetwork.

Operators are told apart by the collector's table (each block's origin AS). It writes
``answers.json``.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from labs.framework import environment, evidence
from labs.framework.definition import LabDefinition
from tools.dpi import ipv4
from tools.observe.bgp_view import parse_bird_routes
from tools.observe.timeline import read_timeline
from topologies.kz_national import OPERATORS

HELD_S = 2.0  # a ClientHello this long after its flow's handshake was held on the way
BY_ASN = {str(op.asn): op.key for op in OPERATORS}


def origins(table: Path) -> dict[ipaddress.IPv4Network, str]:
    """Each of the country's blocks in the collector's table -> its operator (by origin AS)."""
    out = {}
    for prefix, paths in parse_bird_routes(table.read_text()).items():
        origin = next((p.split()[-1] for p in paths if p), None)
        if origin in BY_ASN:
            out[ipaddress.IPv4Network(prefix)] = BY_ASN[origin]
    return out


def operator_of(address: str, blocks: dict[ipaddress.IPv4Network, str]) -> str | None:
    ip = ipaddress.IPv4Address(address)
    return next((op for net, op in blocks.items() if ip in net), None)


def held(capture: Path, blocks: dict[ipaddress.IPv4Network, str]) -> set[str]:
    """The operators whose subscribers' ClientHellos crossed the link HELD_S or more after
    their SYN."""
    syn: dict[tuple[str, int, str, int], float] = {}
    slow = set()
    for p in evidence.read(capture):
        if not p.pkt.tcp or p.pkt.dport != 443:
            continue
        if p.pkt.flags & ipv4.SYN and not p.pkt.flags & ipv4.ACK:
            syn.setdefault(p.pkt.key, p.time)
        elif p.pkt.payload and p.pkt.key in syn and p.time - syn.pop(p.pkt.key) >= HELD_S:
            slow.add(operator_of(p.pkt.src, blocks) or "")
    return slow - {""}


def classify(sample: dict[str, Any], first: dict[str, Any], slow: set[str]) -> tuple[str, set[str]] | None:
    """(mechanism, operators hit) of one sample against the first, None if nothing is wrong."""
    everyone = set(first["probing"]["groups"]) & {op.key for op in OPERATORS}
    if sample["bgp"]["share"] < first["bgp"]["share"]:
        return "WithdrawRoutes", everyone
    answering = {g: v["share"] for g, v in sample["probing"]["groups"].items()}
    dark = {g for g in everyone if answering[g] < first["probing"]["groups"][g]["share"]}
    if dark == everyone and not any(answering[g] for g in everyone):
        return "DropTrafficAtBorder", everyone
    if dark:
        working = any(sample["inside"]["groups"][g]["share"] for g in dark)
        return ("AllowlistAccessNetwork" if working else "ShutdownAccessNetwork"), dark
    if slow:
        return "ThrottleAccessNetwork", slow
    return None


def analyse(folder: Path) -> dict[str, Any]:
    """The answers an outside view supports."""
    timeline = read_timeline(folder / "timeline.json")
    samples = sorted((folder / "samples").iterdir())
    blocks = origins(samples[0] / "transit-bgp.txt")
    seen = [
        classify(record, timeline[0], held(sample / "border-transit.pcap", blocks))
        for record, sample in zip(timeline, samples, strict=True)
    ]
    found = [s for s in seen if s is not None]
    windows: list[list[str]] = []
    for i, s in enumerate(seen):
        hour = f"{samples[i].name[:2]}:{samples[i].name[2:]}"
        if s is not None and (i == 0 or seen[i - 1] is None):
            windows.append([hour])
        elif s is None and windows and len(windows[-1]) == 1:
            windows[-1].append(hour)
    return {
        "mechanism": found[0][0] if found else "",
        "operators": sorted(set().union(*(ops for _, ops in found))),
        "windows": windows,
    }


def solve(lab: LabDefinition, student: str, out: Path) -> int:
    outside = out.resolve() / "outside"
    status = environment.start(lab.number, student, False, outside, None)
    if status != 0:
        print(f"kzlab: lab 5: the recording for {student} failed (exit status {status})")
        return status
    answers = analyse(outside)
    (out / "answers.json").write_text(json.dumps(answers, indent=2) + "\n")
    print(json.dumps(answers, indent=2))
    return 0
