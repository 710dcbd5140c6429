"""Lab 5, "Shutdown forensics": a shutdown's mechanism and windows, from the outside view.

The student's variant picks one of the shutdown mechanisms of January 2022 (kazakhstan.md
section 4): the border dropping every packet while the routes stay announced, the
country's routes withdrawn, operators cutting their subscribers off, letting them reach
only an allow-list, or throttling them; which operators (for the last three), and one or
two windows of a day in which it is in force. ``record`` plays that day on the lab clock
in ``kz_national`` (AccessWindows keeps the mechanism attached only inside the windows)
and keeps of it only what the world outside sees, a sample an hour: the route collector's
table abroad, the ping sweep from abroad and the share of pairs that work inside
(``timeline.json`` and its charts), and a capture on the international link. Answers
are graded from ``answers.json`` alone, with no root and no lab.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any

from labs.framework import answers as answers_file
from labs.framework.answers import PAIRS, STRING, STRINGS, Kind
from labs.framework.checks import Task, TaskResult
from labs.framework.definition import LabDefinition
from labs.framework.variants import rng
from tools.lab.lab import Lab
from tools.lab.steps import Step
from tools.observe.charts import draw
from tools.observe.timeline import write_timeline
from tools.play import observation, runner
from tools.play.national import ALLOWLIST, Country
from tools.play.spec import Phase, Scenario
from tools.routing import bird
from topologies.kz_national import OPERATORS

DAY = "2022-01-06"
HOURS = tuple(range(6, 14))  # the samples: 06:00 to 13:00 UTC, one an hour
SIZE = {"operators": 4, "subscribers": 2}  # kz_national's default size: the environment builds that
BORDER = ("DropTrafficAtBorder", "WithdrawRoutes")  # at the border: the whole country
ACCESS = ("ShutdownAccessNetwork", "AllowlistAccessNetwork", "ThrottleAccessNetwork")  # at some operators
MECHANISMS = BORDER + ACCESS
PARAMS: dict[str, dict[str, Any]] = {"AllowlistAccessNetwork": {"allow": ALLOWLIST}}
KINDS: dict[str, Kind] = {"mechanism": STRING, "operators": STRINGS, "windows": PAIRS}
CAPTURED = ("border", "transit")  # the international link, on the transit provider's side
COLLECTOR = "transit"


def operators() -> list[str]:
    return [op.key for op in OPERATORS[: SIZE["operators"]]]


def aliases() -> dict[str, str]:
    """What a student may call an operator (its router, its name, its AS) -> its router."""
    out = {}
    for op in OPERATORS[: SIZE["operators"]]:
        for alias in (op.key, op.label.split()[0].split("/")[0], str(op.asn), f"AS{op.asn}"):
            out[alias.casefold()] = op.key
    return out


def hour(text: str) -> float | None:
    """An "HH:MM" time of day in hours, None if it is not one."""
    try:
        t = dt.datetime.strptime(text.strip(), "%H:%M").time()
    except ValueError:
        return 24.0 if text.strip() == "24:00" else None
    return t.hour + t.minute / 60


def dark_hours(windows: list[list[str]]) -> set[int]:
    """The sampled hours inside [start, end) windows (ValueError on a time that is not HH:MM)."""
    out: set[int] = set()
    for start, end in windows:
        a, b = hour(start), hour(end)
        if a is None or b is None:
            raise ValueError(f"[{start!r}, {end!r}] is not a pair of HH:MM times")
        out |= {h for h in HOURS if a <= h < b}
    return out


class ShutdownForensics(LabDefinition):
    number = 5
    title = "Shutdown forensics"
    hours = "2-3"
    cores = 2
    topology = "kz_national"
    tasks = (
        Task("mechanism", "name the shutdown's mechanism", 40, '"mechanism": the censor\'s name (Task 3)'),
        Task("windows", "its windows", 35, '"windows": [["HH:MM", "HH:MM"], ...] when it was in force (Task 2)'),
        Task("operators", "whom it cut", 25, '"operators": every operator whose subscribers it hit (Task 4)'),
    )

    def variant(self, student: str) -> dict[str, Any]:
        r = rng(self.number, student)
        mechanism = r.choice(MECHANISMS)
        ops = operators() if mechanism in BORDER else sorted(r.sample(operators(), r.randint(1, 3)))
        # 1 or 2 windows, each at least an hour, between the first and the last sample and
        # an open sample apart: distinct boundaries from 07:00 to 13:00, taken in pairs
        edges = sorted(r.sample(HOURS[1:], 2 * r.choice((1, 2))))
        windows = [[f"{a:02}:00", f"{b:02}:00"] for a, b in zip(edges[::2], edges[1::2], strict=True)]
        return {"student": student, "mechanism": mechanism, "operators": ops, "windows": windows}

    def steps(self, variant: dict[str, Any]) -> list[Step]:
        return []  # record() attaches the mystery at its first sample, on the lab clock

    def scenario(self, variant: dict[str, Any]) -> Scenario:
        """The day, a phase per sample, each cell expected as the mechanism bites."""
        kz = Country(**SIZE)
        mechanism, ops = variant["mechanism"], variant["operators"]
        dark = dark_hours(variant["windows"])
        edges = [f"{DAY}T00:00"] + [f"{DAY}T{t}" for w in variant["windows"] for t in w] + [f"{DAY}T23:59"]
        opened = [[a, b] for a, b in zip(edges[::2], edges[1::2], strict=True)]
        wrapped = {"censor": mechanism, "params": PARAMS.get(mechanism, {}), "open": opened}
        places = ["border"] if mechanism in BORDER else ops
        attach = tuple(Step("attach", f"mystery_{node}", "AccessWindows", node, wrapped) for node in places)
        hit = [s for s in kz.subscribers() if kz.model.graph.nodes[s]["operator"] in ops]
        expect = {
            "DropTrafficAtBorder": kz.border_closed,
            "WithdrawRoutes": kz.withdrawn,
            "ShutdownAccessNetwork": lambda: kz.cut_off(hit),
            "AllowlistAccessNetwork": lambda: kz.allowlisted(hit),
            "ThrottleAccessNetwork": lambda: kz.slowed(hit),
        }[mechanism]()
        phases = tuple(
            Phase(
                f"h{h:02}",
                at="a sample of the day",
                time=f"{DAY}T{h:02}:00",
                steps=attach if i == 0 else (),
                expect=expect if h in dark else {},
            )
            for i, h in enumerate(HOURS)
        )
        return kz.scenario("lab05_shutdown", "a shutdown to name from the outside", phases, "kazakhstan.md section 4")

    def record(self, variant: dict[str, Any], lab: Lab, work: Path) -> int:
        """Play the day a sample at a time, keeping of each what the world outside sees:
        ``samples/HHMM/`` holds the capture on the international link and the route
        collector's table, ``timeline.json`` (and its charts) the three signals. The
        matrices, which show the inside, go to a log the student does not get; a cell not
        as expected is named on stderr (the files may then mislead: record again)."""
        scenario = self.scenario(variant)
        scenario.validate()
        assert scenario.observe is not None  # Country.scenario observes from abroad
        records, matched = [], True
        with tempfile.TemporaryDirectory(prefix="kzlab-lab05-") as scratch:
            for phase in scenario.phases:
                folder = work / "samples" / phase.time[11:16].replace(":", "")
                folder.mkdir(parents=True, exist_ok=True)
                lab.capture(*CAPTURED, folder)
                tcpdump = lab.captures.pop()  # this sample's capture: ended with the sample
                try:
                    with open(Path(scratch) / "matrices.txt", "a") as log, contextlib.redirect_stdout(log):
                        played, ok = runner.play(lab, dataclasses.replace(scenario, phases=(phase,), observe=None),
                                                 Path(scratch), seconds_per_hour=0)  # fmt: skip
                    records.append(observation.observe(lab, scenario.observe, phase, played[0]["cells"]))
                finally:
                    tcpdump.terminate()
                    tcpdump.wait()
                table = lab.host(COLLECTOR).cmd(f"birdc -s {bird.control_socket(lab.rundir, COLLECTOR)} show route all")
                (folder / f"{COLLECTOR}-bgp.txt").write_text(table)
                matched &= ok
                print(f"kzlab: lab 5: {phase.time.replace('T', ' ')} recorded into {folder}", flush=True)
                for c in played[0]["cells"]:
                    if not c["match"] or not c.get("as_predicted", True):
                        print(f"kzlab: lab 5: {phase.time}: {c['client']} -> {c['target']}: {c['observed']}, "
                              f"expected {c['expected']}", file=sys.stderr)  # fmt: skip
        write_timeline(work / "timeline.json", records)
        draw(records, work, "the day as seen from outside")
        print(f"kzlab: lab 5: the outside view is in {work}" + ("" if matched else " (NOT every cell as expected)"))
        return 0 if matched else 1

    def check(self, variant: dict[str, Any], submission: Path) -> list[TaskResult]:
        mechanism, windows, ops = self.tasks
        given = answers_file.read(submission, KINDS)
        if given is None:
            return [t.failed(f"no {answers_file.FILE} in {submission}; it needs {t.todo}") for t in self.tasks]
        return [
            _mechanism(mechanism, given.get("mechanism"), variant["mechanism"]),
            _windows(windows, given.get("windows"), dark_hours(variant["windows"])),
            _operators(ops, given.get("operators"), set(variant["operators"])),
        ]


def _mechanism(task: Task, given: str | None, truth: str) -> TaskResult:
    if not given:
        return task.failed(f'no "mechanism" (one of {", ".join(MECHANISMS)})')
    if given not in MECHANISMS:
        return task.failed(f"{given!r} is not one of {', '.join(MECHANISMS)}")
    if given != truth:
        return task.failed(f"not {given}: set BGP visibility, the ping sweep by operator, the share that works "
                           "inside and the handshakes on the international link side by side")  # fmt: skip
    return task.passed()


def _windows(task: Task, given: list[list[str]] | None, dark: set[int]) -> TaskResult:
    if not given:
        return task.failed('no "windows": the hours, [start, end) in UTC, when the shutdown was in force')
    try:
        chosen = dark_hours(given)
    except ValueError as exc:
        return task.failed(f"windows: {exc}")
    if chosen == dark:
        return task.passed()
    wrong, missing = len(chosen - dark), len(dark - chosen)
    return task.failed(f"{wrong} of your hours were not in a window and {missing} hours of the windows are missing: "
                       "read each sample of the timeline, not only the charts")  # fmt: skip


def _operators(task: Task, given: list[str] | None, truth: set[str]) -> TaskResult:
    if not given:
        return task.failed('no "operators": whose subscribers lost what (every operator, for the whole country)')
    known = aliases()
    unknown = [g for g in given if g.strip().casefold() not in known]
    if unknown:
        return task.failed(f"{unknown[0]!r} is not an operator: name them as the handout's table does")
    chosen = {known[g.strip().casefold()] for g in given}
    if chosen != truth:
        return task.failed(f"{len(chosen - truth)} of your operators were not hit and {len(truth - chosen)} "
                           "hit are missing: compare each operator's addresses with the first sample")  # fmt: skip
    return task.passed()


LAB = ShutdownForensics()
