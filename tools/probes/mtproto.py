"""MTProto's first round trip over the obfuscated2 transport, as a probe.

``handshake`` opens a connection to a data centre the way a Telegram client does (the
obfuscated2 init, then the framed ``req_pq_multi``) and reads ``resPQ``; ``http_post``
tries the HTTP transport. The wire format is tools/dpi/mtproto_codec.py, shared with
the lab's DC server. Failures are reported in OONI's df-007 vocabulary
(tools/probes/failures.py), plus the lab's own ``mtproto_invalid_response`` and
``http_invalid_response`` for an answer that is there but is not the protocol's.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from os import urandom
from typing import TypeVar

from cryptography.hazmat.primitives.ciphers import CipherContext

from tools.dpi.mtproto_codec import (
    MODES,
    Deframer,
    ProtocolError,
    ciphers,
    encode_frame,
    message_id,
    parse_res_pq,
    parse_unencrypted,
    random_init,
    req_pq_multi,
    unencrypted,
)
from tools.probes.failures import classify

INVALID_MTPROTO = "mtproto_invalid_response"
INVALID_HTTP = "http_invalid_response"
T = TypeVar("T")


# --- the probe ---------------------------------------------------------------------------


def _opening(mode: str) -> tuple[bytes, bytes, CipherContext]:
    """(bytes to send, req_pq_multi nonce, server-to-client stream) for a new connection."""
    init = random_init(MODES[mode])
    outbound, inbound = ciphers(init)
    sent_init = init[:56] + outbound.update(init)[56:]
    nonce = urandom(16)
    request = encode_frame(mode, unencrypted(req_pq_multi(nonce), message_id(server=False)))
    return sent_init + outbound.update(request), nonce, inbound


def first_packet(mode: str = "intermediate") -> bytes:
    """What a client sends first: obfuscated2 init plus the framed, encrypted req_pq_multi."""
    return _opening(mode)[0]


def _measure(
    address: str,
    port: int,
    timeout: float,
    operation: str,
    invalid: str,
    exchange: Callable[[socket.socket], dict],
) -> dict:
    """Connect, run ``exchange`` on the socket, and report the outcome in OONI's terms.

    ``operation`` names the step after connect; ``invalid`` is the failure string for a
    ProtocolError. ``timeout`` bounds each socket operation.
    """
    start = time.monotonic()
    result: dict = {"address": address, "port": port, "ok": False, "failure": None, "operation": "connect"}
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            result["operation"] = operation
            result.update(exchange(sock))
        result.update(ok=True, operation=None)
    except ProtocolError:
        result["failure"] = invalid
    except (OSError, EOFError) as exc:
        result["failure"] = classify(exc)
    result["t"] = round(time.monotonic() - start, 6)
    return result


def _receive(sock: socket.socket, take: Callable[[bytes], T | None]) -> T:
    """Feed received chunks to ``take`` until it returns something other than None.

    EOF before any byte is an EOFError (``eof_error``); EOF after some is a ProtocolError.
    """
    received = 0
    while chunk := sock.recv(4096):
        received += len(chunk)
        if (value := take(chunk)) is not None:
            return value
    if received:
        raise ProtocolError(f"answer cut short after {received} bytes")
    raise EOFError("connection closed before any answer")


def handshake(address: str, port: int, timeout: float = 10.0, mode: str = "intermediate") -> dict:
    """Open an obfuscated2 connection, send req_pq_multi, and check the resPQ that answers."""

    def exchange(sock: socket.socket) -> dict:
        packet, nonce, inbound = _opening(mode)
        sock.sendall(packet)
        deframer = Deframer(mode)

        def first_frame(chunk: bytes) -> bytes | None:
            frames = deframer.feed(inbound.update(chunk))
            return frames[0] if frames else None

        parse_res_pq(parse_unencrypted(_receive(sock, first_frame))[1], nonce)
        return {}

    return _measure(address, port, timeout, "mtproto_handshake", INVALID_MTPROTO, exchange)


def http_post(address: str, port: int, timeout: float = 10.0) -> dict:
    """OONI telegram's HTTP check: ``POST /`` with an empty body; ok if a status line returns."""
    request = (f"POST / HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").encode()

    def exchange(sock: socket.socket) -> dict:
        sock.sendall(request)
        buffer = bytearray()

        def status_line(chunk: bytes) -> bytes | None:
            buffer.extend(chunk)
            line, found, _ = buffer.partition(b"\r\n")
            return bytes(line) if found or len(buffer) > 8192 else None

        return {"status": _parse_status(_receive(sock, status_line))}

    result = _measure(address, port, timeout, "http_round_trip", INVALID_HTTP, exchange)
    result.setdefault("status", None)
    return result


def _parse_status(line: bytes) -> int:
    """The status code of an HTTP/1.x status line."""
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP status line: {line[:40]!r}")
    return int(parts[1])
