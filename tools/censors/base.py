"""The one small interface every censor implements.

A censor attaches to a named node of the topology (the ISP gateway, the border, the
ISP resolver, or an on-path tap) and works with that node's own kernel: its iptables or
nftables rules and, for the packets a DPI decision needs, an NFQUEUE read by scapy
(DESIGN principle 6). ``attach`` installs everything, ``detach`` removes everything, and
a censor leaves nothing behind in the node when detached.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mininet.node import Node

from topologies.model import TopologyModel


class CensorError(ValueError):
    """A censor that cannot be configured as asked; the message names the parameter."""


@dataclass(frozen=True)
class Attachment:
    """Where a censor is attached: the node, a private work directory, the run's private
    directory (keys, the national CA, the global root) and the topology model."""

    host: Node
    workdir: Path
    rundir: Path
    model: TopologyModel


class Censor(ABC):
    """A censorship mechanism; subclasses say in their docstring what they model."""

    name: ClassVar[str]
    params_allowed: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - self.params_allowed
        if unknown:
            raise CensorError(f"censor {self.name!r}: unknown parameter(s) {sorted(unknown)}")
        self.params = params
        self.host: Node | None = None

    @abstractmethod
    def attach(self, at: Attachment) -> None:
        """Start censoring at ``at.host``."""

    @abstractmethod
    def detach(self) -> None:
        """Stop and remove every rule and process this censor made."""
