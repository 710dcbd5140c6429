"""Active probing from outside the country, as IODA does it: who still answers a ping?

    python -m tools.observe.sweep PLAN.json OUT.json

IODA's active-probing signal (Trinocular, Quan et al., SIGCOMM 2013) sends ICMP echo
requests from outside to addresses in each of a country's /24 blocks, adaptively and
repeatedly, and counts the blocks that still answer: when a country is cut off, its blocks
go dark at once even if BGP still announces them (kazakhstan.md section 4, January 2022).
The lab simplifies: one echo request (plus ``retries`` resends) to every address the
topology model says is in use, no block sampling, no belief model; the signal is the
share of those addresses that answer, overall and per group (operator).

PLAN: ``{"targets": {"<ipv4>": "<group>"}, "timeout": 1.5, "retries": 1}``; OUT:
``{"sent", "answered", "share", "groups": {group: {"sent", "answered", "share"}},
"answering": [addresses], "t": seconds}``. Sending needs root inside the lab host.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from scapy.layers.inet import ICMP, IP
from scapy.packet import Packet
from scapy.supersocket import L3RawSocket

from tools.observe.timeline import tally

ECHO_REPLY = 0


@dataclass(frozen=True)
class Plan:
    """A checked sweep plan."""

    targets: dict[str, str]  # address -> group
    timeout: float = 1.5
    retries: int = 1


def parse_plan(data: Any) -> Plan:
    """A checked plan; raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"plan: expected an object, got {data!r}")
    targets = data.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise ValueError("plan.targets: expected a non-empty object of address -> group")
    checked = {}
    for address, group in targets.items():
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            raise ValueError(f"plan.targets: {address!r} is not an IPv4 address") from None
        if not isinstance(group, str) or not group:
            raise ValueError(f"plan.targets[{address}]: expected a group name, got {group!r}")
        checked[str(ip)] = group
    timeout = data.get("timeout", Plan.timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
        raise ValueError(f"plan.timeout: expected a positive number of seconds, got {timeout!r}")
    retries = data.get("retries", Plan.retries)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"plan.retries: expected a whole number >= 0, got {retries!r}")
    return Plan(checked, float(timeout), retries)


def echo_requests(addresses: list[str]) -> list[Packet]:
    """One ICMP echo request per address, told apart by sequence number."""
    ident = os.getpid() & 0xFFFF
    return [IP(dst=a) / ICMP(type="echo-request", id=ident, seq=i & 0xFFFF) for i, a in enumerate(addresses)]


def answering(pairs: list[tuple[Packet, Packet]]) -> set[str]:
    """The addresses that sent an echo reply; an ICMP error (e.g. from a router on the way) is no answer."""
    return {sent[IP].dst for sent, reply in pairs if ICMP in reply and reply[ICMP].type == ECHO_REPLY}


def summarise(plan: Plan, answered: set[str], seconds: float) -> dict[str, Any]:
    """The OUT record: totals and per-group shares of the plan's addresses that answered."""
    result = tally(((group, address in answered) for address, group in plan.targets.items()), "sent", "answered")
    return result | {"answering": sorted(answered & plan.targets.keys(), key=ipaddress.IPv4Address), "t": seconds}


def sweep(plan: Plan) -> dict[str, Any]:
    """Send the echo requests and tally the replies."""
    start = time.monotonic()
    # A raw IP socket leaves routing and ARP to the kernel: scapy's own would wait seconds per
    # unresolved neighbour and use the routes it read at import time.
    with L3RawSocket() as sock:
        pairs, _ = sock.sr(echo_requests(list(plan.targets)), timeout=plan.timeout, retry=plan.retries, verbose=0)
    return summarise(plan, answering(list(pairs)), round(time.monotonic() - start, 3))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tools.observe.sweep PLAN.json OUT.json", file=sys.stderr)
        return 2
    try:
        with open(argv[0]) as f:
            plan = parse_plan(json.load(f))
    except (OSError, ValueError) as e:
        print(f"sweep: bad plan {argv[0]}: {e}", file=sys.stderr)
        return 2
    with open(argv[1], "w") as out:
        json.dump(sweep(plan), out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
