"""bench/national_scale: the ``shutdown_variants`` scenario on the national topology at
growing sizes, each run exactly as a user runs it, against the smallest size in the same run.

Each size is one ``python -m scenarios run shutdown_variants --param operators=OPS
--param subscribers=N --results DIR`` (a subprocess from the repo, its results in a
temporary directory removed afterwards), whose summary.json gives: the lab's time to
ready, the clients, and per phase (7: baseline, the five mechanisms, restored) its cells
(client x site, every client fetching the six sites) and its seconds in steps, probes and
outside view (the BGP view at the transit provider plus the ping sweep from abroad).

Reported per size: clients, cells per phase, time to ready, mean time per phase (steps +
probes + outside view), mean probe time and outside-view time per phase, time per cell
(probe time / cells), whether every cell matched its expectation and the model's
prediction, and the run's wall time; against the smallest size (the baseline): the ratio
of cells, of time per phase, and of time per phase per cell (about 1 or below: the cost
grows linearly with the cells, or better).
Goal (issue 5): a cost linear in the number of cells (per-cell ratio about 1 or below).

    python -m bench national_scale [SUBSCRIBERS ...] [--operators 5] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.results import RESULTS, write

REPO = Path(__file__).resolve().parents[1]
WORK = RESULTS / "national_scale-work"
SCENARIO = "shutdown_variants"
SIZES = (4, 16, 64)  # subscribers per operator
OPERATORS = 5
TIMEOUT = 1800  # seconds, per scenario run
TAIL, WIDTH = 20, 200  # the lines (and their characters) shown of a run that failed before its phases
LINEAR = 1.1  # a per-cell cost ratio up to this is linear (the rest is noise)


def run_scenario(operators: int, subscribers: int, timeout: float) -> dict[str, Any]:
    """One scenario run as a user runs it: its summary.json, exit status, wall time and, if it
    failed before playing its phases, the last lines of its output."""
    WORK.mkdir(parents=True, exist_ok=True)
    results = Path(tempfile.mkdtemp(prefix=f"{subscribers}-", dir=WORK))
    cmd = [sys.executable, "-m", "scenarios", "run", SCENARIO, "--results", str(results)]
    cmd += ["--param", f"operators={operators}", "--param", f"subscribers={subscribers}"]
    t0 = time.monotonic()
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            output = proc.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            proc.terminate()  # passed on to the lab, which tears down and writes its summary
            output = proc.communicate()[0] + f"\nnational_scale: stopped after {timeout:.0f}s"
    rc = proc.returncode
    wall = time.monotonic() - t0
    try:
        summary = json.loads(next(results.glob(f"{SCENARIO}/*/summary.json")).read_text())
    except StopIteration:
        summary = {}
    finally:
        shutil.rmtree(results)
    # Why a run that played no phase failed (the summary names a played one's cells).
    tail = None if rc == 0 or summary.get("phases") else "\n".join(x[:WIDTH] for x in output.splitlines()[-TAIL:])
    return {"rc": rc, "wall": wall, "summary": summary, "tail": tail}


def mismatches(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every cell that missed its expectation or the prediction, with its phase."""
    return [
        {"phase": p["name"]} | c
        for p in summary.get("phases", [])
        for c in p["cells"]
        if not (c["match"] and c.get("as_predicted", True))
    ]


def row(operators: int, subscribers: int, run: dict[str, Any]) -> dict[str, Any]:
    """The figures of one size (those of its phases absent if the run never played them)."""
    summary = run["summary"]
    phases = [
        {"name": p["name"], "cells": len(p["cells"]), **p["seconds"]}
        | {"total": p["seconds"]["steps"] + p["seconds"]["probes"] + p["seconds"]["outside_view"]}
        for p in summary.get("phases", [])
    ]
    out: dict[str, Any] = {
        "operators": operators,
        "subscribers": subscribers,
        "rc": run["rc"],
        "wall_s": run["wall"],
        "clients": summary.get("clients"),
        "ready_s": summary.get("timings", {}).get("ready"),
        "matched": bool(summary.get("matched")) and run["rc"] == 0,
        "mismatched_cells": mismatches(summary),
        "error": summary.get("error") or summary.get("interrupted"),
        "output_tail": run["tail"],
        "phases": phases,
    }
    if phases:
        out |= {
            "cells_per_phase": statistics.mean(p["cells"] for p in phases),
            "phase_s": statistics.mean(p["total"] for p in phases),
            "probes_s": statistics.mean(p["probes"] for p in phases),
            "outside_view_s": statistics.mean(p["outside_view"] for p in phases),
        }
        out["cell_s"] = out["probes_s"] / out["cells_per_phase"]
    return out


def add_ratios(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Ratios against the smallest size that played its phases (the baseline); returns it."""
    played = [r for r in rows if r["phases"]]
    if not played:
        return None
    base = min(played, key=lambda r: r["subscribers"])
    for r in played:
        r["cells_ratio"] = r["cells_per_phase"] / base["cells_per_phase"]
        r["phase_ratio"] = r["phase_s"] / base["phase_s"]
        r["per_cell_ratio"] = r["phase_ratio"] / r["cells_ratio"]
    return base


HEADER = (
    ("subs", 5),
    ("clients", 7),
    ("cells", 6),
    ("ready", 7),
    ("phase", 8),
    ("probes", 8),
    ("outside", 8),
    ("per cell", 9),
    ("matched", 7),
    ("wall", 8),
    ("cells x", 7),
    ("phase x", 7),
    ("/cell x", 7),
)


def line(r: dict[str, Any]) -> str:
    def num(key: str, fmt: str, unit: str = "") -> str:
        return "-" if r.get(key) is None else f"{r[key]:{fmt}}{unit}"

    cells = (
        str(r["subscribers"]),
        num("clients", "d"),
        num("cells_per_phase", ".0f"),
        num("ready_s", ".1f", "s"),
        num("phase_s", ".1f", "s"),
        num("probes_s", ".1f", "s"),
        num("outside_view_s", ".1f", "s"),
        num("cell_s", ".3f", "s"),
        "yes" if r["matched"] else "NO",
        num("wall_s", ".0f", "s"),
        num("cells_ratio", ".2f", "x"),
        num("phase_ratio", ".2f", "x"),
        num("per_cell_ratio", ".2f", "x"),
    )
    return " ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, HEADER, strict=True))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench national_scale",
        description=f"the {SCENARIO} scenario on the national topology at growing sizes",
    )
    parser.add_argument("subscribers", nargs="*", type=int, default=list(SIZES), help="subscribers per operator")
    parser.add_argument("--operators", type=int, default=OPERATORS, help="operators (2..)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per scenario run")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.subscribers))
    print(
        f"national_scale: {SCENARIO}, {args.operators} operators x {', '.join(map(str, sizes))} subscribers;"
        " per phase means; ratios against the smallest size"
    )
    rows = []
    for n in sizes:
        print(f"national_scale: running subscribers={n} ...", flush=True)
        rows.append(row(args.operators, n, run_scenario(args.operators, n, args.timeout)))
    shutil.rmtree(WORK)  # with what a killed earlier run left there
    base = add_ratios(rows)
    print(" ".join(f"{h:>{w}}" for h, w in HEADER))
    for r in rows:
        print(line(r))
    failed = [r for r in rows if r["rc"] != 0]
    for r in failed:
        what = r["error"] or f"exit status {r['rc']}"
        print(f"national_scale: subscribers={r['subscribers']}: {what}; {len(r['mismatched_cells'])} cells missed")
        if r["output_tail"]:
            print(f"  last lines of its output:\n{r['output_tail']}")
        for phase in dict.fromkeys(c["phase"] for c in r["mismatched_cells"]):
            missed = [c for c in r["mismatched_cells"] if c["phase"] == phase]
            c = missed[0]
            predicted = f", predicted {c['predicted']}" if "predicted" in c else ""
            print(
                f"  {phase}: {len(missed)} cells, e.g. {c['client']} -> {c['target']}: {c['observed']}"
                f" (expected {c['expected']}{predicted})"
            )
    others = [r for r in rows if "per_cell_ratio" in r and r is not base]
    if base is not None and others:  # ratios exist only against a baseline
        worst = max(others, key=lambda r: r["per_cell_ratio"])
        verdict = "linear or better" if worst["per_cell_ratio"] <= LINEAR else "worse than linear"
        print(
            f"national_scale: worst per-cell cost {worst['per_cell_ratio']:.2f}x the {base['subscribers']}-subscriber"
            f" baseline, at {worst['subscribers']} subscribers ({verdict})"
        )
    write(
        "national_scale",
        {
            "scenario": SCENARIO,
            "operators": args.operators,
            "baseline": base["subscribers"] if base else None,
            "sizes": rows,
        },
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
