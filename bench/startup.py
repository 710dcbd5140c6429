"""bench/startup: time until a lab with N subscribers is ready, and its teardown,
beside bare Mininet with the same number of hosts, measured in the same run.

The lab is the default ``kz_isp`` with N subscribers (half home, half mobile) plus its
ISP and internet (4 routers, 18 servers and a vantage point: BIND, nginx, the Telegram
DCs, the certificate portal, the control helper), ready when every service answers its
readiness check. Bare Mininet is what a student would write with the same number of
hosts (N + 23): hosts on one Linux bridge (mininet.nodelib.LinuxBridge), ``net.start()``,
``net.stop()``. Both run sealed, in their own namespaces; teardown is timed from its
start until the run's namespace is gone. Each size is measured ROUNDS times, bare and lab
in turn, and the medians are compared: on a shared machine one run of either can be
twice its usual time.
Goal (issue 2): lab ready within 1.5x bare Mininet.

    python -m bench.startup [N ...]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TypedDict

from bench.results import write
from tools.lab import seal
from topologies import kz_isp
from topologies.model import TopologyModel

SIZES = (8, 64, 256)
GOAL = 1.5
ROUNDS = 3


class Run(TypedDict):
    """One sealed run's figures, in seconds."""

    kind: str
    n: int
    ready: float
    teardown: float


class Row(TypedDict):
    """One size: the median of the bare and of the lab runs, the lab's cost relative to
    bare Mininet, and every run."""

    n: int
    hosts: int
    bare: Run
    lab: Run
    ready_ratio: float
    teardown_ratio: float
    runs: list[Run]


def lab_model(subscribers: int) -> TopologyModel:
    return kz_isp.build(home=subscribers // 2, mobile=subscribers - subscribers // 2)


def _inner(kind: str, n: int) -> None:
    """Runs inside a sealed run: build, start, report, stop (prints one JSON line)."""
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge
    from mininet.topo import SingleSwitchTopo

    Mininet.inited = True  # as the lab does: no host-wide sysctls from fixLimits()
    t0 = time.monotonic()
    if kind == "bare":
        net = Mininet(topo=SingleSwitchTopo(n), switch=LinuxBridge, controller=None, waitConnected=False)
        net.start()
        ready = time.monotonic() - t0
        t1 = time.monotonic()
        net.stop()
    else:
        from tools.lab.lab import Lab

        run = seal.Run(os.environ["KZLAB_RUN"])
        lab = Lab(lab_model(n), Path(os.environ["KZLAB_RUN_DIR"]), run.named_dir)
        lab.start()
        ready = time.monotonic() - t0
        t1 = time.monotonic()
        lab.stop()
    print(json.dumps({"kind": kind, "n": n, "ready": ready, "stop_inside": time.monotonic() - t1}), flush=True)


def measure(kind: str, n: int) -> Run:
    """One sealed run of ``kind`` with ``n`` hosts; teardown includes the namespace."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"kzlab-bench-{os.getpid()}-{kind}-{n}.json"
    run = seal.create()
    try:
        with open(out, "w") as f:
            rc = seal.run_inside(run, [sys.executable, "-m", "bench.startup", "_inner", kind, str(n)], stdout=f)
        if rc != 0:
            raise RuntimeError(f"bench {kind} n={n} failed with status {rc}")
        result = json.loads(out.read_text().strip().splitlines()[-1])
        t = time.monotonic()
    finally:
        seal.destroy(run)
        out.unlink(missing_ok=True)
    result["teardown"] = result.pop("stop_inside") + time.monotonic() - t
    return result


def median(runs: list[Run], kind: str, n: int) -> Run:
    """The median ready and teardown times of the runs of ``kind``."""
    mine = [run for run in runs if run["kind"] == kind]
    return {
        "kind": kind,
        "n": n,
        "ready": statistics.median(run["ready"] for run in mine),
        "teardown": statistics.median(run["teardown"] for run in mine),
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["_inner"]:
        _inner(argv[1], int(argv[2]))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    rows: list[Row] = []
    print(f"medians of {ROUNDS} runs each, bare and lab in turn")
    header = ("N", "hosts", "bare ready", "lab ready", "ratio", "bare down", "lab down", "ratio")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 6, 11, 10, 6, 10, 9, 6), strict=True)))
    for n in sizes:
        hosts = len(lab_model(n).nodes())
        runs = [run for _ in range(ROUNDS) for run in (measure("bare", hosts), measure("lab", n))]
        bare, lab = median(runs, "bare", hosts), median(runs, "lab", n)
        row: Row = {
            "n": n,
            "hosts": hosts,
            "bare": bare,
            "lab": lab,
            "ready_ratio": lab["ready"] / bare["ready"],
            "teardown_ratio": lab["teardown"] / bare["teardown"],
            "runs": runs,
        }
        rows.append(row)
        print(
            f"{n:>5} {hosts:>6} {bare['ready']:>10.2f}s {lab['ready']:>9.2f}s {row['ready_ratio']:>5.2f}x"
            f" {bare['teardown']:>9.2f}s {lab['teardown']:>8.2f}s {row['teardown_ratio']:>5.2f}x",
            flush=True,
        )
    worst = max(r["ready_ratio"] for r in rows)
    verdict = "meets" if worst <= GOAL else "misses"
    print(f"startup: worst ready ratio {worst:.2f}x bare Mininet ({verdict} the {GOAL}x goal)")
    write("startup", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
