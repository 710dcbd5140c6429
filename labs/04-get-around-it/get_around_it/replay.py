"""Recipes replayed in a live lab, as the checker and the lab's CLI replay them.

The variant's censors are attached at their nodes (``attached``). For a task, the
recipe's method is switched on in the task's subscriber, the task's probe runs there as
the scenario runner runs it (python -m tools.probes, with the probe options the methods
ask for: fronting's fronts, the MTProto proxy's link), and the method is switched off
again. A recipe gets through when the probe reports ``accessible`` and, for a site, the
TLS chain it verified ends at the lab's global root: the real certificate, not the
national one.

Anything with ``LiveLab``'s methods will do: a LabSession (the checker) or the student's
running lab (cli.py).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from get_around_it.catalogue import COUNTER_MOVES, TELEGRAM, TOPOLOGY, steps, target
from get_around_it.recipes import Recipe
from labs.framework.checks import Task, TaskResult
from tools.lab.session import LabSessionError, Result
from tools.play.runner import probe_plan
from tools.play.spec import Target
from tools.services.pki import GLOBAL_ROOT_NAME
from topologies import registry
from topologies.model import TopologyModel

PROBE_TIMEOUT = 150.0  # a telegram probe whose every data centre times out takes longest
REAL_ROOT = GLOBAL_ROOT_NAME.rfc4514_string()


class Prober(Protocol):
    """What a probe needs of a lab: its run directory, a command in a node, the node's
    probe options."""

    @property
    def rundir(self) -> Path: ...

    def run(self, node: str, command: str, timeout: float = 60) -> Result: ...

    def probe_options(self, node: str) -> dict[str, Any]: ...


class LiveLab(Prober, Protocol):
    """What a replay needs: also censors attached and methods switched on (LabSession)."""

    def attach(self, key: str, censor: str, node: str, **params: Any) -> None: ...

    def detach(self, key: str) -> None: ...

    def circumvent(self, key: str, method: str, node: str, **params: Any) -> None: ...

    def uncircumvent(self, key: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What a replay saw: the method's one line if it did not come up, else the probe's
    cell and the root its TLS chain ended at (None: no chain, or Telegram's probe)."""

    failed_start: str | None
    cell: str = ""
    root: str | None = None


@cache
def model() -> TopologyModel:
    return registry.build("kz_isp", **TOPOLOGY)


def probe(lab: Prober, node: str, what: Target) -> dict[str, Any]:
    """``node``'s probe of ``what`` with its methods' options: the record it wrote
    (RuntimeError if the probe itself failed)."""
    work = lab.rundir / "lab04-probes"
    work.mkdir(exist_ok=True)
    plan, out = work / f"{node}-{uuid.uuid4().hex[:8]}.json", work / f"{node}-{uuid.uuid4().hex[:8]}.jsonl"
    plan.write_text(json.dumps(probe_plan(model(), [what], node) | {"options": lab.probe_options(node)}))
    r = lab.run(node, f"{sys.executable} -m tools.probes {plan} {out}", timeout=PROBE_TIMEOUT)
    if r.rc != 0 or not out.is_file():
        last = (r.err.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the probe in {node} failed (exit status {r.rc}): {last}")
    record: dict[str, Any] = json.loads(out.read_text().splitlines()[0])
    return record


@contextmanager
def attached(lab: LiveLab, variant: dict[str, Any]) -> Iterator[None]:
    """The variant's censors attached for the block, detached after it."""
    done: list[str] = []
    try:
        for step in steps(variant):
            lab.attach(step.key, step.censor, step.node, **step.params)
            done.append(step.key)
        yield
    finally:
        for key in reversed(done):
            lab.detach(key)


def replay(lab: LiveLab, task: dict[str, Any], recipe: Recipe, key: str) -> Outcome:
    """Switch the recipe's method on in the task's subscriber, probe, switch it off."""
    node = task["subscriber"]
    try:
        lab.circumvent(key, recipe.method, node, **recipe.params)
    except LabSessionError as exc:
        return Outcome(" ".join(str(exc).split()))
    try:
        record = probe(lab, node, target(task))
    finally:
        lab.uncircumvent(key)
    return Outcome(None, record["kzlab"]["outcome"], record.get("test_keys", {}).get("tls_chain_root"))


def through(task: dict[str, Any], outcome: Outcome) -> bool:
    """The probe got through: accessible, with the real certificate for a site."""
    return outcome.cell == "accessible" and (task["target"] == TELEGRAM or outcome.root == REAL_ROOT)


def grade(
    graded: Task, task: dict[str, Any], counter: dict[str, Any] | None, recipe: Recipe, outcome: Outcome
) -> TaskResult:
    """The recipe task from its replay: PASS when it got through, else a hint saying what
    was seen (and the counter-move, when it is there to stop this method)."""
    if through(task, outcome):
        return graded.passed()
    node, method = task["subscriber"], recipe.method
    if outcome.failed_start is not None:
        seen = f"{method} did not come up in {node}: {outcome.failed_start.removeprefix('MethodError: ')}"
    else:
        seen = f"with {method} on, {node}'s probe of {task['target']} saw {outcome.cell}"
        if outcome.cell == "accessible":
            seen += f", but the certificate's chain ended at {outcome.root}, not the real root"
    if counter is not None and method in COUNTER_MOVES[counter["censor"]]:
        return graded.failed(f"{seen}: the counter-move {counter['censor']} in your lab is there to stop {method}")
    censors = list(dict.fromkeys(c["censor"] for c in task["censors"]))
    acts = "sees what it acts" if len(censors) == 1 else "see what they act"
    return graded.failed(f"{seen}: {' and '.join(censors)} still {acts} on")
