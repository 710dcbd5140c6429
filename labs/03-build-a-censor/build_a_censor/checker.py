"""Lab 3's tasks graded: the offline results turned into points and hints, and the live check's.

The student's code never runs in the checker's own process: ``offline`` runs
``run.py evaluate`` in a child with a time limit and a memory limit, and reads the
results the child writes after each phase (evaluate.py), so a censor that loops, exits
or crashes the interpreter costs its own grade and nothing else.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from build_a_censor.evaluate import SLOW
from build_a_censor.live import RUN, Outcome
from labs.framework.checks import Task, TaskResult

THRESHOLD = 0.95  # precision and recall a censor needs on the hidden captures
MOST_CLOSED = 0.01  # share of innocent malformed packets a censor may block
TIME_LIMIT = 120.0  # seconds for the whole offline evaluation
MEMORY_LIMIT = 2 << 30
EXAMPLES = 3


def offline(student: str, censor: Path) -> dict[str, Any]:
    """What ``run.py evaluate`` found (phases it did not finish are missing), and, when it
    did not finish, why: ``stopped``."""
    with tempfile.TemporaryDirectory(prefix="kzlab-lab03-") as tmp:
        out = Path(tmp) / "results.json"
        argv = [sys.executable, str(RUN), "evaluate", "--student", student, str(censor.resolve()), "--out", str(out)]
        stopped = None
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIME_LIMIT, preexec_fn=_limits)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
                stopped = f"the process running your censor died (exit status {proc.returncode}): {last[:200]}"
        except subprocess.TimeoutExpired:
            stopped = f"grading did not finish within {TIME_LIMIT:.0f} s (a decision that never returns?)"
        results = json.loads(out.read_text()) if out.exists() else {}
    return results | ({"stopped": stopped} if stopped else {})


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _examples(rows: list[dict[str, Any]]) -> str:
    return "; ".join(r["what"] for r in rows[:EXAMPLES])


def _raised(captured: dict[str, Any]) -> str:
    if captured.get("crash"):
        return f" Grading stopped: {captured['crash']}."
    if captured["raised"]:
        return f" It raised on {captured['raised']} packets, each let through: {captured['first_error']}."
    return ""


def recall(task: Task, results: dict[str, Any]) -> TaskResult:
    if "captured" not in results:
        return task.failed(f"no result: {results.get('stopped')}")
    rows = results["captured"]["flows"]
    must = [r for r in rows if r["block"]]
    missed = [r for r in must if not r["blocked"]]
    score = 1 - len(missed) / len(must)
    if score >= THRESHOLD:
        return task.passed()
    return task.failed(
        f"recall {score:.2f} ({len(must) - len(missed)} of the {len(must)} flows your rule blocks; {THRESHOLD} "
        f"needed): it let through e.g. {_examples(missed)}.{_raised(results['captured'])}"
    )


def precision(task: Task, results: dict[str, Any]) -> TaskResult:
    if "captured" not in results:
        return task.failed(f"no result: {results.get('stopped')}")
    rows = results["captured"]["flows"]
    blocked = [r for r in rows if r["blocked"]]
    if not blocked:
        return task.failed(
            "it blocked no flow of the hidden captures, so it blocks nothing wrongly only by doing nothing"
        )
    wrong = [r for r in blocked if not r["block"]]
    score = 1 - len(wrong) / len(blocked)
    if score >= THRESHOLD:
        return task.passed()
    return task.failed(
        f"precision {score:.2f} ({len(wrong)} of the {len(blocked)} flows it blocked are ones your rule lets "
        f"pass; {THRESHOLD} needed): e.g. {_examples(wrong)}"
    )


def hostile(task: Task, results: dict[str, Any]) -> TaskResult:
    if "hostile" not in results:
        return task.failed(f"no result: {results.get('stopped') or 'the captures were not graded'}")
    h = results["hostile"]
    if h["crash"]:
        return task.failed(f"{h['crash']}: that escapes the engine's guard and kills it; raise nothing but Exception")
    if h["slowest"] > SLOW:
        return task.failed(
            f"one decision took {h['slowest']:.2f} s of CPU on {h['slowest_at']} (at most {SLOW} s): the engine "
            "decides every packet in one loop, so one slow packet stalls them all"
        )
    if h["closed"] > MOST_CLOSED * h["innocent"]:
        return task.failed(
            f"it blocked {h['closed']} of {h['innocent']} malformed packets that carry nothing your rule blocks "
            f"(e.g. {'; '.join(h['closed_examples'])}): what you cannot read must pass (fail open)"
        )
    after = h["after"]
    if after["crash"] or not after["blocked"]:
        return task.failed(f"after {h['packets']} malformed packets it no longer blocks {after['blocks']} "
                           "(did it ever? see the recall task)")  # fmt: skip
    if not after["passed"]:
        return task.failed(f"after {h['packets']} malformed packets it blocks {after['passes']}")
    return task.passed()


def live(task: Task, outcome: Outcome) -> TaskResult:
    if outcome.failed_start is not None:
        return task.failed(outcome.failed_start)
    wrong = [f"{k}: {p['target']} gave {p['seen']}, expected {p['expected']}" for k, p in outcome.probes.items()
             if not p["ok"]]  # fmt: skip
    if wrong:
        return task.failed("; ".join(wrong) + (f" (its output: {outcome.log})" if outcome.log else ""))
    if not outcome.survived:
        return task.failed(f"its process died during the probes: {outcome.log or 'no output'}")
    return task.passed()
