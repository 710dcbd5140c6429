"""Telegram's fake TLS: how an MTProto proxy with an ``ee`` secret dresses MTProto as TLS 1.3.

The codec the lab's proxy (tools/circumvent/mtproxy), its client in the telegram probe
(tools/probes/mtproxy.py) and the detector (BlockTrafficForMTProtoProxy) share; no I/O.
The protocol is Telegram's MTProxy as its clients and proxies speak it since 2019:

- The secret is ``ee``, 16 key bytes, then the bytes of an allowed domain, in hex; a
  proxy's owner hands it out in a ``tg://proxy?server=...&port=...&secret=...`` link.
- The client opens with one TLS record holding a ClientHello for that domain, shaped as
  the Telegram client's of 2020-2022 (Chrome 83's cipher suites and extensions, GREASE,
  a fresh x25519 key share, a 32-byte session id, padded so the record is always 517
  bytes). Its 32-byte client random is HMAC-SHA256(key, the record with a zero random),
  the last 4 bytes XORed with the Unix time (little-endian): only a holder of the secret
  can make one, and the time bounds a replay.
- The proxy answers with a ServerHello (TLS 1.3: TLS_AES_128_GCM_SHA256, an x25519 key
  share, supported_versions 0x0304, the client's session id echoed), a ChangeCipherSpec
  and one application-data record of random bytes standing for the encrypted
  certificate. Its server random is HMAC-SHA256(key, client random + the answer with a
  zero server random), so the client knows it reached the proxy, not the domain.
- Then the client sends a ChangeCipherSpec and both sides carry MTProxy's obfuscated2
  stream (tools/dpi/mtproxy_codec.py) in application-data records of at most 16 KiB.
  No TLS key is ever agreed: the records are a costume over an already encrypted stream.

What a real TLS 1.3 client does instead after the server's first flight is send its
Finished, one encrypted record of 53 bytes (69 with a SHA-384 suite), before any data;
``after_change_cipher_spec`` reads that point of a client's segment for a DPI.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tools.dpi.tls import parse_client_hello

TLS_PREFIX = 0xEE  # the secret's first byte: fake TLS
KEY_SIZE = 16
HANDSHAKE, CHANGE_CIPHER_SPEC, APPLICATION_DATA, ALERT = 0x16, 0x14, 0x17, 0x15
TLS12 = b"\x03\x03"
HELLO_RECORD = 517  # bytes of the client's first record, always (padding extension)
RANDOM = slice(11, 43)  # the random of a ClientHello or ServerHello record
SESSION_ID_SIZE = 32
MAX_PAYLOAD = 1 << 14  # plaintext bytes of one record (RFC 8446 5.1)
MAX_RECORD = MAX_PAYLOAD + 256  # what a reader accepts (RFC 8446 5.2: ciphertext)
TIME_SKEW = (-20 * 60, 10 * 60)  # server time minus client time accepted, in seconds
FILLER = (1024, 4096)  # bytes of the fake encrypted certificate, drawn at random
FINISHED_RECORDS = (53, 69)  # a TLS 1.3 client Finished: SHA-256 and SHA-384 suites
CHANGE_CIPHER = bytes([CHANGE_CIPHER_SPEC]) + TLS12 + b"\x00\x01\x01"

# The Telegram client's ClientHello, 2020-2022 (tdlib TlsInit; Chrome 83's), in order.
CIPHER_SUITES = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014)
CIPHER_SUITES_CBC = (0x009C, 0x009D, 0x002F, 0x0035)
GROUPS = (0x001D, 0x0017, 0x0018)  # x25519, secp256r1, secp384r1
SIGNATURE_ALGORITHMS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)
VERSIONS = (0x0304, 0x0303, 0x0302, 0x0301)
X25519 = 0x001D


class FakeTlsError(ValueError):
    """Bytes that are not the fake-TLS protocol: a bad record, a hello cut short."""


class DigestMismatch(FakeTlsError):
    """A hello whose random is not the HMAC the secret makes: not a client (or proxy) of this
    secret, or a replay outside the time window."""


@dataclass(frozen=True)
class Secret:
    """A fake-TLS secret: the 16-byte key and the domain the ClientHello names."""

    key: bytes
    domain: str

    def __post_init__(self) -> None:
        if len(self.key) != KEY_SIZE:
            raise ValueError(f"a secret's key is {KEY_SIZE} bytes, not {len(self.key)}")
        if not self.domain.isascii() or not 0 < len(self.domain) <= MAX_DOMAIN:
            raise ValueError(f"domain {self.domain!r} is not an ASCII name of 1 to {MAX_DOMAIN} characters")

    @classmethod
    def new(cls, domain: str) -> Secret:
        return cls(secrets.token_bytes(KEY_SIZE), domain)

    @classmethod
    def parse(cls, text: str) -> Secret:
        """From its hex form, ``ee`` + key + domain (ValueError if it is not one)."""
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise ValueError("a fake-TLS secret is hexadecimal") from None
        if len(raw) <= 1 + KEY_SIZE or raw[0] != TLS_PREFIX:
            raise ValueError("a fake-TLS secret is ee, 16 key bytes and a domain")
        return cls(raw[1 : 1 + KEY_SIZE], raw[1 + KEY_SIZE :].decode("ascii", errors="replace"))

    @property
    def hex(self) -> str:
        return (bytes([TLS_PREFIX]) + self.key + self.domain.encode("ascii")).hex()


@dataclass(frozen=True)
class ProxyLink:
    """The ``tg://proxy`` link a proxy's owner hands out: its address, port and secret."""

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


# --- records -----------------------------------------------------------------------------


def record(kind: int, payload: bytes, version: bytes = TLS12) -> bytes:
    return bytes([kind]) + version + len(payload).to_bytes(2, "big") + payload


def application_data(data: bytes) -> bytes:
    """``data`` in application-data records of at most MAX_PAYLOAD bytes each."""
    return b"".join(record(APPLICATION_DATA, data[i : i + MAX_PAYLOAD]) for i in range(0, len(data), MAX_PAYLOAD))


@dataclass(frozen=True)
class Record:
    kind: int
    payload: bytes

    @property
    def raw(self) -> bytes:
        return record(self.kind, self.payload)


class Records:
    """Splits one direction's stream into TLS 1.2-versioned records (no I/O of its own)."""

    def __init__(self) -> None:
        self._buffer = b""

    @property
    def partial(self) -> int:
        """Bytes held of a record not yet whole."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Record]:
        """Add ``data``; every record now whole. FakeTlsError on a header that is not one."""
        self._buffer += data
        out = []
        while len(self._buffer) >= 5:
            kind, version, length = self._buffer[0], self._buffer[1:3], int.from_bytes(self._buffer[3:5], "big")
            if kind not in (HANDSHAKE, CHANGE_CIPHER_SPEC, APPLICATION_DATA, ALERT) or version != TLS12:
                raise FakeTlsError(f"not a TLS 1.2-versioned record: {self._buffer[:5].hex()}")
            if length > MAX_RECORD:
                raise FakeTlsError(f"record of {length} bytes, more than {MAX_RECORD}")
            if len(self._buffer) < 5 + length:
                break
            out.append(Record(kind, self._buffer[5 : 5 + length]))
            self._buffer = self._buffer[5 + length :]
        return out


# --- the client's opening ----------------------------------------------------------------


def _u16s(values: Iterable[int]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def _vector(data: bytes, size: int = 2) -> bytes:
    return len(data).to_bytes(size, "big") + data


def _extension(kind: int, body: bytes) -> bytes:
    return kind.to_bytes(2, "big") + _vector(body)


def _grease() -> list[int]:
    """Seven distinct GREASE values (RFC 8701: 0x0a0a, 0x1a1a, ... 0xfafa), drawn at random."""
    values = [0x0A0A + 0x1010 * n for n in range(16)]
    secrets.SystemRandom().shuffle(values)
    return values[:7]


def x25519_key() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes_raw()


def _hello_body(domain: str, session_id: bytes, grease: list[int] | None = None) -> bytes:
    """The ClientHello message before its padding extension, with a zero random."""
    g = grease or [0x0A0A] * 7
    name = domain.encode("ascii")
    extensions = b"".join(
        (
            _extension(g[2], b""),
            _extension(0x0000, _vector(b"\x00" + _vector(name))),  # server_name
            _extension(0x0017, b""),  # extended_master_secret
            _extension(0xFF01, b"\x00"),  # renegotiation_info
            _extension(0x000A, _vector(_u16s((g[4], *GROUPS)))),  # supported_groups
            _extension(0x000B, b"\x01\x00"),  # ec_point_formats: uncompressed
            _extension(0x0023, b""),  # session_ticket
            _extension(0x0010, _vector(_vector(b"h2", 1) + _vector(b"http/1.1", 1))),  # alpn
            _extension(0x0005, b"\x01\x00\x00\x00\x00"),  # status_request: ocsp
            _extension(0x000D, _vector(_u16s(SIGNATURE_ALGORITHMS))),
            _extension(0x0012, b""),  # signed_certificate_timestamp
            _extension(0x0033, _vector(_u16s((g[4],)) + _vector(b"\x00") + _u16s((X25519,)) + _vector(x25519_key()))),
            _extension(0x002D, b"\x01\x01"),  # psk_key_exchange_modes: psk_dhe_ke
            _extension(0x002B, _vector(_u16s((g[6], *VERSIONS)), 1)),  # supported_versions
            _extension(0x001B, b"\x02\x00\x02"),  # compress_certificate: brotli
            _extension(g[3], b"\x00"),
        )
    )
    suites = _u16s((g[0], *CIPHER_SUITES, *CIPHER_SUITES_CBC))
    return TLS12 + bytes(32) + _vector(session_id, 1) + _vector(suites) + b"\x01\x00" + _vector(extensions)


def _hello_record(body: bytes) -> bytes:
    """The record of a ClientHello message ``body``, padded (extension 21) to HELLO_RECORD bytes."""
    padded = _add_padding(body, HELLO_RECORD - 5 - 4 - len(body) - 4)
    return record(HANDSHAKE, b"\x01" + len(padded).to_bytes(3, "big") + padded, b"\x03\x01")


def _add_padding(body: bytes, size: int) -> bytes:
    """``body`` with a padding extension of ``size`` zero bytes appended to its extensions."""
    extensions_at = _extensions_offset(body)
    extensions = body[extensions_at + 2 :] + _extension(0x0015, bytes(size))
    return body[:extensions_at] + _vector(extensions)


def _extensions_offset(body: bytes) -> int:
    """Where a ClientHello message body's extensions vector (its length) starts."""
    pos = 2 + 32
    pos += 1 + body[pos]
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")
    return pos + 1 + body[pos]


# The longest domain whose hello still fits HELLO_RECORD with an empty padding extension.
MAX_DOMAIN = HELLO_RECORD - 5 - 4 - 4 - len(_hello_body("", bytes(SESSION_ID_SIZE)))


def client_hello(secret: Secret, now: float) -> bytes:
    """The client's first record for ``secret`` at Unix time ``now``."""
    hello = bytearray(_hello_record(_hello_body(secret.domain, secrets.token_bytes(SESSION_ID_SIZE), _grease())))
    digest = bytearray(hmac.digest(secret.key, bytes(hello), hashlib.sha256))
    digest[28:32] = bytes(a ^ b for a, b in zip(digest[28:32], struct.pack("<I", int(now) & 0xFFFFFFFF), strict=True))
    hello[RANDOM] = digest
    return bytes(hello)


@dataclass(frozen=True)
class Greeting:
    """A client's ClientHello that the secret opens: its random, session id and time."""

    random: bytes
    session_id: bytes
    timestamp: int


def check_client_hello(hello: bytes, secret: Secret, now: float) -> Greeting:
    """The Greeting of a whole first record, checked against ``secret`` and the time.

    FakeTlsError if it is no ClientHello for the secret's domain; DigestMismatch if its
    random is not the secret's HMAC or its time is outside TIME_SKEW of ``now``."""
    parsed = parse_client_hello(hello)
    if not parsed.complete or not parsed.is_tls or len(hello) < RANDOM.stop + 1 + SESSION_ID_SIZE:
        raise FakeTlsError("not a whole ClientHello record")
    if parsed.sni != secret.domain:
        raise FakeTlsError(f"ClientHello for {parsed.sni!r}, not {secret.domain!r}")
    if hello[RANDOM.stop] != SESSION_ID_SIZE:
        raise FakeTlsError(f"session id of {hello[RANDOM.stop]} bytes, not {SESSION_ID_SIZE}")
    received = hello[RANDOM]
    zeroed = hello[: RANDOM.start] + bytes(32) + hello[RANDOM.stop :]
    mask = bytes(a ^ b for a, b in zip(hmac.digest(secret.key, zeroed, hashlib.sha256), received, strict=True))
    if any(mask[:28]):
        raise DigestMismatch("client random is not the secret's HMAC")
    timestamp = struct.unpack("<I", mask[28:])[0]
    if not TIME_SKEW[0] < now - timestamp < TIME_SKEW[1]:
        raise DigestMismatch(f"client time {timestamp} is {now - timestamp:+.0f} s from the server's")
    session_id = hello[RANDOM.stop + 1 : RANDOM.stop + 1 + SESSION_ID_SIZE]
    return Greeting(bytes(received), bytes(session_id), timestamp)


# --- the server's answer -----------------------------------------------------------------


def filler_size() -> int:
    """How many bytes of fake certificate an answer carries, drawn from FILLER."""
    return FILLER[0] + secrets.randbelow(FILLER[1] - FILLER[0] + 1)


def server_answer(greeting: Greeting, secret: Secret, filler: int) -> bytes:
    """ServerHello, ChangeCipherSpec and ``filler`` random bytes of application data, the
    server random being the HMAC that proves the secret."""
    extensions = _extension(0x0033, _u16s((X25519,)) + _vector(x25519_key())) + _extension(0x002B, b"\x03\x04")
    hello = TLS12 + bytes(32) + _vector(greeting.session_id, 1) + b"\x13\x01\x00" + _vector(extensions)
    answer = bytearray(
        record(HANDSHAKE, b"\x02" + len(hello).to_bytes(3, "big") + hello)
        + CHANGE_CIPHER
        + record(APPLICATION_DATA, secrets.token_bytes(filler))
    )
    answer[RANDOM] = hmac.digest(secret.key, greeting.random + bytes(answer), hashlib.sha256)
    return bytes(answer)


def check_server_answer(records: list[Record], client_random: bytes, secret: Secret) -> None:
    """Check the server's first three records prove ``secret`` for this ``client_random``."""
    kinds = [r.kind for r in records[:3]]
    if kinds != [HANDSHAKE, CHANGE_CIPHER_SPEC, APPLICATION_DATA]:
        raise FakeTlsError(f"server answered with records {kinds}, not ServerHello, ChangeCipherSpec, data")
    answer = b"".join(r.raw for r in records[:3])
    if len(answer) < RANDOM.stop:
        raise FakeTlsError("ServerHello cut short")
    zeroed = answer[: RANDOM.start] + bytes(32) + answer[RANDOM.stop :]
    if not hmac.compare_digest(hmac.digest(secret.key, client_random + zeroed, hashlib.sha256), answer[RANDOM]):
        raise DigestMismatch("server random is not the secret's HMAC: not this proxy")


# --- what a DPI reads --------------------------------------------------------------------


def after_change_cipher_spec(payload: bytes) -> tuple[int, int] | None:
    """(type, length) of the record that follows a ChangeCipherSpec record at the start of a
    client's segment; None if the segment does not start so or ends after the CCS."""
    if not payload.startswith(CHANGE_CIPHER) or len(payload) < len(CHANGE_CIPHER) + 5:
        return None
    header = payload[len(CHANGE_CIPHER) : len(CHANGE_CIPHER) + 5]
    return header[0], int.from_bytes(header[3:5], "big")
