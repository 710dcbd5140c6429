"""Shared helpers for the unit tests: loopback TCP/TLS servers and a throw-away PKI.

Every server listens on 127.0.0.1 on an ephemeral port; nothing is sent anywhere else.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.services.pki import CertificateAuthority, pem

LOOPBACK = "127.0.0.1"

Handler = Callable[[socket.socket], None]


class LoopbackServer:
    """A listener on 127.0.0.1 running ``handler(conn)`` in a thread per connection.

    The connection is closed after the handler returns; exceptions are kept in ``errors``."""

    def __init__(self, handler: Handler, backlog: int = 16) -> None:
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(backlog)
        self.port: int = self.sock.getsockname()[1]
        self.errors: list[BaseException] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except Exception as exc:  # noqa: BLE001 - recorded for the test to inspect
            self.errors.append(exc)
        finally:
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], LoopbackServer]]:
    """A factory of loopback servers, all closed at the end of the test."""
    servers: list[LoopbackServer] = []

    def make(handler: Handler) -> LoopbackServer:
        servers.append(LoopbackServer(handler))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@dataclass
class LabPki:
    """A root, an unrelated root, and a leaf for "localhost" issued by the root."""

    root: CertificateAuthority
    other: CertificateAuthority
    root_pem: Path
    other_pem: Path
    leaf_crt: Path
    leaf_key: Path
    empty_dir: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.leaf_crt, self.leaf_key)
        return ctx


@pytest.fixture
def pki(tmp_path: Path) -> LabPki:
    root = CertificateAuthority.new_root()
    other = CertificateAuthority.new_root()
    crt, key = root.write_leaf(tmp_path, "localhost", ("localhost", "localhost"))
    (tmp_path / "root.pem").write_bytes(pem(root.cert))
    (tmp_path / "other.pem").write_bytes(pem(other.cert))
    (tmp_path / "empty").mkdir()
    return LabPki(root, other, tmp_path / "root.pem", tmp_path / "other.pem", crt, key, tmp_path / "empty")


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch, pki: LabPki) -> Callable[[Path], None]:
    """Make ssl.create_default_context() trust exactly the roots in one PEM file.

    OpenSSL reads SSL_CERT_FILE and SSL_CERT_DIR when the default verify paths are
    loaded, i.e. at every create_default_context(); the empty directory hides the
    system store."""

    def use(cafile: Path) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", str(cafile))
        monkeypatch.setenv("SSL_CERT_DIR", str(pki.empty_dir))

    return use


def read_request(conn: socket.socket) -> bytes:
    """Read an HTTP request head (up to the blank line)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def tls_http() -> Callable[..., Handler]:
    """The tls_http_handler factory, for tests that serve a page over TLS."""
    return tls_http_handler


def tls_http_handler(
    ctx: ssl.SSLContext, body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None
) -> Handler:
    """A handler that completes a TLS handshake, then answers one HTTP request."""

    def handle(conn: socket.socket) -> None:
        conn.settimeout(5)
        with ctx.wrap_socket(conn, server_side=True) as tls:
            read_request(tls)
            head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            tls.sendall(head.encode() + b"\r\n" + body)

    return handle
