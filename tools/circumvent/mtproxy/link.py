"""The ``tg://proxy`` link an MTProto proxy's owner hands out, and where the lab keeps its own.

The lab's proxy makes its secret when the lab starts and writes its link into the run's
private directory (never into the repository); the method reads it from there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tools.dpi.faketls import Secret


@dataclass(frozen=True)
class ProxyLink:
    server: str
    port: int
    secret: Secret

    def __str__(self) -> str:
        return f"tg://proxy?server={self.server}&port={self.port}&secret={self.secret.hex}"

    @classmethod
    def parse(cls, text: str) -> ProxyLink:
        """From ``tg://proxy?server=ADDRESS&port=PORT&secret=ee...`` (ValueError if it is
        not one: the server must be an IPv4 address, the secret a hex fake-TLS one)."""
        parts = urlsplit(text.strip())
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.scheme != "tg" or parts.netloc != "proxy" or set(query) != {"server", "port", "secret"}:
            raise ValueError("not a tg://proxy?server=...&port=...&secret=... link")
        port = int(query["port"]) if query["port"].isdigit() else 0
        if not 0 < port < 65536:
            raise ValueError(f"port {query['port']!r} is not a port")
        return cls(str(ipaddress.IPv4Address(query["server"])), port, Secret.parse(query["secret"]))


def link_file(rundir: Path) -> Path:
    """Where the lab's proxy keeps its link in the run's private directory."""
    return rundir / "mtproxy" / "proxy.link"
