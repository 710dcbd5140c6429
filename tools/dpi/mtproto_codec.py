"""MTProto's wire format over the obfuscated2 transport: the codec the lab shares.

A Telegram client talking to a data centre directly opens with 64 random bytes, the
obfuscated2 init. Bytes 8..56 seed two AES-256-CTR streams (one per direction) and the
protocol tag at 56..60, readable only after decryption, names the framing of every
later message: abridged, intermediate or padded intermediate. The first message is the
unencrypted ``req_pq_multi`` of the auth-key exchange, answered by ``resPQ``.

The probe (tools/probes/mtproto.py), the lab's DC server (tools/services/telegram_dc.py),
the DPI that recognises the init (tools/dpi/mtproto.py) and the packet fuzzer all use
this one codec, so they cannot drift apart.
"""

from __future__ import annotations

import secrets
import struct
import time
from dataclasses import dataclass
from os import urandom

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

INIT_SIZE = 64
TAG_SLICE = slice(56, 60)
MODES = {"abridged": b"\xef" * 4, "intermediate": b"\xee" * 4, "padded": b"\xdd" * 4}
MAX_FRAME = 1 << 20
ABRIDGED_LONG = 0x7F

REQ_PQ = 0x60469778
REQ_PQ_MULTI = 0xBE7E8EF1
RES_PQ = 0x05162463
VECTOR = 0x1CB5C415

# First four bytes a client never sends: they would read as another protocol
# (HTTP, TLS) or as an unobfuscated intermediate/padded transport.
RESERVED_STARTS = {
    b"HEAD",
    b"POST",
    b"GET ",
    b"OPTI",
    b"\xee\xee\xee\xee",
    b"\xdd\xdd\xdd\xdd",
    b"\x16\x03\x01\x02",
}
_UNENCRYPTED_HEADER = struct.Struct("<8sqi")  # auth_key_id (zero), message_id, length


class ProtocolError(ValueError):
    """The peer's bytes break the protocol: wrong tag, bad frame, unexpected message."""


# --- obfuscated2 -------------------------------------------------------------------------


def never_drawn(init: bytes | bytearray) -> str | None:
    """Why no client sends ``init``, or None if one may: tdlib and Telegram Desktop redraw
    an init that starts with 0xef (the unobfuscated abridged marker), with a reserved start,
    or whose bytes 4..8 are zero."""
    if init[0] == 0xEF:
        return "starts with 0xef (unobfuscated abridged)"
    if bytes(init[:4]) in RESERVED_STARTS:
        return f"reserved start {bytes(init[:4]).hex()}"
    if not any(init[4:8]):
        return "bytes 4..8 are zero"
    return None


def random_init(tag: bytes) -> bytes:
    """A client's 64-byte init (plaintext) carrying ``tag``, drawn as real clients draw it."""
    while True:
        init = bytearray(urandom(INIT_SIZE))
        if never_drawn(init) is None:
            init[TAG_SLICE] = tag
            return bytes(init)


def ciphers(init: bytes) -> tuple[CipherContext, CipherContext]:
    """(client-to-server, server-to-client) AES-256-CTR streams keyed by an init.

    Only bytes 8..56 matter, and they travel in the clear, so the server can call this on
    the init as received. CTR is symmetric: each stream both encrypts and decrypts.
    """
    reverse = init[8:56][::-1]
    return _ctr(init[8:40], init[40:56]), _ctr(reverse[:32], reverse[32:48])


def _ctr(key: bytes, iv: bytes) -> CipherContext:
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()


def mode_of(decrypted_init: bytes) -> str:
    """The framing mode a decrypted init's protocol tag names."""
    tag = decrypted_init[TAG_SLICE]
    for mode, known in MODES.items():
        if tag == known:
            return mode
    raise ProtocolError(f"unknown protocol tag {tag.hex()}")


# --- framing -----------------------------------------------------------------------------


def encode_frame(mode: str, payload: bytes) -> bytes:
    """``payload`` framed for ``mode``; padded intermediate adds 0-15 random bytes."""
    if mode == "abridged":
        words, rest = divmod(len(payload), 4)
        if rest:
            raise ValueError("abridged payloads are whole 4-byte words")
        if words < ABRIDGED_LONG:
            return bytes([words]) + payload
        return bytes([ABRIDGED_LONG]) + words.to_bytes(3, "little") + payload
    if mode == "padded":
        payload += urandom(secrets.randbelow(16))
    return len(payload).to_bytes(4, "little") + payload


def _frame_header(mode: str, buffer: bytes) -> tuple[int, int] | None:
    """(header size, payload size) of the frame ``buffer`` starts with; None if cut short."""
    if mode == "abridged":
        if not buffer:
            return None
        if buffer[0] > ABRIDGED_LONG:
            raise ProtocolError("abridged quick-ack flag before any auth key")
        if buffer[0] < ABRIDGED_LONG:
            return 1, buffer[0] * 4
        return (4, int.from_bytes(buffer[1:4], "little") * 4) if len(buffer) >= 4 else None
    return (4, int.from_bytes(buffer[:4], "little")) if len(buffer) >= 4 else None


class Deframer:
    """Splits one direction's decrypted byte stream into frame payloads (no I/O of its own).

    Padded intermediate payloads keep their padding; the message inside says its length.
    """

    def __init__(self, mode: str, limit: int = MAX_FRAME) -> None:
        self.mode = mode
        self.limit = limit
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every frame now complete. Raises ProtocolError on a bad one."""
        self._buffer += data
        frames = []
        while (header := _frame_header(self.mode, self._buffer)) is not None:
            size, length = header
            if not 0 < length <= self.limit:
                raise ProtocolError(f"frame length {length} outside 1..{self.limit}")
            if len(self._buffer) < size + length:
                break
            frames.append(self._buffer[size : size + length])
            self._buffer = self._buffer[size + length :]
        return frames


# --- TL messages -------------------------------------------------------------------------


def message_id(server: bool) -> int:
    """Unix time in 32.32 fixed point; low two bits 00 from a client, 01 from a server."""
    return (time.time_ns() << 32) // 1_000_000_000 & ~3 | int(server)


def unencrypted(body: bytes, msg_id: int) -> bytes:
    """A message sent before any auth key exists: zero key id, message id, length, body."""
    return _UNENCRYPTED_HEADER.pack(bytes(8), msg_id, len(body)) + body


def parse_unencrypted(message: bytes) -> tuple[int, bytes]:
    """(message_id, body) of an unencrypted message; trailing transport padding is ignored."""
    if len(message) < _UNENCRYPTED_HEADER.size:
        raise ProtocolError(f"message of {len(message)} bytes is shorter than its header")
    key_id, msg_id, length = _UNENCRYPTED_HEADER.unpack_from(message)
    if any(key_id):
        raise ProtocolError("auth_key_id is not zero")
    body = message[_UNENCRYPTED_HEADER.size :]
    if not 0 <= length <= len(body):
        raise ProtocolError(f"message_length {length} with {len(body)} bytes of body")
    return msg_id, body[:length]


def req_pq_multi(nonce: bytes) -> bytes:
    return struct.pack("<I", REQ_PQ_MULTI) + nonce


def parse_req_pq(body: bytes) -> bytes:
    """The nonce of a ``req_pq_multi`` (or the older ``req_pq``) body."""
    if len(body) != 20 or struct.unpack_from("<I", body)[0] not in (REQ_PQ_MULTI, REQ_PQ):
        raise ProtocolError(f"not a req_pq: {body[:4][::-1].hex() or 'empty'}")
    return body[4:]


@dataclass(frozen=True)
class ResPQ:
    nonce: bytes
    server_nonce: bytes
    pq: int
    fingerprints: tuple[int, ...]


def res_pq(answer: ResPQ) -> bytes:
    """TL serialisation of ``resPQ``; pq goes as a short TL string of 8 big-endian bytes."""
    count = len(answer.fingerprints)
    return b"".join(
        (
            struct.pack("<I", RES_PQ),
            answer.nonce,
            answer.server_nonce,
            _tl_string(answer.pq.to_bytes(8, "big")),
            struct.pack(f"<Ii{count}Q", VECTOR, count, *answer.fingerprints),
        )
    )


def parse_res_pq(body: bytes, nonce: bytes) -> ResPQ:
    """A ``resPQ`` body, checked to answer ``nonce`` and to offer at least one key."""
    if len(body) < 36 or struct.unpack_from("<I", body)[0] != RES_PQ:
        raise ProtocolError("not a resPQ")
    if body[4:20] != nonce:
        raise ProtocolError("resPQ nonce does not match the request's")
    pq, offset = _parse_tl_string(body, 36)
    if len(body) < offset + 8 or struct.unpack_from("<I", body, offset)[0] != VECTOR:
        raise ProtocolError("resPQ without a fingerprint vector")
    count = struct.unpack_from("<i", body, offset + 4)[0]
    if not 0 < count <= (len(body) - offset - 8) // 8:
        raise ProtocolError(f"resPQ fingerprint count {count} does not fit the body")
    fingerprints = struct.unpack_from(f"<{count}Q", body, offset + 8)
    return ResPQ(nonce, body[20:36], int.from_bytes(pq, "big"), fingerprints)


def _tl_string(data: bytes) -> bytes:
    """TL ``string`` in its short form (under 254 bytes), padded to 4-byte alignment."""
    if len(data) >= 254:
        raise ValueError("only short TL strings are needed here")
    encoded = bytes([len(data)]) + data
    return encoded + bytes(-len(encoded) % 4)


def _parse_tl_string(body: bytes, offset: int) -> tuple[bytes, int]:
    """(data, offset after padding) of a short TL string at ``offset``."""
    if offset >= len(body) or body[offset] >= 254:
        raise ProtocolError("expected a short TL string")
    end = offset + 1 + body[offset]
    if end > len(body):
        raise ProtocolError("TL string runs past the body")
    return body[offset + 1 : end], end + (-(end - offset) % 4)
