"""Lab 5 (shutdown forensics) without a live lab: variants, the day's scenario, the
answers graded from answers.json, the handout, grade-all."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from labs.framework import registry
from tools.basics.clock import parse_time
from tools.basics.paths import REPO
from tools.censors.registry import CENSORS
from tools.play.spec import Scenario

FOLDER = registry.find(5)
LAB = FOLDER.definition
MODULE = registry.load(FOLDER.path / "lab.py")


def key(variant: dict[str, Any]) -> dict[str, Any]:
    return {k: variant[k] for k in ("mechanism", "windows", "operators")}


def grade(variant: dict[str, Any], answers: dict[str, Any], folder: Path) -> dict[str, Any]:
    (folder / "answers.json").write_text(json.dumps(answers))
    return {r.key: r for r in LAB.check(variant, folder)}


def test_variants_are_deterministic_per_id_and_spread_between_ids() -> None:
    assert LAB.variant("alice") == LAB.variant("alice") != LAB.variant("bob")
    variants = [LAB.variant(f"student{i}") for i in range(400)]
    mechanisms = Counter(v["mechanism"] for v in variants)
    assert len(mechanisms) == 5 and min(mechanisms.values()) >= 50
    mysteries = {(v["mechanism"], tuple(v["operators"]), json.dumps(v["windows"])) for v in variants}
    assert len(mysteries) >= 300
    for v in variants:
        dark = MODULE.dark_hours(v["windows"])
        assert dark and 6 not in dark and 13 not in dark  # the first and last samples are open
        edges = [MODULE.hour(t) for w in v["windows"] for t in w]
        assert edges == sorted(set(edges))  # each window an hour or more, an open sample between two
        everyone = v["mechanism"] in MODULE.BORDER
        assert (set(v["operators"]) == {"kt", "kcell", "beeline", "tele2"}) == everyone


def scenarios() -> list[tuple[dict[str, Any], Scenario]]:
    """One variant of each mechanism, and its day."""
    found: dict[str, dict[str, Any]] = {}
    for i in range(100):
        v = LAB.variant(f"s{i}")
        found.setdefault(v["mechanism"], v)
    return [(v, LAB.scenario(v)) for v in found.values()]


def test_each_mechanism_is_in_force_exactly_in_its_windows() -> None:
    """The day validates against kz_national, and the mechanism's AccessWindows is shut
    (the mechanism in force) at the dark samples only, at the variant's operators."""
    days = scenarios()
    assert len(days) == 5
    for variant, scenario in days:
        scenario.validate()
        first, *rest = scenario.phases
        assert not any(p.steps for p in rest)
        places = {s.node for s in first.steps}
        assert places == ({"border"} if variant["mechanism"] in MODULE.BORDER else set(variant["operators"]))
        dark = MODULE.dark_hours(variant["windows"])
        for step in first.steps:
            censor = CENSORS[step.censor](**step.params)
            assert censor.inner.name == variant["mechanism"]
            shut = {parse_time(p.time).hour for p in scenario.phases if not censor.is_open(parse_time(p.time))}
            assert shut == dark
        assert {parse_time(p.time).hour for p in scenario.phases if p.expect} == dark


def test_the_answer_key_gets_full_marks_and_names_are_taken_every_way(tmp_path: Path) -> None:
    variant = LAB.variant("alice")
    assert all(r.ok for r in grade(variant, key(variant), tmp_path).values())
    ases = {"kt": "AS9198", "kcell": "29355", "beeline": "Beeline", "tele2": "tele2"}
    other_ways = key(variant) | {"operators": [ases[o] for o in variant["operators"]]}
    assert grade(variant, other_ways, tmp_path)["operators"].ok


def test_empty_submission_gets_zero_with_a_hint_per_task(tmp_path: Path) -> None:
    results = LAB.check(LAB.variant("alice"), tmp_path)
    assert [r.key for r in results] == ["mechanism", "windows", "operators"]
    assert sum(r.earned for r in results) == 0 and len({r.hint for r in results}) == 3


def test_a_plausible_wrong_mechanism_fails_the_mechanism_task_only(tmp_path: Path) -> None:
    """Withdrawal and a data-plane drop look alike inside; naming one for the other fails."""
    variant = next(v for v in map(LAB.variant, (f"s{i}" for i in range(50))) if v["mechanism"] == "WithdrawRoutes")
    results = grade(variant, key(variant) | {"mechanism": "DropTrafficAtBorder"}, tmp_path)
    assert not results["mechanism"].ok and "BGP visibility" in results["mechanism"].hint
    assert results["windows"].ok and results["operators"].ok


@pytest.mark.parametrize(
    ("change", "failing", "hint"),
    [
        ({"windows": [["05:00", "14:00"]]}, "windows", "not in a window"),
        ({"windows": [["8am", "9am"]]}, "windows", "HH:MM"),
        ({"operators": ["kt", "kcell", "beeline", "tele2", "ttc"]}, "operators", "not an operator"),
        ({"mechanism": "ResetTrafficForTLSSNI"}, "mechanism", "is not one of"),
    ],
)
def test_a_wrong_answer_fails_its_task_only(tmp_path: Path, change: dict[str, Any], failing: str, hint: str) -> None:
    variant = LAB.variant("bob")
    results = grade(variant, key(variant) | change, tmp_path)
    assert not results[failing].ok and hint in results[failing].hint
    assert all(r.ok for k, r in results.items() if k != failing)


def test_handout_has_both_labs_and_no_solution(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "labs", "handout", "--out", str(tmp_path)], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    for lab in ("02-national-certificate", "05-shutdown-forensics"):
        assert {f"labs/{lab}/README.md", f"labs/{lab}/lab.py"} <= files
    assert {"labs/02-national-certificate/ttl_hello.py", "labs/02-national-certificate/detector.py"} <= files
    assert not [f for f in files if "solution" in f or "detect.py" in f or "solve" in f]


def test_grade_all_writes_one_row_per_student(tmp_path: Path) -> None:
    for student in ("alice", "bob"):
        (tmp_path / student).mkdir()
    (tmp_path / "alice" / "answers.json").write_text(json.dumps(key(LAB.variant("alice"))))
    out = subprocess.run(
        [sys.executable, "-m", "labs", "grade-all", "5", "--submissions", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "lab05-grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert rows["alice"]["total"] == "100" and rows["bob"]["total"] == "0"
    assert list(rows["alice"]) == ["student", "mechanism", "windows", "operators", "total", "error"]


def test_the_committed_reference_answers_are_right_for_their_id() -> None:
    """solution/answers.json is `python -m labs solve 5 --student reference`'s."""
    assert all(r.ok for r in LAB.check(LAB.variant("reference"), FOLDER.path / "solution"))
