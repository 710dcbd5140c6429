"""Real bytes for the unit tests: what Python's OpenSSL client sends first."""

from __future__ import annotations

import ssl


def client_hello(sni: str | None) -> bytes:
    """The ClientHello a default TLS client sends for ``sni``, captured through memory BIOs."""
    obj = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return out.read()
    raise AssertionError("the handshake cannot complete without a server")
