"""Play a scenario inside a sealed run: build the lab, play the phases, probe, check, write.

This is the part that runs inside the run's namespaces (tools/play/cli.py seals it).
For each phase: move the lab clock to its moment (a timed scenario: clock.py), apply
its steps, have every client probe every target (clients in parallel, each client's
targets in parallel), compare every cell with its expectation, print the matrix.
Results go to the run's results directory: ``measurements.jsonl`` (one OONI-like record
per cell and phase) and ``summary.json`` (every cell, expected, observed, match, and the
model's prediction when the scenario predicts), plus pcaps with --pcap; a scenario that
observes the country from outside adds ``timeline.json`` and its charts
(tools/play/observation.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from tools.basics.clock import DEFAULT_SECONDS_PER_HOUR, LabClock, parse_time
from tools.basics.paths import REPO
from tools.basics.progress import progress
from tools.circumvent.method import MethodError
from tools.gateway.national_ca import GENERATIONS
from tools.gateway.surveillance import results_table
from tools.lab.lab import Lab, LabError
from tools.lab.seal import Run
from tools.lab.steps import Step, apply
from tools.observe.charts import draw
from tools.observe.timeline import write_timeline
from tools.play import observation, predict, report
from tools.play.matrix import Cell, render, show
from tools.play.spec import Phase, Scenario, Target
from tools.services import control_helper
from topologies.model import TopologyModel

# The roots a probe reports as ``tls_mitm`` when a verified chain ends at one of them.
INTERCEPTION_ROOTS = [g.root_name.rfc4514_string() for g in GENERATIONS.values()]


class PhaseSeconds(TypedDict):
    """Where a phase's time went: its steps, its probes, and the outside view if observed."""

    steps: float
    probes: float
    outside_view: NotRequired[float]


class PhaseSummary(TypedDict):
    """One played phase, as summary.json holds it."""

    name: str
    at: str
    time: str | None
    matched: bool
    seconds: PhaseSeconds
    cells: list[dict[str, Any]]
    dead_censors: NotRequired[dict[str, str]]  # censors whose process died, and why
    outside: NotRequired[dict[str, Any]]  # the outside view (tools/play/observation.py)


class Interrupted(Exception):
    """SIGINT or SIGTERM: stop probing and tear down in order."""


def _interrupt(signum: int, _frame: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second ^C must not cut the teardown
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def probe_plan(model: TopologyModel, targets: list[Target], client: str) -> dict[str, Any]:
    node = model.graph.nodes[client]
    helper = next(model.primary_address(n) for n, _ in model.services("control_helper"))
    return {
        "client": client,
        "helper": f"{helper}:{control_helper.PORT}",
        "probe_cc": node.get("cc", "ZZ"),
        "probe_asn": f"AS{node['asn']}" if node.get("asn") else "AS0",
        "targets": [{"name": t.name, "kind": t.kind, "url": t.url} for t in targets],
        "interception_roots": INTERCEPTION_ROOTS,
    }


# Client probe processes running at once, per core. More and the machine, not the censor,
# decides how long a handshake takes: a throttled cell (a hold of seconds) would time out
# behind hundreds of probes starting together.
PROBES_PER_CORE = 24


def run_probes(lab: Lab, targets: list[Target], clients: list[str], phase: Phase) -> list[dict[str, Any]]:
    """Every client probes every target (at most PROBES_PER_CORE clients per core at
    once); returns the records of all of them."""
    workdir = lab.rundir / "probes" / phase.name
    workdir.mkdir(parents=True, exist_ok=True)
    limit = PROBES_PER_CORE * (os.cpu_count() or 1)
    waiting = list(clients)
    running: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    records: list[dict[str, Any]] = []
    with progress(f"phase {phase.name}: clients probed", len(clients)) as done:
        while waiting or running:
            while waiting and len(running) < limit:
                client = waiting.pop(0)
                plan, out = workdir / f"{client}.json", workdir / f"{client}.jsonl"
                options = {"options": lab.probe_options(client)}
                plan.write_text(json.dumps(probe_plan(lab.model, targets, client) | options))
                proc = lab.host(client).popen(
                    [sys.executable, "-m", "tools.probes", str(plan), str(out)],
                    cwd=str(REPO),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                running.append((client, proc, out))
            client, proc, out = running.pop(0)
            _, err = proc.communicate()
            if proc.returncode != 0:
                last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"probes of {client} failed: {last[0]}")
            records += [json.loads(line) for line in out.read_text().splitlines()]
            done()
    return records


def play(
    lab: Lab, scenario: Scenario, results: Path, seconds_per_hour: float = DEFAULT_SECONDS_PER_HOUR
) -> tuple[list[PhaseSummary], bool]:
    """Play every phase (on the lab clock if the scenario is timed); returns the per-phase
    summaries and whether every cell matched its expectation (and, if the scenario
    predicts, the model's prediction)."""
    clients = scenario.client_list(lab.model)
    clock = LabClock(parse_time(scenario.phases[0].time), seconds_per_hour) if scenario.timed else None
    phases: list[PhaseSummary] = []
    outside: list[dict[str, Any]] = []
    failed: dict[str, tuple[str, str]] = {}  # methods that did not come up: key -> (node, method)
    all_ok = True
    with open(results / "measurements.jsonl", "w") as measurements:
        for phase in scenario.phases:
            if clock is not None:
                clock.advance_to(parse_time(phase.time))
                lab.tick(clock.now)
            started = time.monotonic()
            apply_steps(lab, phase, failed)
            probing = time.monotonic()
            probed = [t for t in scenario.targets if not phase.targets or t.name in phase.targets]
            targets = [t.name for t in probed]
            cut_off = {node: method for node, method in failed.values()}
            records = run_probes(lab, probed, [c for c in clients if c not in cut_off], phase)
            records += [tunnel_failure(client, method, t) for client, method in cut_off.items() for t in targets]
            observed = {(r["kzlab"]["client"], r["kzlab"]["target"]): r["kzlab"]["outcome"] for r in records}
            predicted = predict.matrix(lab.model, placed(lab), clients, probed, lab.now) if scenario.predict else {}
            cells = [
                Cell(c, t, phase.expected(c, t), observed[c, t], predicted.get((c, t)))
                for t in targets
                for c in clients
            ]
            for r in records:
                r["kzlab"]["phase"] = phase.name
                measurements.write(json.dumps(r, default=str) + "\n")
            when = f"{phase.at}, lab time {phase.time}" if phase.time else phase.at
            show(render(f"\n== {scenario.name} / phase {phase.name} ({when})", clients, targets, cells))
            dead = lab.dead_censors()
            for key, why in dead.items():
                print(f"kzlab: phase {phase.name}: censor {key} died: {why}", file=sys.stderr, flush=True)
            ok = all(c.match and c.as_predicted for c in cells) and not dead
            all_ok &= ok
            seconds: PhaseSeconds = {"steps": probing - started, "probes": time.monotonic() - probing}
            summary: PhaseSummary = {
                "name": phase.name,
                "at": phase.at,
                "time": phase.time or None,
                "matched": ok,
                "seconds": seconds,
                "cells": [c.as_dict() for c in cells],
            }
            if dead:
                summary["dead_censors"] = dead
            if scenario.observe is not None:
                observing = time.monotonic()
                outside.append(observation.observe(lab, scenario.observe, phase, [c.as_dict() for c in cells]))
                seconds["outside_view"] = time.monotonic() - observing
                print(observation.summary_line(outside[-1]), flush=True)
                summary["outside"] = outside[-1]
            phases.append(summary)
    if outside:
        write_timeline(results / "timeline.json", outside)
        charts = draw(outside, results, f"{scenario.name}: {scenario.description}")
        print(f"kzlab: charts: {', '.join(str(c) for c in charts)}")
    return phases, all_ok


def apply_steps(lab: Lab, phase: Phase, failed: dict[str, tuple[str, str]]) -> None:
    """Carry out a phase's steps in order, its ``circumvent`` steps last and side by side
    (each in its own host: a tunnel or a Tor bootstrap takes seconds), so that every
    method of the phase connects afresh under the phase's censors. A method that does
    not come up is recorded in ``failed`` and said in one line; its client's cells say
    so (``tunnel-failure:METHOD``) instead of stopping the run."""
    later = [s for s in phase.steps if s.action == "circumvent"]
    with progress(f"phase {phase.name}: steps", len(phase.steps)) as done:
        for step in (s for s in phase.steps if s.action != "circumvent"):
            if step.action == "uncircumvent" and failed.pop(step.key, None) is not None:
                done()
                continue
            apply(lab, step)
            done()

        def bring_up(step: Step) -> None:
            try:
                apply(lab, step)
            except MethodError as exc:
                failed[step.key] = (step.node, step.method)
                print(f"kzlab: phase {phase.name}: {step.node}: {exc}", file=sys.stderr, flush=True)
            done()

        with ThreadPoolExecutor(max(1, len(later))) as pool:
            list(pool.map(bring_up, later))


def tunnel_failure(client: str, method: str, target: str) -> dict[str, Any]:
    """The record of a cell not probed because the client's method did not come up."""
    outcome = f"tunnel-failure:{method}"
    return {
        "test_name": "circumvention",
        "input": method,
        "test_keys": {"success": False, "method": method},
        "kzlab": {"client": client, "target": target, "outcome": outcome},
    }


def placed(lab: Lab) -> list[tuple[Any, str]]:
    """(censor, node) for every censor attached now."""
    return [(lab.censors[key], node) for key, node in lab.placement.items()]


def save_surveillance(lab: Lab, rundir: Path, results: Path) -> None:
    """What the state saw: the device's log, the ISP resolver's query log, and who is who;
    printed as a table (python -m tools.gateway.surveillance RESULTS_DIR prints it again)."""
    shutil.copy(rundir / "surveillance.jsonl", results / "surveillance.jsonl")
    for node, service in lab.model.services("dns_recursive"):
        if service.params.get("isp"):
            log = lab.named_dir / f"{node}-resolver" / "queries.log"
            if log.exists():
                shutil.copy(log, results / "resolver-queries.log")
    addresses = {str(i.ip): n for n in lab.model.nodes() for _, i in lab.model.interface_addresses(n)}
    addresses |= {str(a): n for n in lab.model.nodes() for a in lab.model.graph.nodes[n]["loopbacks"]}
    (results / "addresses.json").write_text(json.dumps(addresses, indent=1) + "\n")
    print("\n== what the state saw (device log and ISP resolver), per subscriber\n" + results_table(results))


def main(
    scenario: Scenario,
    results: Path,
    cli: bool = False,
    pcap: bool = False,
    seconds_per_hour: float = DEFAULT_SECONDS_PER_HOUR,
) -> int:
    """Run ``scenario`` (already validated) inside the current sealed run."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    rundir = Path(os.environ["KZLAB_RUN_DIR"])
    run = Run(os.environ["KZLAB_RUN"])
    model = scenario.build_topology()
    lab = Lab(model, rundir, run.named_dir)
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "run": run.netns,
        "topology": model.name,
        "sources": scenario.sources,
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    ok = False
    try:
        lab.start()
        print(
            f"kzlab: {scenario.name}: lab ready in {lab.timings['ready']:.1f}s "
            f"({len(model.nodes())} devices, run {run.netns})",
            flush=True,
        )
        if scenario.client_labels:
            summary["client_labels"] = scenario.client_labels
            print("kzlab: clients: " + "; ".join(f"{c} = {w}" for c, w in scenario.client_labels.items()), flush=True)
        summary["timings"] = {k: round(v, 3) for k, v in lab.timings.items()}
        summary["clients"] = len(scenario.client_list(model))
        if pcap:
            summary["pcaps"] = [lab.capture(a, b, results).name for a, b in scenario.capture]
        summary["phases"], ok = play(lab, scenario, results, seconds_per_hour)
        if cli:
            from mininet.cli import CLI

            CLI(lab.net)
    except LabError as exc:
        summary["error"] = str(exc)
        print(f"kzlab: {scenario.name}: {exc}", file=sys.stderr)
    except Interrupted as exc:
        summary["interrupted"] = str(exc)
        print(f"kzlab: {scenario.name}: interrupted ({exc}), tearing down", file=sys.stderr)
    finally:
        lab.stop()
        if (rundir / "logs").is_dir():
            shutil.copytree(rundir / "logs", results / "logs", dirs_exist_ok=True)
        for log in rundir.glob("censors/*/*.log"):
            shutil.copy(log, results / "logs" / f"censor-{log.parent.name}-{log.name}")
        if (rundir / "surveillance.jsonl").exists():
            save_surveillance(lab, rundir, results)
        summary["matched"] = ok
        summary["cells"] = [{"phase": p["name"], **c} for p in summary.get("phases", []) for c in p["cells"]]
        (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        report.write(results, summary)
    verdict = "every cell matched" if ok else "NOT every cell matched"
    print(f"\nkzlab: {scenario.name}: {verdict}; results in {results}, to look at: {results / 'report.html'}")
    return 0 if ok else 1
