"""Lab 3 in a real lab, one lab for the whole module: the reference gets full marks; every
rule's reference censor works live at gw; a censor that blocks everything fails the live
task (its allowed probe is blocked)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.framework import grading, registry
from tools.lab.session import LabSession

FOLDER = registry.find(3)
LAB3 = FOLDER.definition  # loading it puts the lab's own package on sys.path
checker = importlib.import_module("build_a_censor.checker")
live = importlib.import_module("build_a_censor.live")
rules = importlib.import_module("build_a_censor.rules")
SOLUTION = FOLDER.path / "solution"


def student_with(rule: str) -> str:
    return next(s for s in (f"s{i}" for i in range(200)) if LAB3.variant(s)["rule"] == rule)


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LAB3.live_lab() as session:
        yield session


def test_the_reference_gets_full_marks(lab: LabSession) -> None:
    student = student_with("tls_sni_reset")
    report = grading.grade(LAB3, student, SOLUTION)
    assert report.ok and report.earned == 100, report.text()
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
