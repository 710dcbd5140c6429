"""The interface every lab implements (its ``lab.py`` defines ``LAB``).

A lab says how a student's variant is drawn (``variant``), what the sealed environment
attaches for that variant (``steps``), what the student can run without the CLI
(``script``), and how a submission is graded (``check``). The framework does the rest.
A lab whose student works on the files of a recorded run rather than in the CLI also
says how that run is recorded (``record``). A lab whose checks share something costly
(a running lab for live checks) says how a class's grading holds it (``grading``). A lab
may build its topology with parameters (``topology_params``) and give the student's
Mininet CLI commands of its own (``cli``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

from labs.framework.checks import Task, TaskResult
from tools.lab.lab import Lab
from tools.lab.steps import Step


class LabDefinition(ABC):
    number: ClassVar[int]
    title: ClassVar[str]
    hours: ClassVar[str]  # how long a student needs, e.g. "1-2"
    cores: ClassVar[int]  # what the lab needs of the VM
    tasks: ClassVar[tuple[Task, ...]]
    topology: ClassVar[str] = "kz_isp"
    topology_params: ClassVar[dict[str, Any]] = {}  # e.g. {"circumvention": True}
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

    def record(self, variant: dict[str, Any], lab: Lab, work: Path) -> int | None:
        """For a lab graded on a recorded run: play the variant in ``lab`` (started, its
        ``steps`` attached) and leave the student's files in ``work``; the exit status.
        None (the default): the environment opens the CLI or runs the script instead."""
        return None

    def cli(self, variant: dict[str, Any], lab: Lab) -> None:
        """The student's Mininet CLI on the running ``lab`` until they leave it; Mininet's
        own by default (a lab may subclass it to add commands)."""
        from mininet.cli import CLI

        CLI(lab.net)

    def grading(self) -> AbstractContextManager[object]:
        """Entered once around the checks of a whole class (grade-all), for what they can
        share; nothing by default."""
        return nullcontext()
