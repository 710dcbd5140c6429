"""A phase's steps, and carrying one out in a running lab.

A step is what a scenario does at the start of a phase (tools/play/spec.py holds the
phases): ``attach`` (or ``detach``) censor ``key`` at ``node`` with its parameters, or
``install_root``: the subscriber at ``node`` installs the national root from the ISP's
portal (params: generation); ``circumvent`` (or ``uncircumvent``): switch ``method`` on
(off) under ``key`` in the subscriber at ``node`` (tools/circumvent). The runner and
LabSession both apply steps with ``apply``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from tools.censors.registry import CENSORS
from tools.circumvent.registry import METHODS
from tools.lab.lab import Lab, LabError


@dataclass(frozen=True)
class Step:
    action: str
    key: str
    censor: str = ""
    node: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    method: str = ""


def apply(lab: Lab, step: Step) -> None:
    """Carry out one step of a phase."""
    if step.action == "attach":
        lab.attach(step.key, CENSORS[step.censor](**step.params), step.node)
    elif step.action == "detach":
        lab.detach(step.key)
    elif step.action == "circumvent":
        lab.circumvent(step.key, METHODS[step.method](**step.params), step.node)
    elif step.action == "uncircumvent":
        lab.uncircumvent(step.key)
    else:  # install_root
        generation = str(step.params.get("generation", "2019"))
        out = lab.host(step.node).cmd(
            f"{sys.executable} -m tools.gateway.install --generation {generation}; echo rc=$?"
        )
        if not out.strip().endswith("rc=0"):
            raise LabError(f"{step.node}: installing the {generation} national root failed: {out.strip()}")
        print(f"kzlab: {step.node}: {out.strip().splitlines()[0]}", flush=True)
