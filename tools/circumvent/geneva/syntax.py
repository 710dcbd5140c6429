"""A Geneva strategy as data: triggers, action trees, the outbound and inbound forests.

Each node prints itself in Geneva's syntax, so ``str(parse(text))`` gives back an
equivalent strategy string (the same trees; a missing final ``|`` is restored).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Offset = int | Literal["sni"]


@dataclass(frozen=True)
class Trigger:
    """``[PROTO:field:value]``: a tree runs on a packet whose field has that value."""

    proto: str
    field: str
    value: str  # as written; fields.py reads it

    def __str__(self) -> str:
        return f"{self.proto}:{self.field}:{self.value}"


@dataclass(frozen=True)
class Send:
    """Pass the packet on as it is (what an empty child means too)."""

    def __str__(self) -> str:
        return "send"


@dataclass(frozen=True)
class Drop:
    """Send nothing."""

    def __str__(self) -> str:
        return "drop"


@dataclass(frozen=True)
class Tamper:
    """Set one field (``replace`` with a value, or ``corrupt``: a random other value) and
    pass the packet to the left child."""

    proto: str
    field: str
    mode: Literal["replace", "corrupt"]
    value: str | None = None  # replace only, as written
    left: Node | None = None

    def __str__(self) -> str:
        value = f":{self.value}" if self.mode == "replace" else ""
        return f"tamper{{{self.proto}:{self.field}:{self.mode}{value}}}" + _children(self.left, None)


@dataclass(frozen=True)
class Duplicate:
    """The packet to the left child, a copy of it to the right child."""

    left: Node | None = None
    right: Node | None = None

    def __str__(self) -> str:
        return "duplicate" + _children(self.left, self.right)


@dataclass(frozen=True)
class Fragment:
    """Cut the packet in two: TCP segments (``tcp``; offset in bytes of payload) or IP
    fragments (``ip``; offset in 8-byte units). -1 cuts in half, ``sni`` (a lab extension,
    tcp only) one byte into the ClientHello's server name. In order: the first piece to the
    left child; out of order: the second piece to the left child."""

    proto: Literal["tcp", "ip"]
    offset: Offset
    in_order: bool
    overlap: int = 0  # bytes of the second piece repeated at the end of the first (tcp)
    left: Node | None = None
    right: Node | None = None

    def __str__(self) -> str:
        overlap = f":{self.overlap}" if self.overlap else ""
        params = f"{self.proto}:{self.offset}:{self.in_order}{overlap}"
        return f"fragment{{{params}}}" + _children(self.left, self.right)


Node = Send | Drop | Tamper | Duplicate | Fragment


def _children(left: Node | None, right: Node | None) -> str:
    if left is None and right is None:
        return ""
    return f"({left or ''},{right or ''})"


@dataclass(frozen=True)
class Tree:
    """``[trigger]-action-|``; no action means send."""

    trigger: Trigger
    action: Node | None

    def __str__(self) -> str:
        return f"[{self.trigger}]-{self.action or ''}-|" if self.action else f"[{self.trigger}]-|"


@dataclass(frozen=True)
class Strategy:
    """Trees for the host's outbound packets, then (after ``\\/``) for its inbound ones."""

    outbound: tuple[Tree, ...] = ()
    inbound: tuple[Tree, ...] = ()

    def __str__(self) -> str:
        out = " ".join(map(str, self.outbound))
        if not self.inbound:
            return out or "\\/"
        return f"{out} \\/ {' '.join(map(str, self.inbound))}".lstrip()
