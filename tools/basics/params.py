"""Typed, documented parameters of censors and circumvention methods, checked in one place
(issue 9).

Every censor (and method) declares its parameters as ``fields``: a name -> ``Field`` mapping, each with
a kind (what values it takes), a default (or none: the parameter is required) and one
line of documentation. ``check`` turns the parameters a scenario or a command line gave
into the censor's settings, defaults filled in, or raises one ``ParameterError`` line (a
subclass the caller names, e.g. CensorError) that names the censor, the parameter and
what it expects. So a wrong type or value is caught
when a scenario is validated, before anything is built, never on the packet path.

Checked values are normalised to plain JSON values (lists become tuples, names lower
case, prefixes canonical strings), so a censor's settings can be written into its
engine's config file and checked again on the other side to the same result.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_SHOWN = 60  # characters of a bad value quoted in an error


class ParameterError(ValueError):
    """Parameters that cannot configure their owner as asked; the message names the parameter."""


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Kind:
    """What values a parameter takes: ``expects`` says it in words, ``normalise`` returns
    the checked value or raises ValueError."""

    expects: str
    normalise: Callable[[Any], Any]


@dataclass(frozen=True)
class Field:
    kind: Kind
    doc: str
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def shown(value: Any) -> str:
    """``value`` quoted for an error line, cut short (a 5,000-digit number has no repr)."""
    try:
        text = repr(value)
    except ValueError:
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def check(
    subject: str,
    fields: Mapping[str, Field],
    given: Mapping[str, Any],
    error: type[ParameterError] = ParameterError,
) -> dict[str, Any]:
    """The settings of ``subject`` (e.g. "censor 'X'") from ``given``; ``error`` (one line,
    naming the subject and parameter) for any bad parameter."""
    unknown = sorted(set(given) - set(fields))
    if unknown:
        takes = ", ".join(fields) or "none"
        raise error(f"{subject}: unknown parameter(s) {unknown} (it takes: {takes})")
    settings: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in given:
            if field.required:
                raise error(f"{subject}: parameter {name!r} is required: {field.kind.expects}")
            settings[name] = field.default
            continue
        value = given[name]
        if value is None and field.default is None:
            settings[name] = None
            continue
        try:
            settings[name] = field.kind.normalise(value)
        except (TypeError, ValueError, OverflowError) as exc:
            detail = f" ({' '.join(str(exc).split())})" if str(exc) else ""
            raise error(
                f"{subject}: parameter {name!r} expects {field.kind.expects}, got {shown(value)}{detail}"
            ) from None
    return settings


# -- kinds -------------------------------------------------------------------------------


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


BOOLEAN = Kind("true or false", _boolean)


def integer(low: int, high: int) -> Kind:
    def normalise(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError
        return value

    return Kind(f"a whole number from {low} to {high}", normalise)


def number(low: float, high: float, unit: str = "") -> Kind:
    def normalise(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        out = float(value)
        if not math.isfinite(out) or not low <= out <= high:
            raise ValueError
        return out

    return Kind(f"a number from {low:g} to {high:g}{' ' + unit if unit else ''}", normalise)


def choice(*options: str) -> Kind:
    def normalise(value: Any) -> str:
        if value not in options or not isinstance(value, str):
            raise ValueError
        return value

    return Kind(f"one of {', '.join(repr(o) for o in options)}", normalise)


def _items(value: Any, most: int) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ValueError("not a list")
    if len(value) > most:
        raise ValueError(f"more than {most} items")
    return list(value)


LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def domain_name(value: Any) -> str:
    """A DNS name (letters, digits, '-', '_'; labels of 1-63 characters; 253 at most), lower case."""
    if not isinstance(value, str):
        raise ValueError(f"{shown(value)} is not a name")
    name = value.lower().rstrip(".")
    if not 0 < len(name) <= 253 or not all(LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"{shown(value)} is not a DNS name")
    return name


def _domains(value: Any) -> tuple[str, ...]:
    return tuple(domain_name(v) for v in _items(value, 100_000))


DOMAINS = Kind('a list of domain names (e.g. ["facebook.com"])', _domains)


def _prefix(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{shown(value)} is not a prefix")
    return str(ipaddress.IPv4Network(value))


def _prefixes(value: Any) -> tuple[str, ...]:
    return tuple(_prefix(v) for v in _items(value, 100_000))


def _some_prefixes(value: Any) -> tuple[str, ...]:
    out = _prefixes(value)
    if not out:
        raise ValueError("empty")
    return out


PREFIXES = Kind('a list of IPv4 prefixes (e.g. ["149.154.160.0/20"])', _prefixes)
SOME_PREFIXES = Kind('a list of one or more IPv4 prefixes (e.g. ["149.154.160.0/20"])', _some_prefixes)


def _address(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError
    return str(ipaddress.IPv4Address(value))


ADDRESS = Kind('an IPv4 address (e.g. "10.10.34.35")', _address)


def ports(most: int, least: int = 1) -> Kind:
    def normalise(value: Any) -> tuple[int, ...]:
        items = _items(value, most)
        valid = all(not isinstance(p, bool) and isinstance(p, int) and 0 < p < 65536 for p in items)
        if len(items) < least or not valid:
            raise ValueError
        return tuple(items)

    return Kind(f"a list of {least} to {most} ports (1-65535)", normalise)


RATE_PATTERN = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,6})?(bit|kbit|mbit|gbit|bps|kbps|mbps)$")


def _rate(value: Any) -> str:
    if not isinstance(value, str) or not RATE_PATTERN.match(value):
        raise ValueError
    return value


RATE = Kind('a tc rate (e.g. "256kbit")', _rate)


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValueError
    return value


TEXT = Kind("a non-empty string", _text)


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError
    return dict(value)


MAPPING = Kind("a mapping of parameter names to values", _mapping)


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in _items(value, 1000):
        if isinstance(pair, str) or not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"{shown(pair)} is not a [start, end] pair")
        if not all(isinstance(t, str) for t in pair):
            raise ValueError(f"{shown(pair)} is not a pair of strings")
        out.append((pair[0], pair[1]))
    if not out:
        raise ValueError("empty")
    return tuple(out)


PAIRS = Kind("a list of [start, end] pairs of times", _pairs)
