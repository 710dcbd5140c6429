"""Lab 2 in a live lab: the reference submission gets full marks, and a detector that
always says "intercepted" fails the task it must. Both share one grading lab, the one
the checker starts (detector.shared), as grade-all does for a class."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labs.framework import grading, registry

FOLDER = registry.find(2)
DETECTOR = registry.load(FOLDER.path / "detector.py")
STUDENT = "s1"  # the 2020 root, the device at the border router (3 hops), the validity shifted 24 hours


@pytest.fixture(scope="module")
def grading_lab() -> Iterator[Any]:
    yield DETECTOR.shared()
    DETECTOR.close_shared()


@pytest.fixture(scope="module")
def reference(grading_lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lab2-reference")
    assert FOLDER.solution().solve(FOLDER.definition, STUDENT, out) == 0
    return out


def test_the_reference_submission_gets_full_marks(reference: Path) -> None:
    lab = FOLDER.definition
    variant = lab.variant(STUDENT)
    assert (variant["generation"], variant["node"], variant["shift_hours"]) == ("2020", "border", 24)
    answers = json.loads((reference / "answers.json").read_text())
    assert answers["hops"] == 3 and answers["intercepted"] == variant["intercepted"]
    report = grading.grade(lab, STUDENT, reference)
    assert report.ok and report.earned == 100, report.text()


def test_a_detector_that_always_says_intercepted_fails_detect_clean(reference: Path, tmp_path: Path) -> None:
    shutil.copy(reference / "answers.json", tmp_path / "answers.json")
    (tmp_path / "detect").write_text("#!/bin/sh\nexit 0\n")
    results = {r.key: r for r in grading.grade(FOLDER.definition, STUDENT, tmp_path).results}
    assert not results["detect_clean"].ok
    assert "self-signed" in results["detect_clean"].hint and "a name the device passes" in results["detect_clean"].hint
    assert all(r.ok for k, r in results.items() if k != "detect_clean"), results
