"""Which names a censor's list covers, exactly as configured.

A list entry covers its own name and, when ``subdomains`` is on, every name below it
(facebook.com covers www.facebook.com and m.facebook.com, not notfacebook.com). The 2019
interception device used exact names only (kazakhstan.md 1.3); blocklists such as the
resolver's usually cover subdomains too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DomainList:
    names: frozenset[str]
    subdomains: bool = True

    @classmethod
    def of(cls, names: object, subdomains: bool = True) -> DomainList:
        if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):  # type: ignore[union-attr]
            raise ValueError("domains must be a list of names")
        return cls(frozenset(n.lower().rstrip(".") for n in names), subdomains)  # type: ignore[union-attr]

    def covers(self, name: str | None) -> bool:
        if not name:
            return False
        name = name.lower().rstrip(".")
        if name in self.names:
            return True
        if self.subdomains:
            parts = name.split(".")
            return any(".".join(parts[i:]) in self.names for i in range(1, len(parts)))
        return False
