"""A class's submissions graded at once: one row per student, one column per task.

``SUBMISSIONS/<student id>/`` holds each student's files; the result is ``grades.csv``
and ``grades.json``. A submission the checker cannot read (malformed answers) gets zero
and its reason in the ``error`` column instead of stopping the class's grading. What the
lab's checks can share is held once for the whole class (``LabDefinition.grading``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from labs.framework.checks import Report
from labs.framework.definition import LabDefinition
from labs.framework.errors import BadInput
from labs.framework.variants import student_id


def grade(lab: LabDefinition, student: str, submission: Path) -> Report:
    return Report(lab.number, student, tuple(lab.check(lab.variant(student), submission)))


def grade_all(lab: LabDefinition, submissions: Path) -> list[dict[str, Any]]:
    """One row per student folder: student, each task's points, total, error."""
    rows = []
    with lab.grading():
        for folder in sorted(p for p in submissions.iterdir() if p.is_dir()):
            row: dict[str, Any] = {"student": folder.name}
            try:
                report = grade(lab, student_id(folder.name), folder)
                row |= {r.key: r.earned for r in report.results} | {"total": report.earned, "error": ""}
            except BadInput as exc:
                row |= {t.key: 0 for t in lab.tasks} | {"total": 0, "error": str(exc)}
            rows.append(row)
    return rows


def write(lab: LabDefinition, rows: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    columns = ["student", *(t.key for t in lab.tasks), "total", "error"]
    csv_path, json_path = out / f"lab{lab.number:02}-grades.csv", out / f"lab{lab.number:02}-grades.json"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)
    points = {t.key: t.points for t in lab.tasks} | {"total": sum(t.points for t in lab.tasks)}
    json_path.write_text(json.dumps({"lab": lab.number, "points": points, "students": rows}, indent=2) + "\n")
    return csv_path, json_path
