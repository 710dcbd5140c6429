"""Run a client's probe plan inside its lab host and write OONI-like records (JSONL).

    python -m tools.probes PLAN.json OUT.jsonl

The plan names the client, the control helper's address, any interception roots to
recognise, and the targets; every target runs concurrently and each result is one line:
an OONI-style measurement (test_name, input, test_keys, times) plus the lab's ``kzlab``
block with the client, target and the outcome the matrix shows.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.probes import facebook_messenger, telegram, tor, urlgetter, web_connectivity

MAX_PARALLEL = 8


def run_target(plan: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    start, started = time.monotonic(), dt.datetime.now(dt.UTC)
    kind = target["kind"]
    roots, options = frozenset(plan.get("interception_roots", [])), plan.get("options", {})
    if kind == "web_connectivity":
        result = web_connectivity.measure(target["url"], plan["helper"], roots, options)
    elif kind == "urlgetter":
        result = urlgetter.measure(target["url"], roots, options)
    elif kind == "telegram":
        result = telegram.measure(plan["helper"], proxy=options.get("telegram_proxy"))
    elif kind == "facebook_messenger":
        result = facebook_messenger.measure()
    elif kind == "mtproto":
        result = telegram.measure_endpoint(target["url"])
    elif kind == "tor":
        result = tor.measure(options)
    else:
        raise ValueError(f"unknown probe kind {kind!r}")
    return {
        "measurement_start_time": started.strftime("%Y-%m-%d %H:%M:%S"),
        "test_runtime": round(time.monotonic() - start, 3),
        "probe_cc": plan.get("probe_cc", "ZZ"),
        "probe_asn": plan.get("probe_asn", "AS0"),
        "software_name": "kzlab",
        "test_name": result["test_name"],
        "input": result["input"],
        "test_keys": result["test_keys"],
        "kzlab": {"client": plan["client"], "target": target["name"], "outcome": result["outcome"]},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tools.probes PLAN.json OUT.jsonl", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        plan = json.load(f)
    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        records = list(pool.map(lambda t: run_target(plan, t), plan["targets"]))
    with open(argv[1], "w") as out:
        for record in records:
            out.write(json.dumps(record, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
