"""Which names, and which addresses, a censor's lists cover, exactly as configured.

A list entry covers its own name and, when ``subdomains`` is on, every name below it
(facebook.com covers www.facebook.com and m.facebook.com, not notfacebook.com). The 2019
interception device used exact names only (kazakhstan.md 1.3); blocklists such as the
resolver's usually cover subdomains too. A prefix list covers the addresses inside any of
its prefixes.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tools.basics.params import BOOLEAN, DOMAINS, Field

MAX_NAME = 254  # a DNS name's 253 characters, and a trailing dot

LIST_FIELDS = {
    "domains": Field(DOMAINS, "the names it acts on", ()),
    "subdomains": Field(BOOLEAN, "whether a listed name covers the names below it too", True),
}


@dataclass(frozen=True)
class DomainList:
    names: frozenset[str]
    subdomains: bool = True

    @classmethod
    def of(cls, names: tuple[str, ...], subdomains: bool = True) -> DomainList:
        """From checked names (params.DOMAINS: lower case, no trailing dot)."""
        return cls(frozenset(names), subdomains)

    def covers(self, name: str | None) -> bool:
        """Whether the list covers ``name``; never a name longer than DNS allows (253
        characters: a hostile 64 KiB SNI of one-letter labels would cost quadratic time)."""
        if not name or len(name) > MAX_NAME:
            return False
        name = name.lower().rstrip(".")
        if name in self.names:
            return True
        if self.subdomains:  # each parent name: what follows each dot
            dot = name.find(".")
            while dot != -1:
                if name[dot + 1 :] in self.names:
                    return True
                dot = name.find(".", dot + 1)
        return False


class AddressList:
    """The networks of a checked prefix list (params.PREFIXES), and which addresses they
    cover: one set lookup per prefix length in the list (at most 33), however many prefixes,
    with the address read once (a DPI decision must not build an ipaddress object per
    prefix per packet: 1,000 prefixes cost milliseconds)."""

    def __init__(self, prefixes: Iterable[str | ipaddress.IPv4Network]) -> None:
        self.networks = tuple(ipaddress.IPv4Network(p) for p in prefixes)
        by_length: dict[int, set[int]] = {}
        for net in self.networks:
            by_length.setdefault(net.prefixlen, set()).add(int(net.network_address))
        self._masks = tuple((0xFFFFFFFF ^ (0xFFFFFFFF >> n), frozenset(s)) for n, s in by_length.items())

    def covers(self, address: str | ipaddress.IPv4Address) -> bool:
        """Whether a prefix of the list holds ``address`` (dotted text, as packets give it)."""
        value = (
            int(address) if isinstance(address, ipaddress.IPv4Address) else int.from_bytes(socket.inet_aton(address))
        )
        return any((value & mask) in starts for mask, starts in self._masks)

    def __iter__(self) -> Iterator[ipaddress.IPv4Network]:
        return iter(self.networks)

    def __len__(self) -> int:
        return len(self.networks)


class ListsNames:
    """For a censor with LIST_FIELDS: its list, built once (a decision must not rebuild,
    or even hash, 1,000 names per packet)."""

    params: dict[str, Any]

    @functools.cached_property
    def listed(self) -> DomainList:
        return DomainList.of(self.params.get("domains", ()), self.params.get("subdomains", True))
