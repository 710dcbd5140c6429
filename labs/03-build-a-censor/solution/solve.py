"""Lab 3's reference submission: the reference censors, for any student id.

    python -m labs solve 3 --student ID --out DIR

``censor.py`` beside this file defines the class of every rule a variant can draw, so
the submission is that file as it is; nothing is measured (no root needed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from labs.framework.definition import LabDefinition

CENSOR = Path(__file__).resolve().parent / "censor.py"


def solve(lab: LabDefinition, student: str, out: Path) -> int:
    shutil.copy(CENSOR, out / CENSOR.name)
    print(f"{out / CENSOR.name}: {lab.variant(student)['censor']} is the class the checker loads for {student}")
    return 0
