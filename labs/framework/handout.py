"""The student copy of labs: everything but solutions and instructor notes.

A lab folder's ``solution/`` and any ``INSTRUCTORS.md`` stay behind, so do caches. The
framework comes along, so a student runs the very checker the instructor grades with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from labs.framework.registry import LABS, LabFolder

KEPT_BACK = ("solution", "INSTRUCTORS.md", "__pycache__", "*.pyc")


def write(labs: list[LabFolder], out: Path) -> list[Path]:
    """Copy ``labs`` and the framework under ``out``/labs; the folders written."""
    target = out / "labs"
    target.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns(*KEPT_BACK)
    shutil.copytree(LABS / "framework", target / "framework", ignore=ignore, dirs_exist_ok=True)
    for name in ("__init__.py", "__main__.py"):
        shutil.copy(LABS / name, target / name)
    written = []
    for lab in labs:
        shutil.copytree(lab.path, target / lab.path.name, ignore=ignore, dirs_exist_ok=True)
        written.append(target / lab.path.name)
    return written
