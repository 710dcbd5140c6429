"""Lab 1 in a real lab: the reference solution gets full marks; another student's fails."""

from __future__ import annotations

import json
from pathlib import Path

from labs.framework import grading, registry

STUDENT, OTHER = "s37", "s39"  # ResetTrafficForTLSSNI; SpoofDNSResponse


def test_solution_gets_full_marks_and_fails_for_another_id(tmp_path: Path) -> None:
    folder = registry.find(1)
    lab = folder.definition
    assert lab.variant(STUDENT)["mechanism"] != lab.variant(OTHER)["mechanism"]
    assert folder.solution().solve(lab, STUDENT, tmp_path) == 0
    answers = json.loads((tmp_path / "answers.json").read_text())
    assert answers["names"] == lab.variant(STUDENT)["names"]
    mine = grading.grade(lab, STUDENT, tmp_path)
    assert mine.ok and mine.earned == 100, mine.text()
    theirs = {r.key: r for r in grading.grade(lab, OTHER, tmp_path).results}
    assert not theirs["mechanism"].ok and not theirs["names"].ok
    assert not theirs["pcap"].ok and theirs["pcap"].hint
