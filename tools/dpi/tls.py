"""Reading a TLS ClientHello the way a DPI box does: from the bytes of the first segments.

``parse_client_hello`` never raises on bad input: it says whether the bytes are a
ClientHello at all, whether more bytes are needed (a ClientHello can span segments:
post-quantum key shares make Chromium's about 1.8 kB), and the SNI when there is one.
Used by the interception device (kazakhstan.md 1.2: the SNI is the trigger) and by the
SNI-based censors.
"""

from __future__ import annotations

import functools
import ssl
import struct
from dataclasses import dataclass

HANDSHAKE = 0x16
CLIENT_HELLO = 0x01
EXT_SERVER_NAME = 0x0000
MAX_HELLO = 1 << 16  # a ClientHello record longer than this is not one a DPI waits for


@dataclass(frozen=True)
class ClientHello:
    """What a DPI learns from the first bytes of a flow."""

    complete: bool  # all of the first record is here
    is_tls: bool  # it is (the start of) a TLS handshake record with a ClientHello
    sni: str | None = None
    record_version: int | None = None
    hello_version: int | None = None
    cipher_suites: tuple[int, ...] = ()
    needed: int = 0  # bytes of the first record still missing

    @property
    def decided(self) -> bool:
        """Whether a DPI can act now (enough bytes, or not TLS at all)."""
        return self.complete or not self.is_tls


NOT_TLS = ClientHello(complete=True, is_tls=False)


def client_hello(sni: str | None) -> bytes:
    """The first record a default OpenSSL client (Python's) sends for ``sni``: real bytes
    for tests, benchmarks and fuzzers to feed a DPI, made without any network."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return out.read()
    raise AssertionError("a handshake cannot complete without a server")


@functools.lru_cache(maxsize=16)
def parse_client_hello(data: bytes) -> ClientHello:
    """Parse the first bytes of a client's stream (see the module docstring). Cached: the
    censors that read one packet in turn (tools/censors/engine.py) parse it once."""
    if len(data) < 5:
        return ClientHello(complete=False, is_tls=True, needed=5 - len(data)) if _prefix_ok(data) else NOT_TLS
    content, record_version, length = struct.unpack("!BHH", data[:5])
    if content != HANDSHAKE or record_version >> 8 != 3 or not 4 <= length <= MAX_HELLO:
        return NOT_TLS
    if len(data) >= 6 and data[5] != CLIENT_HELLO:
        return NOT_TLS
    if len(data) < 5 + length:
        return ClientHello(complete=False, is_tls=True, record_version=record_version, needed=5 + length - len(data))
    try:
        return _parse_body(data[5 : 5 + length], record_version)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError):
        return NOT_TLS


def _prefix_ok(data: bytes) -> bool:
    return (not data or data[0] == HANDSHAKE) and (len(data) < 2 or data[1] == 3)


def _parse_body(body: bytes, record_version: int) -> ClientHello:
    hs_type = body[0]
    hs_len = int.from_bytes(body[1:4], "big")
    if hs_type != CLIENT_HELLO or hs_len + 4 > len(body):
        raise ValueError("not a whole ClientHello in the first record")
    pos = 4
    (hello_version,) = struct.unpack_from("!H", body, pos)
    pos += 2 + 32  # version, random
    pos += 1 + body[pos]  # session id
    (cs_len,) = struct.unpack_from("!H", body, pos)
    suites = struct.unpack_from(f"!{cs_len // 2}H", body, pos + 2)
    pos += 2 + cs_len
    pos += 1 + body[pos]  # compression methods
    sni = None
    if pos + 2 <= 4 + hs_len:
        (ext_total,) = struct.unpack_from("!H", body, pos)
        pos += 2
        end = min(pos + ext_total, 4 + hs_len)
        while pos + 4 <= end:
            ext_type, ext_len = struct.unpack_from("!HH", body, pos)
            pos += 4
            if ext_type == EXT_SERVER_NAME:
                sni = _server_name(body[pos : pos + ext_len])
            pos += ext_len
    return ClientHello(True, True, sni, record_version, hello_version, tuple(suites))


def _server_name(ext: bytes) -> str | None:
    (list_len,) = struct.unpack_from("!H", ext, 0)
    pos = 2
    while pos + 3 <= min(2 + list_len, len(ext)):
        name_type, name_len = struct.unpack_from("!BH", ext, pos)
        pos += 3
        if name_type == 0:
            return ext[pos : pos + name_len].decode("ascii").lower()
        pos += name_len
    return None
