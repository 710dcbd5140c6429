"""A lab's tasks and what the checker says of each: PASS/FAIL, points, a hint on failure."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Task:
    """A graded task of a lab: a short key (a CSV column), its title and its points."""

    key: str
    title: str
    points: int
    todo: str  # what the task asks for, the hint when nothing was submitted for it

    def passed(self) -> TaskResult:
        return TaskResult(self.key, self.title, self.points, self.points, "")

    def failed(self, hint: str) -> TaskResult:
        return TaskResult(self.key, self.title, 0, self.points, hint)


@dataclass(frozen=True)
class TaskResult:
    key: str
    title: str
    earned: int
    points: int
    hint: str  # empty when passed

    @property
    def ok(self) -> bool:
        return self.earned == self.points


@dataclass(frozen=True)
class Report:
    """One student's grade for one lab."""

    lab: int
    student: str
    results: tuple[TaskResult, ...]

    @property
    def earned(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def points(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "student": self.student,
            "earned": self.earned,
            "points": self.points,
            "passed": self.ok,
            "tasks": [asdict(r) | {"passed": r.ok} for r in self.results],
        }

    def text(self) -> str:
        lines = [f"lab {self.lab}, student {self.student}"]
        for r in self.results:
            lines.append(f"  {'PASS' if r.ok else 'FAIL'}  {r.earned:3}/{r.points:<3} {r.key}: {r.title}")
            if r.hint:
                lines.append(f"        hint: {r.hint}")
        lines.append(f"  total {self.earned}/{self.points}")
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)
