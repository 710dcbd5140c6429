"""MTProxy's obfuscated2: the 64-byte init keyed with the proxy's secret, and the DC it names.

A client of an MTProto proxy opens the obfuscated2 stream (tools/dpi/mtproto_codec.py)
as it would to a data centre, with two differences: each AES-256-CTR key is
SHA-256(the init's 32 key bytes + the secret's 16-byte key), so only a holder of the
secret reads the protocol tag; and bytes 60..62 of the decrypted init name the data
centre the proxy must connect on to (little-endian, signed: negative for a media DC).
With a fake-TLS (``ee``) secret the tag must be padded intermediate (``dd dd dd dd``).
The proxy then opens its own, ordinary obfuscated2 connection to that data centre and
relays the two streams, decrypting and encrypting again.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from tools.dpi.mtproto_codec import INIT_SIZE, random_init

DC_SLICE = slice(60, 62)
PLAIN = slice(0, 56)  # the init's bytes that travel unencrypted


def client_init(tag: bytes, dc: int) -> bytes:
    """A client's plaintext init carrying protocol ``tag`` and the data centre ``dc``."""
    init = bytearray(random_init(tag))
    init[DC_SLICE] = dc.to_bytes(2, "little", signed=True)
    return bytes(init)


def ciphers(init: bytes, key: bytes) -> tuple[CipherContext, CipherContext]:
    """(client-to-server, server-to-client) AES-256-CTR streams of a proxy connection;
    like the direct ones, each both encrypts and decrypts."""
    reverse = init[8:56][::-1]
    return _ctr(init[8:40] + key, init[40:56]), _ctr(reverse[:32] + key, reverse[32:48])


def _ctr(prekey: bytes, iv: bytes) -> CipherContext:
    return Cipher(algorithms.AES(hashlib.sha256(prekey).digest()), modes.CTR(iv)).encryptor()


def sent_init(init: bytes, outbound: CipherContext) -> bytes:
    """What goes on the wire for a plaintext ``init``: its first 56 bytes as they are, the
    last 8 (tag and DC) encrypted; consumes the init's 64 bytes of ``outbound``."""
    return init[PLAIN] + outbound.update(init)[PLAIN.stop : INIT_SIZE]


def dc_of(decrypted_init: bytes) -> int:
    """The data centre a decrypted init names."""
    return int.from_bytes(decrypted_init[DC_SLICE], "little", signed=True)
