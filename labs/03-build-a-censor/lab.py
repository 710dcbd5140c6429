"""Lab 3, "Build a censor": the student writes a censor on kzlab's censor interface.

The variant picks the rule the censor enforces (build_a_censor/rules.py: SNI resets, DNS
drops or answers, HTTP block pages, address blocking, MTProto DPI, kazakhstan.md section
3) with its names, prefixes or ports; ``run.py start`` writes the starter file. The
checker grades ``censor.py`` three ways: offline over hidden captures made for the
variant (recall and precision of its decisions), under hostile packets (no crash, no
stall, fails open, still decides), and live at the ISP gateway of a lab (a probe to what
the rule blocks and to what it leaves alone). The live check needs root and builds a
lab, one for a whole class graded at once (``grading``); it runs only for a censor that
blocks something offline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this lab's package (a lab folder is no package)

from build_a_censor import checker, live, rules
from build_a_censor.starter import FILE

from labs.framework.checks import Task, TaskResult
from labs.framework.shared_lab import SharedLab
from tools.lab.steps import Step


class BuildACensor(SharedLab):
    number = rules.LAB
    title = "Build a censor"
    hours = "2-3"
    cores = 2
    tasks = (
        Task("recall", "it blocks what the rule blocks (hidden captures)", 25,
             f"{FILE}: decide() blocking what your rule names (Tasks 1-3)"),
        Task("precision", "it blocks nothing else (hidden captures)", 25,
             f"{FILE}: selects() and decide() letting everything else pass (Tasks 1-3)"),
        Task("live", "it works at the ISP gateway: a blocked and an allowed probe", 30,
             f"{FILE}: selection() for the kernel, and injected packets the client accepts (Task 4)"),
        Task("hostile", "malformed packets: no crash, no stall, fails open, still decides", 20,
             f"{FILE}: a censor that survives hostile packets (Task 5)"),
    )  # fmt: skip
    script = (("home1", "dig +short @8.8.8.8 vk.com"),)

    def variant(self, student: str) -> dict[str, Any]:
        return rules.variant(student)

    def steps(self, variant: dict[str, Any]) -> list[Step]:
        return []  # the student attaches their own censor (run.py live)

    def check(self, variant: dict[str, Any], submission: Path) -> list[TaskResult]:
        recall, precision, live_, hostile = self.tasks
        censor = submission / FILE
        if not censor.is_file():
            start = "python labs/03-build-a-censor/run.py start writes the starter"
            return [t.failed(f"no {FILE} in {submission} ({start}); it needs {t.todo}") for t in self.tasks]
        results = checker.offline(variant["student"], censor)
        if "unusable" in results:
            return [t.failed(results["unusable"]) for t in self.tasks]
        scored = [checker.recall(recall, results), checker.precision(precision, results)]
        blocks = any(r["block"] and r["blocked"] for r in results.get("captured", {}).get("flows", []))
        if not blocks:
            scored.append(live_.failed("not run: it blocks nothing your rule blocks offline (see recall) "
                                       "and would block nothing live"))  # fmt: skip
        elif os.geteuid() != 0:
            scored.append(live_.failed("not run: the live check builds a lab, which needs root (sudo make check ...)"))
        else:
            scored.append(checker.live(live_, self._live(variant["student"], censor)))
        scored.append(checker.hostile(hostile, results))
        return scored

    def _live(self, student: str, censor: Path) -> live.Outcome:
        with self.live_session() as session:
            return live.check(session, student, censor)


LAB = BuildACensor()
