"""What the search draws from: triggers on the TCP flags a client sends, and actions with
their parameters, each written as Geneva writes it so the parser reads it back.

Values for ``tamper{...:replace:V}`` are drawn from a range where the field can matter
(a TTL up to 64, an IP length up to 1500, the flag sets TCP packets carry), not from
the field's whole width. Offsets of ``fragment`` are -1 (in half) or 1..64 (bytes of
TCP payload, or 8-byte units of an IP fragment).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Literal

from tools.circumvent.geneva.syntax import Drop, Duplicate, Fragment, Node, Tamper, Trigger

TRIGGER_FLAGS = ("S", "A", "PA", "FA")  # what a client's TCP sends
TCP_FLAG_VALUES = ("S", "SA", "A", "PA", "FA", "F", "R", "RA", "P", "U")
IP_FLAG_VALUES = ("0", "DF", "MF", "evil", "DF+MF")
ACTION_WEIGHTS = {"tamper": 3, "duplicate": 2, "fragment": 2, "drop": 1}
MAX_OFFSET = 64


def _integer(low: int, high: int) -> Callable[[random.Random], str]:
    return lambda rng: str(rng.randint(low, high))


def _choice(values: tuple[str, ...]) -> Callable[[random.Random], str]:
    return lambda rng: rng.choice(values)


def _letters(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(10))


def _hex(rng: random.Random) -> str:
    return rng.randbytes(16).hex()


# The fields a tamper may set (fields.py has a few more: valueless TCP options), and how
# a replacement value is drawn for each.
VALUES: dict[str, Callable[[random.Random], str]] = {
    "IP:tos": _integer(0, 255),
    "IP:len": _integer(20, 1500),
    "IP:id": _integer(0, 65535),
    "IP:flags": _choice(IP_FLAG_VALUES),
    "IP:frag": _integer(0, 8191),
    "IP:ttl": _integer(1, 64),
    "IP:chksum": _integer(0, 65535),
    "TCP:sport": _integer(1, 65535),
    "TCP:dport": _integer(1, 65535),
    "TCP:seq": _integer(0, (1 << 32) - 1),
    "TCP:ack": _integer(0, (1 << 32) - 1),
    "TCP:dataofs": _integer(0, 15),
    "TCP:reserved": _integer(0, 7),
    "TCP:flags": _choice(TCP_FLAG_VALUES),
    "TCP:window": _integer(0, 65535),
    "TCP:chksum": _integer(0, 65535),
    "TCP:urgptr": _integer(0, 65535),
    "TCP:load": _letters,
    "TCP:options-mss": _integer(0, 65535),
    "TCP:options-wscale": _integer(0, 255),
    "TCP:options-timestamp": _integer(0, (1 << 32) - 1),
    "TCP:options-md5header": _hex,
    "TCP:options-uto": _integer(0, 65535),
}


def trigger(rng: random.Random) -> Trigger:
    return Trigger("TCP", "flags", rng.choice(TRIGGER_FLAGS))


def kind(rng: random.Random, other_than: str | None = None) -> str:
    """An action's name, by ACTION_WEIGHTS."""
    names = [name for name in ACTION_WEIGHTS if name != other_than]
    return rng.choices(names, [ACTION_WEIGHTS[n] for n in names])[0]


def action(rng: random.Random, name: str | None = None) -> Node:
    """A new action with no children: ``name``'s, or one drawn by ACTION_WEIGHTS."""
    name = name or kind(rng)
    if name == "tamper":
        return tamper(rng)
    if name == "fragment":
        return fragment(rng)
    return Duplicate() if name == "duplicate" else Drop()


def tamper(rng: random.Random, key: str | None = None) -> Tamper:
    """A tamper of ``key`` (a field drawn from VALUES if None), replace or corrupt."""
    key = key or rng.choice(list(VALUES))
    proto, name = key.split(":")
    if rng.random() < 0.5:
        return Tamper(proto, name, "corrupt")
    return Tamper(proto, name, "replace", VALUES[key](rng))


def offset(rng: random.Random) -> int:
    return -1 if rng.random() < 0.3 else rng.randint(1, MAX_OFFSET)


def fragment(rng: random.Random) -> Fragment:
    proto: Literal["tcp", "ip"] = "tcp" if rng.random() < 0.7 else "ip"
    return Fragment(proto, offset(rng), rng.random() < 0.5)
