"""Lab 4, "Get around it": the student gets a probe past each censor of their variant with
the circumvention tools the lab offers (tools/circumvent), and says why it works.

The variant (get_around_it/catalogue.py) attaches three censors, each keeping one
subscriber from one target: a DNS mechanism, an SNI or address mechanism, and the 2019
interception device or Telegram's blocking; half the variants add a counter-move that
rules out an obvious tool. For each, ``answers.json`` gives a recipe (a method and its
parameters) and why it works. The checker replays every recipe in a live lab built with
the circumvention servers (one for a whole class graded at once, ``grading``): the
variant's censors attached, the method switched on in the subscriber, the task's probe
run there (replay.py); the "why" answers are graded offline by key words (why.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this lab's package (a lab folder is no package)

from get_around_it import catalogue, recipes, replay, why
from get_around_it.recipes import Recipe

from labs.framework.answers import FILE
from labs.framework.checks import Task, TaskResult
from labs.framework.shared_lab import SharedLab
from tools.lab.lab import Lab
from tools.lab.session import LabSession
from tools.lab.steps import Step

TITLES = {
    "dns": "past the DNS censor",
    "site": "past the censor of the site's connections",
    "device_or_telegram": "past the 2019 device or Telegram's censors",
}
POINTS = {"dns": (20, 10), "site": (20, 10), "device_or_telegram": (25, 15)}  # (recipe, why)


def _tasks() -> tuple[Task, ...]:
    """Per task of the variant: its recipe (replayed live), then its why (graded offline)."""
    out = []
    for n, key in enumerate(catalogue.TASKS, start=1):
        recipe, why_ = POINTS[key]
        out += [
            Task(key, f"a recipe {TITLES[key]} (replayed live)", recipe,
                 f'"{key}": {{"method": ..., "params": {{...}}}}, a way around its censor (Task {n})'),
            Task(f"{key}_why", f"why it gets {TITLES[key]}", why_,
                 f'"{key}"."why": why your recipe gets through, in a few sentences (Task {n})'),
        ]  # fmt: skip
    return tuple(out)


class GetAroundIt(SharedLab):
    number = catalogue.LAB
    title = "Get around it"
    hours = "2-3"
    cores = 2
    tasks = _tasks()
    topology_params = catalogue.TOPOLOGY
    script = (
        ("home1", "dig +short kaspi.kz"),
        ("home1", "curl -sS -o /dev/null -w 'kaspi.kz: HTTP %{http_code}\\n' https://kaspi.kz/"),
    )

    def variant(self, student: str) -> dict[str, Any]:
        return catalogue.variant(student)

    def steps(self, variant: dict[str, Any]) -> list[Step]:
        return catalogue.steps(variant)

    def cli(self, variant: dict[str, Any], lab: Lab) -> None:
        from get_around_it.cli import LabCLI

        LabCLI(variant, lab)

    def check(self, variant: dict[str, Any], submission: Path) -> list[TaskResult]:
        given = recipes.read(submission)
        if given is None:
            return [t.failed(f"no {FILE} in {submission}; it needs {t.todo}") for t in self.tasks]
        found = {key: recipes.recipe(given, key) for key in catalogue.TASKS}
        live = self._replayed(variant, {k: r for k, r in found.items() if isinstance(r, Recipe)})
        tasks = {t.key: t for t in self.tasks}
        results = []
        for key in catalogue.TASKS:
            task, recipe = variant["tasks"][key], found[key]
            if isinstance(recipe, str):
                results.append(tasks[key].failed(recipe))
            elif isinstance(live, str):
                results.append(tasks[key].failed(live))
            else:
                results.append(replay.grade(tasks[key], task, variant["counter_move"], recipe, live[key]))
            censors = [c["censor"] for c in task["censors"]]
            results.append(why.grade(tasks[f"{key}_why"], recipes.why(given, key), censors, recipes.method(given, key)))
        return results

    def _replayed(self, variant: dict[str, Any], found: dict[str, Recipe]) -> dict[str, replay.Outcome] | str:
        """Each recipe's replay, or why none was replayed (a hint for every recipe task)."""
        if not found:
            return {}
        if os.geteuid() != 0:
            return "not replayed: the checker replays recipes in a live lab, which needs root (sudo make check L=4 ...)"
        try:
            with self.live_session() as session:
                return self._replay(session, variant, found)
        except (RuntimeError, OSError) as exc:  # LabSessionError among them: the lab, not the recipe
            return f"the grading lab failed, not your recipe: {' '.join(str(exc).split())}"

    def _replay(self, lab: LabSession, variant: dict[str, Any], found: dict[str, Recipe]) -> dict[str, replay.Outcome]:
        with replay.attached(lab, variant):
            return {key: replay.replay(lab, variant["tasks"][key], r, f"lab04-{key}") for key, r in found.items()}


LAB = GetAroundIt()
