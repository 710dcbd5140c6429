r"""What a route collector sees: which of the country's prefixes are still announced.

RIPE RIS and Cloudflare Radar watch BGP from collectors peering with many networks. In
January 2022 Kazakhstan's networks stayed visible in BGP while traffic fell to ~2%: the
shutdown blocked the data plane, it did not withdraw routes (kazakhstan.md section 4).
The lab's collector is a BIRD 2 speaker; this module reads its routing table (``birdc
show route [all]``) and counts the country's prefixes it holds, exactly as announced.

BIRD 2.0.12 prints, after a ``BIRD 2.0.12 ready.`` banner, one ``Table master4:`` block per
table; a route line starts with the prefix padded to 20 columns, a further route for the
same prefix starts with blanks instead, and attributes follow on tab-indented lines::

    10.1.0.0/16          unicast [kt 06:13:35.366] * (100) [AS9198i]
    \tvia 10.8.0.1 on v1
    \tType: BGP univ
    \tBGP.as_path: 9198
                         unreachable [b 06:13:20.090 from 10.9.0.2] (100) [AS9198i]
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from pathlib import Path
from typing import Any, Protocol

from tools.observe.timeline import tally

BANNER = re.compile(r"BIRD \S+ ready\.")
TABLE = re.compile(r"Table \S+:")
# prefix (absent on a further route), destination, [protocol time [from peer]], best-route
# mark, (preference[/IGP metric]), and for BGP [AS<origin><origin code>] or [<origin code>].
ROUTE = re.compile(r"(?P<prefix>\S+)?\s+\w*\s\[\S+ [^\]]*\](?: [*!])? \([^)]*\)(?: \[(?:AS(?P<origin>\d+))?[ie?]\])?")
AS_PATH = "BGP.as_path:"


class Host(Protocol):
    """A Mininet host: ``cmd`` runs a shell command in its namespaces and returns the output."""

    def cmd(self, command: str) -> str: ...


def parse_bird_routes(text: str) -> dict[str, list[str]]:
    """Routes by prefix, each as its AS path (``"29355 9198"``; ``""`` for a route without one).

    With ``show route all`` the path is the ``BGP.as_path`` attribute; plain ``show route``
    prints only the origin AS (``[AS9198i]``), so that is all the path holds. Raises
    ValueError on a line it does not recognise, such as birdc's connection error."""
    routes: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.replace("\r", "").splitlines():
        if not line or BANNER.fullmatch(line):
            continue
        if TABLE.fullmatch(line):
            current = None
        elif line.startswith("\t"):
            if line.startswith("\t" + AS_PATH):
                if current is None:
                    raise ValueError(f"BIRD output: AS path before any route: {line!r}")
                current[-1] = line.removeprefix("\t" + AS_PATH).strip()
        elif m := ROUTE.fullmatch(line):
            if m["prefix"] is not None:
                current = routes.setdefault(m["prefix"], [])
            elif current is None:
                raise ValueError(f"BIRD output: further route before any prefix: {line!r}")
            current.append(m["origin"] or "")
        else:
            raise ValueError(f"BIRD output: unrecognised line {line!r}")
    return routes


def visibility(routes: dict[str, list[str]], prefixes: dict[str, str]) -> dict[str, Any]:
    """How many of the country's prefixes (prefix -> group) the collector has a route for.

    Returns ``{"prefixes", "visible", "share", "groups": {group: {...}}, "missing": [...]}``.
    Only the exact prefix counts, as RIPEstat counts visibility: a covering route is not it."""
    seen = {_network(p) for p in routes}
    wanted = {_network(p): group for p, group in prefixes.items()}
    result = tally(((group, p in seen) for p, group in wanted.items()), "prefixes", "visible")
    missing = [p for p in wanted if p not in seen]
    return result | {"missing": [str(p) for p in sorted(missing, key=lambda n: (n.version, n))]}


def collector_routes(host: Host, socket_path: str | Path) -> dict[str, list[str]]:
    """The routes of the BIRD running in ``host`` with its control socket at ``socket_path``."""
    text = host.cmd(f"birdc -s {shlex.quote(str(socket_path))} show route all")
    if not BANNER.match(text.lstrip()):
        raise RuntimeError(f"birdc on {socket_path}: {text.strip() or 'no output'}")
    return parse_bird_routes(text)


def _network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(prefix)
    except ValueError:
        raise ValueError(f"not a prefix: {prefix!r}") from None
