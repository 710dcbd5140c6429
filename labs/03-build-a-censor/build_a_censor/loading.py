"""A student's censor, loaded the way kzlab loads its own: a class from a file, built with
typed parameters.

The registry (tools/censors/registry.py) names censor classes; the offline grader and
the engine build one with ``CENSORS[name](**params)``. Here the class comes from the
student's ``censor.py`` (named by the starter file, so by the variant) and is built with
the variant's parameters; ``register`` adds it to the registry of the process that runs
it live, so that the engine (tools/censors/engine.py) finds it by name as it finds any
censor. Whatever stops that (no file, a syntax error, a missing class, refused
parameters, an error while importing) is ``Unusable``, its message a hint in one line.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from build_a_censor.errors import Unusable
from tools.censors.base import CensorError
from tools.censors.queue import QueueCensor
from tools.censors.registry import CENSORS

__all__ = ["Unusable", "build", "load", "load_class", "register"]


def load_class(path: Path, name: str) -> type[QueueCensor]:
    """The class ``name`` of the file at ``path``: a QueueCensor, or Unusable."""
    if not path.is_file():
        raise Unusable(f"no {path.name} in {path.parent}: start from the starter file (run.py start)")
    spec = importlib.util.spec_from_file_location("kzlab_lab03_student_censor", path)
    if spec is None or spec.loader is None:
        raise Unusable(f"{path.name} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise Unusable(f"{path.name}, line {exc.lineno}: {exc.msg}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - whatever the student's module does when imported
        raise Unusable(f"importing {path.name} raised {type(exc).__name__}: {_short(exc)}") from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type) or not issubclass(cls, QueueCensor):
        raise Unusable(f"{path.name} defines no class {name} derived from QueueCensor (keep the starter's class)")
    return cls


def build(cls: type[QueueCensor], params: dict[str, Any]) -> QueueCensor:
    """An instance, built as the engine builds censors; Unusable if it refuses ``params``."""
    try:
        return cls(**params)
    except CensorError as exc:
        raise Unusable(f"{exc} (keep the starter's fields)") from None
    except Exception as exc:  # noqa: BLE001 - the student's __init__
        raise Unusable(f"{cls.__name__}(**params) raised {type(exc).__name__}: {_short(exc)}") from None


def load(path: Path, name: str, params: dict[str, Any]) -> QueueCensor:
    return build(load_class(path, name), params)


def register(cls: type[QueueCensor]) -> None:
    """Make ``cls`` known by its name in this process, as the catalogue's censors are."""
    if CENSORS.get(cls.name, cls) is not cls:
        raise Unusable(f"{cls.name} is the name of a censor of kzlab's catalogue: keep the starter's class name")
    CENSORS[cls.name] = cls


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
