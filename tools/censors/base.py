"""The one small interface every censor implements.

A censor attaches to a named node of the topology (the ISP gateway, the border, the
ISP resolver, or an on-path tap) and works with that node's own kernel: its iptables or
nftables rules and, for the packets a DPI decision needs, an NFQUEUE read by scapy
(DESIGN principle 6). ``attach`` installs everything, ``detach`` removes everything, and
a censor leaves nothing behind in the node when detached.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tools.basics.params import Field, ParameterError, check
from tools.dpi.ipv4 import Built, Packet

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.node import Node

    from topologies.model import TopologyModel

__all__ = ["Attachment", "Censor", "CensorError", "Decision", "Field"]


class CensorError(ParameterError):
    """A censor that cannot be configured as asked; the message names the censor and what is wrong."""


@dataclass(frozen=True)
class Attachment:
    """Where a censor is attached: the node, a private work directory, the run's private
    directory (keys, the national CA, the global root), BIND's directory of the run, the
    topology model, a small number unique among the censors attached in this run (it
    picks the censor's NFQUEUE number and connection-mark bits), and the lab clock's time
    when the scenario plays a timeline (tools/basics/clock.py), else None."""

    host: Node
    workdir: Path
    rundir: Path
    named_dir: Path
    model: TopologyModel
    index: int = 1
    now: dt.datetime | None = None


@dataclass
class Decision:
    """What a censor does with one packet: let it go or drop it, packets to inject,
    whether the rest of its flow is decided (``flow``: "pass", "block", or a censor's own
    kind such as "throttle"), and how many seconds to hold the packet before the verdict
    (``delay``; the engine keeps deciding other packets meanwhile)."""

    verdict: str = "accept"
    inject: list[Built] = field(default_factory=list)
    flow: str | None = None
    note: str = ""
    delay: float = 0.0


class Censor(ABC):
    """A censorship mechanism; subclasses say in their docstring what they model.

    ``selects`` and ``decide`` are the censor's logic on single packets, in Python: live,
    only the packets the kernel hands over reach them (or none, for a censor that is all
    kernel rules); offline (offline.py) they run over a pcap, with ``flows`` keeping what
    the kernel's connection marks keep live."""

    name: ClassVar[str]  # the class's own name: scenarios and the catalogue call it so

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = cls.__name__

    fields: ClassVar[dict[str, Field]] = {}  # its parameters (params.py); docs/censors.md lists them
    models: ClassVar[str] = ""  # the measurement it models (kazakhstan.md section)
    probe_sees: ClassVar[str] = ""  # what an OONI probe reports
    circumvention: ClassVar[str] = ""  # the known ways around it

    def __init__(self, **params: Any) -> None:
        """Checks ``params`` against ``fields`` (CensorError naming a bad one); ``self.params``
        holds the checked settings with every default filled in."""
        self.params = check(f"censor {self.name!r}", self.fields, params, CensorError)
        self.host: Node | None = None

    @abstractmethod
    def attach(self, at: Attachment) -> None:
        """Start censoring at ``at.host``."""

    @abstractmethod
    def detach(self) -> None:
        """Stop and remove every rule and process this censor made."""

    def failure(self) -> str | None:
        """Why this censor stopped working on its own (its process died), else None."""
        return None

    def tick(self, now: dt.datetime) -> None:
        """The lab clock moved to ``now`` (a censor that follows a schedule acts on it)."""
        return None

    def selects(self, pkt: Packet) -> bool:
        """Whether this packet reaches the censor's Python logic at all."""
        return False

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        """The censor's decision on one selected packet (read from its bytes: tools/dpi/ipv4.py)."""
        return Decision()
