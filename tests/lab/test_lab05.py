"""Lab 5 in a live lab: the student's day is recorded, the student's folder holds the
outside view only, and the reference analysis of it gets full marks."""

from __future__ import annotations

import json
from pathlib import Path

from labs.framework import grading, registry

FOLDER = registry.find(5)
STUDENT = "s16"  # Kcell's and Kazakhtelecom's subscribers allowed only an allow-list, 11:00 to 12:00
OUTSIDE = {"timeline.json", "connectivity.png", "operators.png", "samples"}


def test_the_outside_view_suffices_for_full_marks(tmp_path: Path) -> None:
    lab = FOLDER.definition
    variant = lab.variant(STUDENT)
    assert variant == {
        "student": STUDENT,
        "mechanism": "AllowlistAccessNetwork",
        "operators": ["kcell", "kt"],
        "windows": [["11:00", "12:00"]],
    }
    assert FOLDER.solution().solve(lab, STUDENT, tmp_path) == 0  # every cell of the day as expected
    outside = tmp_path / "outside"
    assert {p.name for p in outside.iterdir()} == OUTSIDE
    samples = sorted(p.name for p in (outside / "samples").iterdir())
    assert samples == [f"{h:02}00" for h in range(6, 14)]
    assert all({p.name for p in (outside / "samples" / s).iterdir()} == {"border-transit.pcap", "transit-bgp.txt"}
               for s in samples)  # fmt: skip
    timeline = json.loads((outside / "timeline.json").read_text())
    assert [r["time"] for r in timeline] == [f"2022-01-06T{h:02}:00" for h in range(6, 14)]
    assert all(r["bgp"]["share"] == 1 for r in timeline)  # the routes stay announced
    answering = {r["time"][11:13]: r["probing"]["groups"] for r in timeline}
    assert answering["11"]["kcell"]["share"] == 0 < answering["11"]["kt"]["share"] < 1  # kt's servers still answer
    assert all(g["share"] == 1 for h, groups in answering.items() if h != "11" for g in groups.values())
    report = grading.grade(lab, STUDENT, tmp_path)
    assert report.ok and report.earned == 100, report.text()
    other = next(s for s in (f"s{i}" for i in range(1, 30)) if lab.variant(s)["mechanism"] == "DropTrafficAtBorder")
    theirs = {r.key: r for r in grading.grade(lab, other, tmp_path).results}
    assert not theirs["mechanism"].ok and not theirs["operators"].ok
