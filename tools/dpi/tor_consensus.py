"""The relays a Tor network status consensus lists, read from its text (dir-spec 3.4.1).

Shared by the lab's Tor network (its readiness check: a consensus lists every relay) and
the censor that blocks public relays by address (BlockTorRelays): both read what an
authority's DirPort serves at ``PATH``. Only the router lines are read: ``r`` (nickname,
identities, publication time, address, ORPort, DirPort) and ``s`` (flags); the
microdescriptor flavour's ``r`` lines lack the descriptor digest, so the address and ports
are read from the end of the line. Lines that do not parse are skipped: a consensus from
an unknown server is data, not code.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

PATH = "/tor/status-vote/current/consensus"  # the full (ns) flavour, uncompressed
R_FIELDS = (8, 9)  # r line tokens in the microdesc and ns flavours, "r" included


@dataclass
class Router:
    nickname: str
    address: str
    orport: int
    dirport: int
    flags: frozenset[str] = field(default_factory=frozenset)


def routers(text: str) -> list[Router]:
    """Every router the consensus lists, with its flags, in order."""
    out: list[Router] = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0] == "r" and len(tokens) in R_FIELDS:
            try:
                address = str(ipaddress.IPv4Address(tokens[-3]))
                out.append(Router(tokens[1], address, int(tokens[-2]), int(tokens[-1])))
            except ValueError:
                continue
        elif tokens[0] == "s" and out:
            out[-1].flags = frozenset(tokens[1:])
    return out


def addresses(text: str) -> list[str]:
    """The relays' addresses, each once, in order: what blocking relays by address needs."""
    return list(dict.fromkeys(router.address for router in routers(text)))
