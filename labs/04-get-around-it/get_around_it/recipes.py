"""A submission's recipes: per task, the way around its censor (a method of
tools/circumvent with its parameters) and why it works, in ``answers.json``:

    {"dns": {"method": "...", "params": {...}, "why": "..."}, "site": {...}, "device_or_telegram": {...}}

A recipe is checked offline before it is replayed: the method must be one the lab offers
and its parameters ones it takes (the method's own typed fields say what is wrong, in one
line). An answer of the wrong kind is BadInput (labs.framework.answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from get_around_it.catalogue import TASKS
from labs.framework import answers
from labs.framework.answers import OBJECT, STRING, Kind
from tools.basics.params import ParameterError
from tools.circumvent.registry import METHODS

KINDS: dict[str, Kind] = {
    key: kind
    for task in TASKS
    for key, kind in ((task, OBJECT), (f"{task}.method", STRING), (f"{task}.params", OBJECT), (f"{task}.why", STRING))
}


@dataclass(frozen=True)
class Recipe:
    method: str
    params: dict[str, Any]


def read(submission: Path) -> dict[str, Any] | None:
    """The submission's answers (None without an answers file); BadInput if malformed."""
    return answers.read(submission, KINDS)


def recipe(given: dict[str, Any], task: str) -> Recipe | str:
    """The task's recipe, or why it cannot be replayed (a hint)."""
    method = answers.get(given, f"{task}.method")
    if not method:
        return f'"{task}" names no "method": one of {", ".join(METHODS)}'
    if method not in METHODS:
        return f"{method!r} is no method of the lab: one of {', '.join(METHODS)} (mininet> methods)"
    params = answers.get(given, f"{task}.params") or {}
    try:
        METHODS[method](**params)
    except ParameterError as exc:
        return " ".join(str(exc).split())
    return Recipe(method, params)


def method(given: dict[str, Any], task: str) -> str | None:
    """The method the task's recipe names, if the lab has it."""
    name = answers.get(given, f"{task}.method")
    return name if name in METHODS else None


def why(given: dict[str, Any], task: str) -> str:
    """The task's "why" answer, empty if none."""
    return answers.get(given, f"{task}.why") or ""
