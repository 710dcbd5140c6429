"""A lab's environment for one student: the sealed lab with that student's variant.

``start`` seals the run as every kzlab run is (tools.lab.seal: its own network and PID
namespaces, nothing changed in the host's) and runs ``inside`` there: the lab's topology
is built and started (tools.lab.lab), the variant's censors attached (tools.lab.steps),
an OONI probe plan written for every client into the work folder, and then the Mininet
CLI, or with ``cli=False`` the lab's script (or the student's), each command's output
printed. Leaving the CLI tears everything down. A lab that records a run instead
(``LabDefinition.record``) plays it and leaves its files in the work folder.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from labs.framework.definition import LabDefinition
from labs.framework.errors import BadInput
from tools.basics.paths import REPO
from tools.lab import seal
from tools.play.runner import probe_plan
from tools.play.spec import Target
from topologies.model import TopologyModel


def start(number: int, student: str, cli: bool, work: Path, script: Path | None) -> int:
    """Run lab ``number`` for ``student`` sealed; its exit status."""
    argv = [sys.executable, "-m", "labs", "_inside", str(number), "--student", student, "--work", str(work)]
    argv += ["--script", str(script)] * (script is not None) + ["--no-cli"] * (not cli)
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    return seal.sealed(argv, env={"PYTHONPATH": str(REPO), "PATH": path})


def script_lines(path: Path) -> list[tuple[str, str]]:
    """``NODE COMMAND`` lines of a script file (blank lines and # comments skipped)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"script {path}: {exc}") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        node, _, command = line.strip().partition(" ")
        if node and not node.startswith("#"):
            if not command.strip():
                raise BadInput(f"script {path}, line {n}: expected NODE COMMAND")
            out.append((node, command.strip()))
    return out


def write_plans(lab: LabDefinition, model: TopologyModel, clients: list[str], work: Path) -> None:
    """An OONI probe plan per client: ``python -m tools.probes WORK/plan-CLIENT.json OUT.jsonl``."""
    targets = [t for d in lab.probe_sites for t in (Target.web(d), Target.web(d, "http"))]
    for client in clients:
        plan = probe_plan(model, targets, client)
        (work / f"plan-{client}.json").write_text(json.dumps(plan, indent=1) + "\n")


def inside(lab: LabDefinition, student: str, cli: bool, work: Path, script: Path | None) -> int:
    """Inside the seal: build, attach the variant, then the CLI or the script."""
    from tools.lab.lab import Lab, LabError
    from tools.lab.steps import apply
    from topologies import registry

    commands = script_lines(script) if script is not None else list(lab.script)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = seal.Run(os.environ["KZLAB_RUN"])
    model = registry.build(lab.topology, **lab.topology_params)
    env = Lab(model, Path(os.environ["KZLAB_RUN_DIR"]), run.named_dir)
    try:
        env.start()
        variant = lab.variant(student)
        for step in lab.steps(variant):
            apply(env, step)
        work.mkdir(parents=True, exist_ok=True)
        recorded = lab.record(variant, env, work)
        if recorded is not None:
            return recorded
        write_plans(lab, model, model.clients(), work)
        print(f"kzlab: lab {lab.number} ({lab.title}) for {student} is up in {env.timings['ready']:.0f}s; "
              f"work folder {work}", flush=True)  # fmt: skip
        if cli:
            lab.cli(variant, env)
            return 0
        status = 0
        for node, command in commands:
            print(f"{node}$ {command}", flush=True)
            proc = env.host(node).popen(["bash", "-c", command], cwd=str(REPO), stdout=None, stderr=None)
            status |= proc.wait() != 0
        return status
    except (LabError, KeyError) as exc:
        print(f"kzlab: error: lab {lab.number}: {exc}", file=sys.stderr)
        return 1
    finally:
        env.stop()
