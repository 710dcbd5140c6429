"""The interface every lab implements (its ``lab.py`` defines ``LAB``).

A lab says how a student's variant is drawn (``variant``), what the sealed environment
attaches for that variant (``steps``), what the student can run without the CLI
(``script``), and how a submission is graded (``check``). The framework does the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from labs.framework.checks import Task, TaskResult
from tools.lab.steps import Step


class LabDefinition(ABC):
    number: ClassVar[int]
    title: ClassVar[str]
    hours: ClassVar[str]  # how long a student needs, e.g. "1-2"
    cores: ClassVar[int]  # what the lab needs of the VM
    tasks: ClassVar[tuple[Task, ...]]
    topology: ClassVar[str] = "kz_isp"
    # (node, shell command) pairs run by `lab N --no-cli` (Task 0's checks, say)
    script: ClassVar[tuple[tuple[str, str], ...]] = ()
    probe_sites: ClassVar[tuple[str, ...]] = ()  # the sites each client's OONI probe plan tests

    @abstractmethod
    def variant(self, student: str) -> dict[str, Any]:
        """The student's mysteries, drawn from labs.framework.variants.rng (JSON-able)."""

    @abstractmethod
    def steps(self, variant: dict[str, Any]) -> list[Step]:
        """What the environment attaches for this variant, in order."""

    @abstractmethod
    def check(self, variant: dict[str, Any], submission: Path) -> list[TaskResult]:
        """One result per task, in the order of ``tasks``, graded from files only."""
