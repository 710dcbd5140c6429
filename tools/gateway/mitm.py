"""One intercepted connection: TLS to the subscriber with the forged chain, TLS to the
real server on the device's own connection, and every byte relayed unchanged between
the two (kazakhstan.md 1.10: a transparent proxy; no content changes were seen). What
the device decrypts from the subscriber (request lines and headers) goes to the
surveillance log.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
from collections.abc import Callable

from tools.gateway.surveillance import Log

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 120.0
MAX_HEAD = 64 * 1024


class RequestLogger:
    """Reads HTTP/1.1 request heads out of the decrypted client stream as it passes."""

    def __init__(self, log: Log, subscriber: str, sni: str) -> None:
        self.log, self.subscriber, self.sni = log, subscriber, sni
        self.buffer = b""
        self.body_left = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.body_left:
                used = min(self.body_left, len(self.buffer))
                self.body_left -= used
                self.buffer = self.buffer[used:]
            end = self.buffer.find(b"\r\n\r\n")
            if self.body_left or end < 0:
                self.buffer = self.buffer[-MAX_HEAD:]
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self._record(head)

    def _record(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return  # not a request line: nothing the device could read as a URL
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        host = headers.get("host", self.sni)
        self.log.write(
            "request",
            self.subscriber,
            sni=self.sni,
            method=parts[0],
            url=f"https://{host}{parts[1]}",
            headers=headers,
        )
        if headers.get("content-length", "").isdigit():
            self.body_left = int(headers["content-length"])


_AGAIN = (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError)
CHUNK = 256 * 1024  # bytes moved per wake-up at most: TLS hands over one 16 KiB record per read


def _send_all(dst: ssl.SSLSocket, data: memoryview) -> None:
    while data:
        try:
            data = data[dst.send(data) :]
        except _AGAIN:  # retried with the same bytes, as OpenSSL requires
            if not any(select.select([dst], [dst], [], IDLE_TIMEOUT)[:2]):
                raise TimeoutError("peer stopped reading") from None


class _Pipe:
    """One direction of the relay, with its own buffer: everything the source has
    decrypted so far is read at once (many records), then written in one send."""

    def __init__(self, src: ssl.SSLSocket, dst: ssl.SSLSocket, observe: Callable[[bytes], None] | None) -> None:
        self.src, self.dst, self.observe = src, dst, observe
        self.buffer = bytearray(CHUNK)
        self.view = memoryview(self.buffer)

    def move(self) -> bool:
        """Relay what is ready; False once the source has closed."""
        size, open_ = 0, True
        while size < CHUNK:
            try:
                n = self.src.recv_into(self.view[size:])
            except _AGAIN:
                break
            if not n:
                open_ = False
                break
            size += n
        if size:
            if self.observe is not None:
                self.observe(bytes(self.view[:size]))
            _send_all(self.dst, self.view[:size])
        return open_


def relay(client: ssl.SSLSocket, server: ssl.SSLSocket, observe: Callable[[bytes], None]) -> None:
    """Copy bytes both ways, unchanged, until either side closes or both go idle.

    One thread drives both TLS connections: an OpenSSL connection must not be read in one
    thread while it is written in another."""
    pipes = {client: _Pipe(client, server, observe), server: _Pipe(server, client, None)}
    for s in pipes:
        s.setblocking(False)
        # Each TLS record is a send of its own: Nagle would hold every record's last partial
        # segment until the peer's (delayed) ACK. Servers such as nginx turn it off too.
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            ready = [s for s in pipes if s.pending()] or select.select(list(pipes), [], [], IDLE_TIMEOUT)[0]
            if not ready:
                return  # idle
            for src in ready:
                if not pipes[src].move():
                    return
    except (OSError, ssl.SSLError):
        return
    finally:
        for s in pipes:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def serve(
    client: socket.socket,
    upstream: ssl.SSLSocket,
    server_ctx: ssl.SSLContext,
    log: Log,
    subscriber: str,
    sni: str,
    on_rejected: Callable[[str], None],
    on_accepted: Callable[[str], None],
) -> None:
    """Complete the subscriber's handshake with the forged chain, then relay both ways.

    A subscriber who does not trust the national root aborts the handshake; that is
    logged as ``rejected`` and reported to ``on_rejected`` (the walled garden's cue); one
    who completes it is reported to ``on_accepted`` (the walled garden lets it out)."""
    client.settimeout(HANDSHAKE_TIMEOUT)
    try:
        tls = server_ctx.wrap_socket(client, server_side=True)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        log.write("rejected", subscriber, sni=sni, reason=str(reason))
        on_rejected(subscriber)
        client.close()
        upstream.close()
        return
    on_accepted(subscriber)
    relay(tls, upstream, RequestLogger(log, subscriber, sni).feed)
    tls.close()
    upstream.close()
