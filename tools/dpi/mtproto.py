"""Reading the first packet of Telegram's obfuscated2 transport, as a DPI box can.

A Telegram client talking to a data centre directly opens with a 64-byte init drawn at
random (tools/dpi/mtproto_codec.py), so there is no fixed byte to match. What a DPI box can
still check, from the first data segment of a flow alone:

Without any key, the properties every init has by design:

- at least 64 bytes, and neither a TLS ClientHello (tls.parse_client_hello) nor an HTTP
  request line;
- the 64 bytes look random: Shannon entropy of their byte histogram at least 5.0 bits
  per byte (64 random bytes: 5.2 to 6.0, median 5.77; HTTP or SSH text: under 5) and a
  mean of 3 to 5 bits set per byte.

With the key the init itself carries (a direct connection to a data centre): bytes 8..40
are an AES-256-CTR key and 40..56 its counter, in the clear, so the DPI can do what the
server does, decrypt the init, and read the protocol tag at 56..60: ``ef ef ef ef``,
``ee ee ee ee`` or ``dd dd dd dd`` (abridged, intermediate, padded intermediate). A
random 64-byte string passes this by chance about 3 times in 2^32; as the DPI reads the
tag only of an init a client could have drawn (mtproto_codec.never_drawn: not starting
with 0xef or a reserved start, bytes 4..8 not zero), a tag match is proof.

Through an MTProxy the key is SHA-256 of those bytes and the proxy's secret, so without
the secret the tag cannot be read and only the key-free properties are left: any first
packet that looks random and is neither TLS nor HTTP has them (other fully encrypted
protocols such as Shadowsocks or obfs4, or an encrypted file upload starting a flow),
and such a guess is made on randomness alone: a start no client draws does not clear a
random-looking segment (1 in 256 random openings starts with 0xef, which would otherwise
let one obfs4 handshake in 256 through; and 0xef, ``ee ee ee ee`` and ``dd dd dd dd``
also open Telegram's unobfuscated transports). A fake-TLS MTProxy (``ee`` secrets) sends
a real-looking ClientHello and never gets this far; a client that sends its init in
pieces shorter than 64 bytes is not recognised.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from tools.dpi.mtproto_codec import INIT_SIZE, MODES, TAG_SLICE, ciphers, never_drawn
from tools.dpi.tls import parse_client_hello

MIN_ENTROPY = 5.0  # bits per byte over the 64 bytes of the init
POPCOUNT = (3.0, 5.0)  # mean bits set per byte
HTTP_METHODS = (b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE", b"PRI")
REQUEST_LINE = re.compile(rb"^[A-Z]{3,16} \S+ HTTP/\d\.\d\r?$")


@dataclass(frozen=True)
class Obfuscated2:
    """What a DPI concludes about a flow's first data segment.

    ``matched``: it has the properties of an obfuscated2 init; ``tag``: the framing its
    decrypted protocol tag names, when the init decrypts with its own key (a direct
    connection: certain), None when only the key-free checks matched (a guess);
    ``reason``: why, in a few words."""

    matched: bool
    reason: str
    tag: str | None = None


def entropy(data: bytes) -> float:
    """Shannon entropy of the byte histogram of ``data``, in bits per byte."""
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values()) if n else 0.0


def mean_popcount(data: bytes) -> float:
    """Mean number of bits set per byte."""
    return sum(b.bit_count() for b in data) / len(data) if data else 0.0


def is_http_request(data: bytes) -> bool:
    """Whether ``data`` starts an HTTP/1.x request (or the HTTP/2 preface)."""
    method = data.split(b" ", 1)[0]
    if method in HTTP_METHODS and data[len(method) : len(method) + 1] == b" ":
        return True
    return bool(REQUEST_LINE.match(data.split(b"\n", 1)[0]))


def decrypted_tag(init: bytes) -> str | None:
    """The framing named by the init's protocol tag, decrypted with the init's own key."""
    tag = ciphers(init[:INIT_SIZE])[0].update(init[:INIT_SIZE])[TAG_SLICE]
    return next((mode for mode, known in MODES.items() if tag == known), None)


def inspect(payload: bytes) -> Obfuscated2:
    """Read a flow's first data segment (see the module docstring)."""
    payload = bytes(payload)
    if len(payload) < INIT_SIZE:
        return Obfuscated2(False, f"{len(payload)} bytes, shorter than an init")
    if parse_client_hello(payload).is_tls:
        return Obfuscated2(False, "TLS")
    if is_http_request(payload):
        return Obfuscated2(False, "HTTP")
    init = payload[:INIT_SIZE]
    unlike_a_client = never_drawn(init)
    tag = None if unlike_a_client else decrypted_tag(init)
    if tag is not None:
        return Obfuscated2(True, f"obfuscated2 init, tag {tag} (direct connection)", tag)
    h, bits = entropy(init), mean_popcount(init)
    if h < MIN_ENTROPY or not POPCOUNT[0] <= bits <= POPCOUNT[1]:
        return Obfuscated2(False, f"not random-looking (entropy {h:.2f}, {bits:.2f} bits/byte)")
    why = unlike_a_client or "a proxy's secret, or not MTProto"
    return Obfuscated2(True, f"random-looking, no tag read: {why}")
