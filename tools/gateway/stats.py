"""The interception device's counters, and its error log that no flood can fill.

The device counts what it does (packets, flows evicted or expired, decisions passed for
overload, errors by kind) and writes the counts, with a few gauges, as one JSON file in
its working directory (atomically: a reader never sees half a file), every second and at
exit; tests and benchmarks read it. An error is logged to stderr at its 1st, 10th, 100th
... occurrence of each kind, so that a flood of bad packets writes a handful of lines,
never a full disk.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any


class Stats:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.lock = threading.Lock()  # errors come from every thread

    def count(self, name: str, n: int = 1) -> None:
        """Count on the packet loop's thread (the only one that counts: no lock to take)."""
        self.counts[name] += n

    def error(self, kind: str, exc: BaseException) -> None:
        """Count an error of ``kind``; log it when its count is a power of ten."""
        with self.lock:
            self.errors[kind] += 1
            n = self.errors[kind]
        if _power_of_ten(n):
            print(f"interceptor: error {kind} (#{n}): {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def write(self, **gauges: Any) -> None:
        with self.lock:
            errors = dict(self.errors)
        record = {"pid": os.getpid(), **gauges, "counts": dict(self.counts), "errors": errors}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, sort_keys=True) + "\n")
        tmp.replace(self.path)


def _power_of_ten(n: int) -> bool:
    while n % 10 == 0:
        n //= 10
    return n == 1


def rss_kb() -> dict[str, int]:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), in kB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name.lower().removeprefix("vm") + "_kb"] = int(value.split()[0])
    return out
