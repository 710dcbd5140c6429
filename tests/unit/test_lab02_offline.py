"""Lab 2 (the national certificate) without a live lab: variants, the device's steps,
the detector's trials, and the answers graded from answers.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labs.framework import registry
from labs.framework.errors import BadInput
from tools.gateway.targets import TARGETS

FOLDER = registry.find(2)
LAB = FOLDER.definition
DETECTOR = registry.load(FOLDER.path / "detector.py")
ANSWER_TASKS = ["chain", "names", "leaf", "hops", "surveillance"]
ROOTS = {"2019": "CN=Qaznet Trust Network,C=KZ", "2020": "CN=Information Security Certification Authority CA"}


def key(variant: dict[str, Any]) -> dict[str, Any]:
    """The answers a student who measured everything right writes for ``variant``."""
    return {
        "root": ROOTS[variant["generation"]],
        "root_abroad": "kzlab Global Root CA",
        "intercepted": variant["intercepted"],
        "leaf": {"public_exponent": 3, "shift_hours": variant["shift_hours"]},
        "hops": variant["hops"],
        "surveillance": {"with_root": ["sni", "url", "headers"], "without_root": ["sni"]},
    }


def grade(variant: dict[str, Any], answers: dict[str, Any], folder: Path) -> dict[str, Any]:
    (folder / "answers.json").write_text(json.dumps(answers))
    return {r.key: r for r in LAB.check(variant, folder)}


def test_variants_are_deterministic_per_id_and_spread_between_ids() -> None:
    assert LAB.variant("alice") == LAB.variant("alice")
    assert LAB.variant("alice") != LAB.variant("bob")
    variants = [LAB.variant(f"student{i}") for i in range(300)]
    for field, values in (("node", {"gw", "border"}), ("generation", {"2019", "2020"}), ("shift_hours", {6, 24})):
        seen = [v[field] for v in variants]
        assert set(seen) == values and min(seen.count(x) for x in values) >= 100, field
    assert len({(v["node"], v["generation"], v["shift_hours"], tuple(v["intercepted"])) for v in variants}) >= 280
    for v in variants:
        assert 3 <= len(v["intercepted"]) <= 6 and set(v["intercepted"]) <= set(TARGETS[v["generation"]])


def test_the_device_sits_two_or_three_hops_from_home2() -> None:
    """kz_isp: home2 -> core -> gw -> border -> transit: the TTL that reaches the device."""
    assert {v["node"]: v["hops"] for v in map(LAB.variant, ("s1", "s2", "s3", "s4", "s5"))} == {"gw": 2, "border": 3}


def test_steps_attach_the_variants_device_and_two_subscribers_install_its_root() -> None:
    variant = LAB.variant("alice")
    device, *roots = LAB.steps(variant)
    assert (device.action, device.censor, device.node) == ("attach", "NationalInterception", variant["node"])
    assert device.params == {
        "generation": variant["generation"],
        "shift_hours": variant["shift_hours"],
        "targets": variant["intercepted"],
    }
    assert [(s.action, s.node, s.params) for s in roots] == [
        ("install_root", n, {"generation": variant["generation"]}) for n in ("home1", "mob1")
    ]


def test_trials_cover_intercepted_passed_and_untrusted_from_both_subscribers() -> None:
    variant = LAB.variant("bob")
    trials = LAB.trials(variant)
    assert {t.node for t in trials} == {"home1", "home2"} and len(trials) % 2 == 0
    mine = [t for t in trials if t.node == "home2"]
    assert [t.name for t in mine if t.kind == "intercepted"] == variant["intercepted"][:3]
    passed = [t.name for t in mine if t.kind == "passed"]
    assert "m.facebook.com" in passed and not set(passed) & set(variant["intercepted"])
    assert any(n in TARGETS[variant["generation"]] for n in passed)  # a listed name this device passes
    (untrusted,) = [t for t in mine if t.kind == "untrusted"]
    assert untrusted.address == "5.9.10.20" and untrusted.name in variant["intercepted"]
    assert [t.expected for t in mine] == [0 if t.kind == "intercepted" else 1 for t in mine]


def test_always_intercepted_fails_only_detect_clean_and_never_intercepted_fails_both() -> None:
    tasks = {t.key: t for t in LAB.tasks}
    trials = LAB.trials(LAB.variant("carol"))
    always = [DETECTOR.Outcome(t, 0, "") for t in trials]
    assert DETECTOR.grade(tasks["detect_mitm"], always, intercepted=True).ok
    clean = DETECTOR.grade(tasks["detect_clean"], always, intercepted=False)
    assert not clean.ok and "self-signed" in clean.hint and "a name the device passes" in clean.hint
    never = [DETECTOR.Outcome(t, 1, "Traceback: boom") for t in trials]
    assert not DETECTOR.grade(tasks["detect_mitm"], never, intercepted=True).ok
    assert "never said intercepted" in DETECTOR.grade(tasks["detect_clean"], never, intercepted=False).hint
    right = [DETECTOR.Outcome(t, t.expected, "") for t in trials]
    assert all(
        DETECTOR.grade(tasks[k], right, intercepted=k == "detect_mitm").ok for k in ("detect_mitm", "detect_clean")
    )


def test_empty_submission_gets_zero_with_a_hint_per_task(tmp_path: Path) -> None:
    results = LAB.check(LAB.variant("alice"), tmp_path)
    assert [r.key for r in results] == [t.key for t in LAB.tasks]
    assert sum(r.earned for r in results) == 0 and all(r.hint for r in results)
    assert len({r.hint for r in results}) == 6  # the detector's two tasks share theirs
    assert "detect.py" in results[-1].hint


def test_the_answer_key_passes_every_answer_task_and_another_ids_fails(tmp_path: Path) -> None:
    alice = LAB.variant("alice")
    mine = grade(alice, key(alice), tmp_path)
    assert all(mine[k].ok for k in ANSWER_TASKS), [mine[k].hint for k in ANSWER_TASKS]
    other = next(v for v in map(LAB.variant, (f"s{i}" for i in range(50))) if v["node"] != alice["node"])
    theirs = grade(alice, key(other), tmp_path)
    assert not theirs["hops"].ok and "smallest TTL" in theirs["hops"].hint


@pytest.mark.parametrize(
    ("change", "failing", "hint"),
    [
        ({"leaf": {"public_exponent": 65537, "shift_hours": 6}}, "leaf", "public exponent"),
        ({"root": "CN=kzlab Global Root CA"}, "chain", "home1's chain"),
        ({"intercepted": ["m.facebook.com"]}, "names", "not intercepted"),
        ({"surveillance": {"with_root": ["sni", "url", "body"], "without_root": ["sni"]}}, "surveillance", "with root"),
        ({"surveillance": {"with_root": ["sni", "cookies"], "without_root": []}}, "surveillance", "use the words"),
    ],
)
def test_a_wrong_answer_fails_its_task_only(tmp_path: Path, change: dict[str, Any], failing: str, hint: str) -> None:
    variant = LAB.variant("dave")
    results = grade(variant, key(variant) | change, tmp_path)
    assert not results[failing].ok and hint in results[failing].hint
    assert all(results[k].ok for k in ANSWER_TASKS if k != failing)


def test_roots_are_taken_as_names_or_common_names(tmp_path: Path) -> None:
    variant = LAB.variant("erin")
    cn = ROOTS[variant["generation"]].split(",")[0].removeprefix("CN=").upper()
    results = grade(variant, key(variant) | {"root": cn, "root_abroad": "CN=kzlab Global Root CA,C=US"}, tmp_path)
    assert results["chain"].ok


@pytest.mark.parametrize("answers", [{"hops": "2"}, {"leaf": {"shift_hours": "6"}}, {"leaf": 3}, ["hops"]])
def test_malformed_answers_are_bad_input(tmp_path: Path, answers: Any) -> None:
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    with pytest.raises(BadInput):
        LAB.check(LAB.variant("alice"), tmp_path)


def test_the_detector_is_found_as_detect_or_detect_py(tmp_path: Path) -> None:
    assert DETECTOR.find(tmp_path) is None
    (tmp_path / "detect.py").write_text("")
    assert DETECTOR.find(tmp_path) == tmp_path / "detect.py"
    (tmp_path / "detect").write_text("#!/bin/sh\n")
    assert DETECTOR.find(tmp_path) == tmp_path / "detect"


def test_the_committed_reference_answers_are_right_for_their_id() -> None:
    """solution/answers.json is `python -m labs solve 2 --student reference`'s."""
    results = {r.key: r for r in LAB.check(LAB.variant("reference"), FOLDER.path / "solution")[:5]}
    assert all(r.ok for r in results.values()), results
