"""The course labs' framework without root: variants, checks, handout, grading, bad input."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from labs.framework import registry
from labs.framework.cli import main
from tools.basics.paths import REPO

LAB1 = registry.find(1).definition


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labs", *argv], capture_output=True, text=True, cwd=REPO)


def test_variants_are_deterministic_per_id_and_spread_between_ids() -> None:
    assert LAB1.variant("alice") == LAB1.variant("alice")
    variants = [LAB1.variant(f"student{i}") for i in range(400)]
    mechanisms = Counter(v["mechanism"] for v in variants)
    assert len(mechanisms) == 7 and min(mechanisms.values()) >= 20
    answers = {(v["mechanism"], tuple(v["names"]), v["params"].get("address")) for v in variants}
    assert len(answers) >= 350  # two ids almost never share the mystery
    assert LAB1.variant("alice") != LAB1.variant("bob")


def test_variant_seed_is_sha256_not_hash() -> None:
    out = run("check", "1", "--student", "alice", "--reveal")
    assert out.returncode == 0 and json.loads(out.stdout) == LAB1.variant("alice")


def test_empty_submission_gets_zero_with_a_hint_per_task(tmp_path: Path) -> None:
    out = run("check", "1", "--student", "alice", "--submission", str(tmp_path), "--json")
    report = json.loads(out.stdout)
    assert out.returncode == 1 and report["earned"] == 0
    assert [t["key"] for t in report["tasks"]] == ["mechanism", "names", "pcap", "packet"]
    hints = [t["hint"] for t in report["tasks"]]
    assert all(hints) and len(set(hints)) == 4


def test_wrong_mechanism_fails_the_mechanism_task(tmp_path: Path) -> None:
    variant = LAB1.variant("alice")
    wrong = next(m for m in ("ResetTrafficForTLSSNI", "DropTrafficForTLSSNI") if m != variant["mechanism"])
    (tmp_path / "answers.json").write_text(json.dumps({"mechanism": wrong, "names": variant["names"]}))
    results = {r.key: r for r in LAB1.check(variant, tmp_path)}
    assert not results["mechanism"].ok and results["mechanism"].hint
    assert results["names"].ok
    assert not results["pcap"].ok and "evidence.pcap" in results["pcap"].hint


def test_a_capture_that_is_not_a_pcap_fails_with_a_hint(tmp_path: Path) -> None:
    variant = LAB1.variant("alice")
    (tmp_path / "c.pcap").write_text("not a capture")
    answers = {
        "mechanism": variant["mechanism"],
        "names": variant["names"],
        "evidence": {"pcap": "c.pcap", "packet": 1},
    }
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    results = {r.key: r for r in LAB1.check(variant, tmp_path)}
    assert results["mechanism"].ok and not results["pcap"].ok and "cannot be read" in results["pcap"].hint


def test_handout_holds_no_solution(tmp_path: Path) -> None:
    out = run("handout", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")]
    assert "labs/01-is-it-blocked/README.md" in files and "labs/framework/cli.py" in files
    assert not [f for f in files if "solution" in f or "INSTRUCTORS" in f or "__pycache__" in f]
    # the student's copy (its labs/ first on the path, kzlab's tools after) has the checker, no solution
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}"}
    copy = subprocess.run([sys.executable, "-m", "labs", "solve", "1", "--student", "a", "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, cwd=tmp_path, env=env)  # fmt: skip
    assert copy.returncode == 2 and "no solution here" in copy.stderr


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "answers.json").write_text("{not json")
    cases = [
        ("check", "9", "--student", "a"),
        ("check", "1", "--student", ""),
        ("check", "1", "--student", "a", "--submission", str(tmp_path / "missing")),
        ("check", "1", "--student", "a", "--submission", str(tmp_path)),
        ("grade-all", "1", "--submissions", str(tmp_path / "missing")),
        ("lab", "1"),
    ]
    for argv in cases:
        out = run(*argv)
        assert out.returncode == 2, argv
        assert out.stderr.startswith("kzlab: error: ") and len(out.stderr.strip().splitlines()) == 1, out.stderr
    (tmp_path / "answers.json").write_text(json.dumps({"names": "facebook.com"}))
    assert main(["check", "1", "--student", "a", "--submission", str(tmp_path)]) == 2


def test_grade_all_writes_one_row_per_student(tmp_path: Path) -> None:
    for student in ("alice", "bob", "carol"):
        (tmp_path / student).mkdir()
    alice = LAB1.variant("alice")
    (tmp_path / "alice" / "answers.json").write_text(
        json.dumps({"mechanism": alice["mechanism"], "names": alice["names"]})
    )
    (tmp_path / "carol" / "answers.json").write_text("[]")
    out = run("grade-all", "1", "--submissions", str(tmp_path), "--out", str(tmp_path / "grades"))
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "grades" / "lab01-grades.csv") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert list(rows) == ["alice", "bob", "carol"]
    assert rows["alice"]["mechanism"] == "30" and rows["alice"]["names"] == "30" and rows["alice"]["total"] == "60"
    assert rows["bob"]["total"] == "0" and not rows["bob"]["error"]
    assert rows["carol"]["total"] == "0" and "JSON object" in rows["carol"]["error"]
    data = json.loads((tmp_path / "grades" / "lab01-grades.json").read_text())
    assert data["points"]["total"] == 100 and [s["student"] for s in data["students"]] == ["alice", "bob", "carol"]
