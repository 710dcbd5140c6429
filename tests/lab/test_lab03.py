"""Lab 3 in a real lab, one lab for the whole module (as a class is graded): grade-all gives
the reference full marks and the untouched starter zero; every rule's reference censor
works live at gw; a censor that blocks everything fails the live task (its allowed probe
is blocked)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.framework import grading, registry
from tools.basics.processes import runs_in_shell
from tools.lab.session import LabSession

FOLDER = registry.find(3)
LAB3 = FOLDER.definition  # loading it puts the lab's own package on sys.path
checker = importlib.import_module("build_a_censor.checker")
live = importlib.import_module("build_a_censor.live")
rules = importlib.import_module("build_a_censor.rules")
starter = importlib.import_module("build_a_censor.starter")
SOLUTION = FOLDER.path / "solution"


def student_with(rule: str) -> str:
    return next(s for s in (f"s{i}" for i in range(200)) if LAB3.variant(s)["rule"] == rule)


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LAB3.grading():
        yield LAB3.shared_session()


def test_a_class_is_graded_in_one_lab_and_the_reference_gets_full_marks(lab: LabSession, tmp_path: Path) -> None:
    reference, untouched = student_with("tls_sni_reset"), "s0"
    (tmp_path / reference).mkdir()
    (tmp_path / reference / "censor.py").write_text((SOLUTION / "censor.py").read_text())
    (tmp_path / untouched).mkdir()
    (tmp_path / untouched / "censor.py").write_text(starter.render(LAB3.variant(untouched)))
    rows = {row["student"]: row for row in grading.grade_all(LAB3, tmp_path)}
    assert rows[reference] == {"student": reference, "recall": 25, "precision": 25, "live": 30, "hostile": 20,
                               "total": 100, "error": ""}  # fmt: skip
    assert rows[untouched]["total"] == 0 and not rows[untouched]["error"]
    assert LAB3.shared_session() is lab  # grade-all used the class's lab, built none of its own
    assert not lab.run("gw", f"iptables -w -S | grep {live.CHAIN}").out  # the gateway as it was


@pytest.mark.parametrize("rule", [r for r in sorted(rules.BY_KEY) if r != "tls_sni_reset"])
def test_the_reference_works_live(lab: LabSession, rule: str) -> None:
    outcome = live.check(lab, student_with(rule), SOLUTION / "censor.py")
    result = checker.live(LAB3.tasks[2], outcome)
    assert result.ok, result.hint


def test_a_censor_that_blocks_everything_fails_live(lab: LabSession, tmp_path: Path) -> None:
    censor = tmp_path / "censor.py"
    censor.write_text(
        (SOLUTION / "censor.py").read_text()
        + "\n\nclass DropDNSQueries(DropDNSQueries):\n"
        + "    def selection(self) -> list[str]:\n        return ['-p udp', '-p tcp']\n\n"
        + "    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:\n"
        + "        return Decision('drop', flow='block', note='everything')\n"
    )
    outcome = live.check(lab, student_with("dns_drop"), censor)
    assert outcome.failed_start is None and outcome.survived
    assert outcome.probes["blocked"]["ok"] and not outcome.probes["allowed"]["ok"]
    result = checker.live(LAB3.tasks[2], outcome)
    assert not result.ok and result.hint.startswith("allowed: dns://8.8.8.8/")


def test_the_handouts_stop_line_stops_the_censor_by_its_pid_file(lab: LabSession, tmp_path: Path) -> None:
    """`gw kill $(cat lab3-work/censor.pid)`, as the handout types it: the censor the pid
    file names stops, removes its chain and its pid file (nothing stopped by name)."""
    work = tmp_path / "lab3-work"
    work.mkdir()
    (work / "censor.py").write_text((SOLUTION / "censor.py").read_text())
    student = student_with("tls_sni_reset")
    start = f"cd {tmp_path} && {sys.executable} {live.RUN} live --json --student {student} lab3-work/censor.py"
    started = lab.run("gw", start)
    assert started.rc == 0, started.err
    pid = json.loads(started.out)["pid"]
    assert (work / "censor.pid").read_text() == f"{pid}\n"
    assert lab.run("gw", f"iptables -w -S FORWARD | grep -c {live.CHAIN}").out.strip() == "1"
    assert lab.run("gw", f"cd {tmp_path} && kill $(cat lab3-work/censor.pid)").rc == 0
    gone = f"for i in $(seq 100); do {runs_in_shell(pid)} || exit 0; sleep 0.1; done; exit 1"
    waited = lab.run("gw", gone, timeout=30)
    assert waited.rc == 0, f"the censor (pid {pid}) still runs 10 s after its SIGTERM"
    assert not (work / "censor.pid").exists()
    assert not lab.run("gw", f"iptables -w -S | grep {live.CHAIN}").out  # its rules went with it
