"""A submission's ``answers.json``, read and checked against the shape a handout asks for.

A lab names each answer it reads and the kind of JSON value it must be; a nested answer
is named by its path (``"leaf.shift_hours"``). An answer left out is no error (its task
fails with a hint); an answer of the wrong kind, or a file that is not a JSON object, is
BadInput, so the checker says in one line what to fix (exit 2, grade-all's error column).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labs.framework.errors import BadInput

FILE = "answers.json"


@dataclass(frozen=True)
class Kind:
    """A kind of JSON value: how the handout names it, and the test a value must pass."""

    name: str
    test: Callable[[Any], bool]


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STRING = Kind("a string", lambda v: isinstance(v, str))
INTEGER = Kind("a whole number", _integer)
STRINGS = Kind("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v))
OBJECT = Kind("a JSON object", lambda v: isinstance(v, dict))
PAIRS = Kind(
    'a list of ["HH:MM", "HH:MM"] pairs',
    lambda v: isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and STRINGS.test(p) for p in v),
)


def read(submission: Path, kinds: dict[str, Kind]) -> dict[str, Any] | None:
    """The submission's answers (None if it has no answers file); BadInput naming the
    first answer that is not of its kind. An answer's path must have its parents in
    ``kinds`` as OBJECT before it (``"leaf"`` before ``"leaf.shift_hours"``)."""
    path = submission / FILE
    if not path.exists():
        return None
    try:
        answers = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{path}: not a JSON file: {' '.join(str(exc).split())}") from None
    if not isinstance(answers, dict):
        raise BadInput(f"{path}: expected a JSON object with {', '.join(k for k in kinds if '.' not in k)}")
    for key, kind in kinds.items():
        value = get(answers, key)
        if value is not None and not kind.test(value):
            raise BadInput(f"{path}: {key!r} must be {kind.name}")
    return answers


def get(answers: dict[str, Any], key: str) -> Any:
    """The answer at a dotted path, None if any part of it is missing."""
    value: Any = answers
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
