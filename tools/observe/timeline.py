"""The timeline of a scenario as the outside world sees it: one record per phase.

A record is ``{"phase", "time", "bgp", "probing", "inside"}``: the phase's point on the lab
clock (ISO-8601 UTC, or null), what a route collector sees (``bgp_view.visibility``), what
active probing from outside sees (``sweep``'s output, or null when not run) and how many
client-target pairs work inside (``inside_share``). Every signal is a tally with an overall
``share`` and one per group (operator), so the charts can put them side by side.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tools.basics import clock

WORKING = frozenset({"accessible", "throttled", "tls_mitm"})


def tally(items: Iterable[tuple[str, bool]], total_key: str, hit_key: str) -> dict[str, Any]:
    """Count ``(group, hit)`` items overall and per group: ``{total_key, hit_key, "share", "groups"}``.

    No items is a ValueError: a share of nothing would read as a 0 % outage."""
    counts: dict[str, list[int]] = {}
    for group, hit in items:
        count = counts.setdefault(group, [0, 0])
        count[0] += 1
        count[1] += hit
    if not counts:
        raise ValueError("nothing to count")
    total, hits = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    return {
        total_key: total,
        hit_key: hits,
        "share": hits / total,
        "groups": {g: {total_key: n, hit_key: m, "share": m / n} for g, (n, m) in sorted(counts.items())},
    }


def inside_share(
    cells: list[dict[str, Any]], group_of: dict[str, str], working: frozenset[str] = WORKING
) -> dict[str, Any]:
    """The share of client-target pairs whose outcome counts as working, overall and per operator.

    ``throttled`` and ``tls_mitm`` count as working by default: the page loads, slowly or
    intercepted, which is what a user (and a traffic-volume signal like Radar's) sees."""
    unknown = sorted({c["client"] for c in cells} - group_of.keys())
    if unknown:
        raise ValueError(f"clients without an operator: {', '.join(unknown)}")
    return tally(((group_of[c["client"]], c["observed"] in working) for c in cells), "pairs", "working")


def _check_share(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{where}: expected a number in [0, 1], got {value!r}")


def _check_signal(signal: Any, where: str) -> None:
    """A tally: a ``share`` and ``groups`` of ``{name: {"share": ...}}``."""
    if not isinstance(signal, dict):
        raise ValueError(f"{where}: expected an object, got {signal!r}")
    _check_share(signal.get("share"), f"{where}.share")
    groups = signal.get("groups")
    if not isinstance(groups, dict):
        raise ValueError(f"{where}.groups: expected an object, got {groups!r}")
    for name, group in groups.items():
        if not isinstance(group, dict):
            raise ValueError(f"{where}.groups.{name}: expected an object, got {group!r}")
        _check_share(group.get("share"), f"{where}.groups.{name}.share")


def parse_time(value: str, where: str) -> dt.datetime:
    """The lab clock's reading of an ISO-8601 time (tools/basics/clock.py), the error naming
    the field ``where``."""
    try:
        return clock.parse_time(value)
    except ValueError:
        raise ValueError(f"{where}: expected an ISO-8601 time or null, got {value!r}") from None


def validate(timeline: Any) -> list[dict[str, Any]]:
    """Check a timeline's shape; raises ValueError naming the first field at fault."""
    if not isinstance(timeline, list) or not timeline:
        raise ValueError("timeline: expected a non-empty list of phase records")
    previous: dt.datetime | None = None
    for i, record in enumerate(timeline):
        where = f"timeline[{i}]"
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected an object, got {record!r}")
        if not isinstance(record.get("phase"), str) or not record["phase"]:
            raise ValueError(f"{where}.phase: expected a non-empty string, got {record.get('phase')!r}")
        if record.get("time") is not None:
            t = parse_time(record["time"], f"{where}.time")
            if previous is not None and t < previous:
                raise ValueError(f"{where}.time: {record['time']} is earlier than the phase before it")
            previous = t
        _check_signal(record.get("bgp"), f"{where}.bgp")
        if record.get("probing") is not None:
            _check_signal(record["probing"], f"{where}.probing")
        _check_signal(record.get("inside"), f"{where}.inside")
    return timeline


def write_timeline(path: Path, timeline: list[dict[str, Any]]) -> None:
    """Write a validated timeline as JSON."""
    path.write_text(json.dumps(validate(timeline), indent=2, allow_nan=False) + "\n")


def read_timeline(path: Path) -> list[dict[str, Any]]:
    """Read a timeline written by ``write_timeline``; ValueError if it is malformed."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e}") from None
    return validate(data)
