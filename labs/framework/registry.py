"""The labs by number: ``labs/NN-slug/`` folders, each with a ``lab.py`` defining ``LAB``.

Lab folders are not Python packages (their names start with digits), so a lab's module
is loaded from its file (``load``, which a lab's modules also use for each other); a lab's
``solution/solve.py`` only when an instructor asks for it (a student's copy has none).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from labs.framework.definition import LabDefinition
from labs.framework.errors import BadInput

LABS = Path(__file__).resolve().parent.parent
FOLDER = re.compile(r"(\d\d)-[a-z0-9-]+")


@dataclass(frozen=True)
class LabFolder:
    number: int
    path: Path

    @property
    def definition(self) -> LabDefinition:
        lab = getattr(load(self.path / "lab.py"), "LAB", None)
        if not isinstance(lab, LabDefinition):
            raise BadInput(f"{self.path}/lab.py defines no LAB")
        return lab

    def solution(self) -> ModuleType:
        path = self.path / "solution" / "solve.py"
        if not path.is_file():
            raise BadInput(f"lab {self.number} has no solution here ({path} is missing: a student copy?)")
        return load(path)


def folders() -> list[LabFolder]:
    found = []
    for path in sorted(LABS.iterdir()):
        match = FOLDER.fullmatch(path.name)
        if match and (path / "lab.py").is_file():
            found.append(LabFolder(int(match.group(1)), path))
    return found


def find(number: str | int) -> LabFolder:
    """The lab numbered ``number`` (as typed: "1", "01"), or BadInput naming the known ones."""
    known = folders()
    for lab in known:
        if str(number).isdigit() and int(number) == lab.number:
            return lab
    raise BadInput(f"unknown lab {str(number)!r} (known: {', '.join(str(k.number) for k in known)})")


def load(path: Path) -> ModuleType:
    """The module in a lab folder's file ``path``, loaded once per process (a second load
    returns the first: a lab's modules may share state, such as a live lab)."""
    path = path.resolve()
    name = "kzlab_labs_" + re.sub(r"\W", "_", path.relative_to(LABS).with_suffix("").as_posix())
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BadInput(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
