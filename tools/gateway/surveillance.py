"""What the state sees: the device's log per subscriber, and how to read it.

The interception device writes one JSON line per event: every ClientHello's SNI (which
any DPI on the path sees), and for intercepted connections every request it decrypted,
with the full URL and headers (kazakhstan.md section 1: the certificate "tracks their
identity and reports their activity"). The ISP resolver's query log adds the names each
subscriber looked up. ``table()`` merges both into what an analyst at the ISP would read.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any


class Log:
    """Append-only JSONL log, safe to write from the device's threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, subscriber: str, **fields: Any) -> None:
        record = {"time": round(time.time(), 3), "event": event, "subscriber": subscriber, **fields}
        line = json.dumps(record, default=str) + "\n"
        with self._lock, open(self.path, "a") as f:
            f.write(line)


def read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# BIND's query log: "client @0x... 95.56.1.1#41234 (facebook.com): query: facebook.com IN A +E(0)"
QUERY = re.compile(r"client @\S+ (?P<ip>[\d.]+)#\d+ \((?P<name>[^)]+)\): query: \S+ IN (?P<type>\S+)")


def resolver_queries(query_log: Path) -> list[dict[str, Any]]:
    """The names each subscriber asked the ISP resolver for."""
    if not query_log.exists():
        return []
    out = []
    for line in query_log.read_text().splitlines():
        m = QUERY.search(line)
        if m:
            out.append({"event": "dns_query", "subscriber": m["ip"], "host": m["name"], "type": m["type"]})
    return out


def table(events: list[dict[str, Any]], names: dict[str, str] | None = None) -> str:
    """One line per subscriber: how many names (from DNS and from SNI) and full URLs the
    state learnt about it, whether it is in the walled garden, and an example."""
    names = names or {}
    rows: dict[str, dict[str, set[str]]] = {}
    walled: dict[str, str] = {}
    for e in events:
        who = names.get(e["subscriber"], e["subscriber"])
        if e["event"] in ("walled", "released"):
            walled[who] = e["event"]
        kinds = rows.setdefault(who, {"dns": set(), "sni": set(), "urls": set(), "headers": set()})
        if e["event"] == "dns_query":
            kinds["dns"].add(e["host"])
        elif e["event"] in ("passed", "intercepted", "rejected") and e.get("sni"):
            kinds["sni"].add(e["sni"])
        elif e["event"] == "request":
            kinds["urls"].add(e["url"])
            kinds["headers"] |= {k for k in e.get("headers", {})}
    lines = [f"{'subscriber':12} {'names (DNS)':>11} {'names (SNI)':>11} {'full URLs':>9} {'garden':>8}  example"]
    for who in sorted(rows):
        k = rows[who]
        example = sorted(k["urls"])[0] if k["urls"] else (sorted(k["sni"])[0] if k["sni"] else "")
        garden = walled.get(who, "-")
        lines.append(f"{who:12} {len(k['dns']):>11} {len(k['sni']):>11} {len(k['urls']):>9} {garden:>8}  {example}")
    return "\n".join(lines)


def results_table(results: Path) -> str:
    """The table for a scenario's results directory (what the runner saved there)."""
    events = read(results / "surveillance.jsonl") + resolver_queries(results / "resolver-queries.log")
    names_file = results / "addresses.json"
    names = json.loads(names_file.read_text()) if names_file.exists() else {}
    return table(events, names)


def main(argv: list[str]) -> int:
    """``python -m tools.gateway.surveillance RESULTS_DIR``: print what the state saw."""
    if len(argv) != 1 or not (Path(argv[0]) / "surveillance.jsonl").exists():
        print(
            "usage: python -m tools.gateway.surveillance RESULTS_DIR (a run with the device attached)", file=sys.stderr
        )
        return 2
    print(results_table(Path(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
