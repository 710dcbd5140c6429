"""failures.classify() on real exceptions made on loopback, and on DNS exceptions.

Each network case provokes the failure for real (a closed port, a full accept queue, an
RST, a TLS server with a certificate the client must reject, a DNS server that answers
badly) and checks the df-007 string, through the raw exception and through netx.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.resolver
import pytest

from tools.probes import failures, netx
from tools.services.pki import key_pem, pem

LOOPBACK = "127.0.0.1"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, never listened, then released)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def read_client_hello(conn: socket.socket) -> bytes:
    """Read one whole TLS record (the ClientHello), so closing leaves nothing unread
    (Linux answers a close with unread data by an RST, which would change the case)."""
    head = b""
    while len(head) < 5:
        head += conn.recv(5 - len(head))
    (length,) = struct.unpack("!H", head[3:5])
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return head + body


def rst(conn: socket.socket) -> None:
    """Make the coming close() send an RST instead of a FIN (SO_LINGER on, 0 s)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# -- TCP ------------------------------------------------------------------------------------


def test_connection_refused() -> None:
    """connect() to a closed loopback port: the kernel's RST becomes connection_refused."""
    port = closed_port()
    with pytest.raises(ConnectionRefusedError) as info:
        socket.create_connection((LOOPBACK, port), timeout=2)
    assert failures.classify(info.value) == failures.CONNECTION_REFUSED
    sock, rec = netx.connect(LOOPBACK, port, timeout=2)
    assert sock is None
    assert (rec["operation"], rec["failure"], rec["port"]) == ("connect", "connection_refused", port)


def test_connect_timeout_when_accept_queue_is_full() -> None:
    """With listen(0) and one connection already queued, Linux drops further SYNs, so the
    next connect() gets no answer and times out: generic_timeout_error."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        first, rec = netx.connect(LOOPBACK, port, timeout=1)
        assert first is not None and rec["failure"] is None
        try:
            sock, rec = netx.connect(LOOPBACK, port, timeout=0.3)
            assert sock is None
            assert rec["failure"] == failures.GENERIC_TIMEOUT
            assert rec["t"] >= 0.25
        finally:
            first.close()


def test_recv_timeout_on_idle_server(serve: Callable) -> None:
    """A server that accepts and never writes: recv() raises socket.timeout."""
    server = serve(lambda conn: conn.recv(1))  # returns when the client closes
    with (
        socket.create_connection((LOOPBACK, server.port), timeout=0.2) as sock,
        pytest.raises(TimeoutError) as info,
    ):
        sock.recv(1)
    assert failures.classify(info.value) == failures.GENERIC_TIMEOUT


def test_http_round_trip_timeout_through_fetch(serve: Callable) -> None:
    """netx.fetch() against a server that reads the request and never answers records
    generic_timeout_error at http_round_trip, after a successful connect."""
    server = serve(lambda conn: conn.recv(1 << 16) and conn.recv(1))
    page = netx.fetch(
        f"http://localhost:{server.port}/",
        addresses=[LOOPBACK],
        timeouts=netx.Timeouts(connect=1, http=0.3),
    )
    assert (page.failure, page.failed_operation) == (failures.GENERIC_TIMEOUT, "http_round_trip")
    assert [e["operation"] for e in page.events] == ["connect", "http_round_trip"]
    assert page.events[0]["failure"] is None


def test_connection_reset_on_recv(serve: Callable) -> None:
    """The server accepts, reads the client's first byte and closes with SO_LINGER 0 (an
    RST): recv() gets ECONNRESET. (Reset at once, the RST can overtake a connect() whose
    process has not yet run again on a loaded machine.)"""
    server = serve(lambda conn: (conn.recv(1), rst(conn)))
    with socket.create_connection((LOOPBACK, server.port), timeout=2) as sock:
        sock.sendall(b"x")
        with pytest.raises(ConnectionResetError) as info:
            sock.recv(1)
        assert failures.classify(info.value) == failures.CONNECTION_RESET


def test_connection_reset_during_tls_handshake(serve: Callable) -> None:
    """An RST after the ClientHello (what an injecting DPI does) fails tls_handshake with
    connection_reset."""
    server = serve(lambda conn: (read_client_hello(conn), rst(conn)))
    sock, _ = netx.connect(LOOPBACK, server.port, timeout=2)
    tls, rec = netx.tls_handshake(sock, "facebook.com", timeout=2)
    assert tls is None
    assert (rec["operation"], rec["failure"], rec["server_name"]) == (
        "tls_handshake",
        "connection_reset",
        "facebook.com",
    )


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(serve: Callable, pki) -> int:
    """A loopback TLS server with the "localhost" leaf issued by pki.root."""
    ctx = pki.server_context()

    def handshake(conn: socket.socket) -> None:
        conn.settimeout(5)
        with ctx.wrap_socket(conn, server_side=True):
            pass

    return serve(handshake).port


def client_handshake(port: int, cafile: Path, server_hostname: str) -> None:
    """A TLS handshake with the ssl module, trusting only ``cafile``."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        ctx.wrap_socket(sock, server_hostname=server_hostname).close()


def test_tls_trusted_root_and_right_name_succeeds(tls_server: int, pki) -> None:
    """The positive control of the TLS cases: right root, right name, no exception."""
    client_handshake(tls_server, pki.root_pem, "localhost")


def test_tls_unknown_authority(tls_server: int, pki) -> None:
    """A client trusting a different root: verify code 20 (unable to get local issuer)."""
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        client_handshake(tls_server, pki.other_pem, "localhost")
    assert info.value.verify_code == 20
    assert failures.classify(info.value) == failures.SSL_UNKNOWN_AUTHORITY


def test_tls_self_signed_server_certificate(serve: Callable, pki, tmp_path: Path) -> None:
    """A server presenting a self-signed certificate the client does not trust: verify
    code 18, also an unknown authority."""
    (tmp_path / "self.crt").write_bytes(pem(pki.other.cert))
    (tmp_path / "self.key").write_bytes(key_pem(pki.other.key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "self.crt", tmp_path / "self.key")
    server = serve(lambda conn: ctx.wrap_socket(conn, server_side=True).close())
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        client_handshake(server.port, pki.root_pem, "localhost")
    assert info.value.verify_code == 18
    assert failures.classify(info.value) == failures.SSL_UNKNOWN_AUTHORITY


def test_tls_invalid_hostname(tls_server: int, pki) -> None:
    """The right root but a name the certificate does not carry: hostname mismatch."""
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        client_handshake(tls_server, pki.root_pem, "wrong.example")
    assert info.value.verify_code == 62
    assert failures.classify(info.value) == failures.SSL_INVALID_HOSTNAME


def test_tls_ip_address_mismatch_is_invalid_hostname(tls_server: int, pki) -> None:
    """Asking for an IP address the certificate does not carry (its SAN is "localhost"):
    OpenSSL reports X509_V_ERR_IP_ADDRESS_MISMATCH (64). In df-007 that is still
    ssl_invalid_hostname: OONI's netxlite maps Go's x509.HostnameError, which Go returns
    for IP and DNS-name mismatches alike, to ssl_invalid_hostname."""
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        client_handshake(tls_server, pki.root_pem, LOOPBACK)
    assert info.value.verify_code == 64
    assert failures.classify(info.value) == failures.SSL_INVALID_HOSTNAME


def test_tls_expired_certificate(serve: Callable, pki, tmp_path: Path) -> None:
    """A leaf issued with days=1 (valid from 30 days ago, so expired 29 days ago) by the
    trusted root: neither an unknown authority nor a name problem, ssl_invalid_certificate."""
    cert, key = pki.root.issue_leaf(("localhost", "localhost"), days=1)
    (tmp_path / "old.crt").write_bytes(pem(cert))
    (tmp_path / "old.key").write_bytes(key_pem(key))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "old.crt", tmp_path / "old.key")
    server = serve(lambda conn: ctx.wrap_socket(conn, server_side=True).close())
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        client_handshake(server.port, pki.root_pem, "localhost")
    assert info.value.verify_code == 10  # X509_V_ERR_CERT_HAS_EXPIRED
    assert failures.classify(info.value) == failures.SSL_INVALID_CERTIFICATE


def test_netx_tls_handshake_honours_ssl_cert_file(tls_server: int, pki, trust: Callable) -> None:
    """netx.tls_handshake uses the default trust store; SSL_CERT_FILE selects it, so the
    same server is trusted, rejected as unknown authority, and rejected by name."""
    trust(pki.root_pem)
    sock, _ = netx.connect(LOOPBACK, tls_server, timeout=2)
    tls, rec = netx.tls_handshake(sock, "localhost", timeout=2)
    assert tls is not None and rec["failure"] is None
    tls.close()
    assert rec["peer_certificates"][0]["subject"] == "CN=localhost"
    assert rec["verified_chain"][-1]["subject"] == pki.root.cert.subject.rfc4514_string()

    sock, _ = netx.connect(LOOPBACK, tls_server, timeout=2)
    assert netx.tls_handshake(sock, "wrong.example", timeout=2)[1]["failure"] == "ssl_invalid_hostname"

    trust(pki.other_pem)
    sock, _ = netx.connect(LOOPBACK, tls_server, timeout=2)
    tls, rec = netx.tls_handshake(sock, "localhost", timeout=2)
    assert tls is None
    assert rec["failure"] == "ssl_unknown_authority"
    assert "verified_chain" not in rec


def test_netx_tls_handshake_without_verification(tls_server: int, pki, trust: Callable) -> None:
    """verify=False completes against an untrusted server and records only the sent chain."""
    trust(pki.other_pem)
    sock, _ = netx.connect(LOOPBACK, tls_server, timeout=2)
    tls, rec = netx.tls_handshake(sock, "wrong.example", timeout=2, verify=False)
    assert tls is not None and rec["failure"] is None
    tls.close()
    assert "verified_chain" not in rec
    assert rec["peer_certificates"][0]["san"] == ["localhost"]


def test_garbage_answer_to_client_hello(serve: Callable) -> None:
    """A plain-TCP server answering the ClientHello with an HTTP error. OpenSSL reads the
    first five bytes "HTTP/" as a TLS record header whose version bytes ("TP") are not a
    TLS version, and fails with WRONG_VERSION_NUMBER: a plain SSLError, not an EOF, so
    ssl_failed_handshake."""

    def garbage(conn: socket.socket) -> None:
        read_client_hello(conn)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    server = serve(garbage)
    sock, _ = netx.connect(LOOPBACK, server.port, timeout=2)
    with pytest.raises(ssl.SSLError) as info:
        ssl.create_default_context().wrap_socket(sock, server_hostname="localhost")
    sock.close()
    assert not isinstance(info.value, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    assert info.value.reason == "WRONG_VERSION_NUMBER"
    assert failures.classify(info.value) == failures.SSL_FAILED_HANDSHAKE

    sock, _ = netx.connect(LOOPBACK, server.port, timeout=2)
    assert netx.tls_handshake(sock, "localhost", timeout=2)[1]["failure"] == "ssl_failed_handshake"


def test_close_after_client_hello_is_eof(serve: Callable) -> None:
    """A server that reads the whole ClientHello and closes (a FIN, no data): the
    handshake ends at EOF, which the ssl module reports as an EOF-type SSLError."""
    server = serve(read_client_hello)
    sock, _ = netx.connect(LOOPBACK, server.port, timeout=2)
    with pytest.raises(ssl.SSLError) as info:
        ssl.create_default_context().wrap_socket(sock, server_hostname="localhost")
    sock.close()
    assert isinstance(info.value, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    assert failures.classify(info.value) == failures.EOF_ERROR


# -- DNS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (dns.resolver.NXDOMAIN(), failures.DNS_NXDOMAIN),
        (dns.resolver.NoAnswer(), failures.DNS_NO_ANSWER),
        (dns.exception.Timeout(), failures.GENERIC_TIMEOUT),
        (dns.resolver.LifetimeTimeout(timeout=1.0, errors=[]), failures.GENERIC_TIMEOUT),
    ],
)
def test_dns_exceptions(exc: BaseException, expected: str) -> None:
    """dnspython's exceptions map to their df-007 strings."""
    assert failures.classify(exc) == expected


class DnsServer:
    """A UDP DNS server on loopback answering every query with ``rcode`` (and no
    records), or not at all when ``rcode`` is None."""

    def __init__(self, rcode: int | None) -> None:
        self.rcode = rcode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:  # closed at teardown
                return
            if self.rcode is None:
                continue
            reply = dns.message.make_response(dns.message.from_wire(data))
            reply.set_rcode(self.rcode)
            reply.flags |= dns.flags.RA
            self.sock.sendto(reply.to_wire(), peer)

    def resolve(self, name: str) -> None:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [LOOPBACK]
        resolver.port = self.port
        resolver.lifetime = 0.4
        resolver.timeout = 0.2
        resolver.resolve(name, "A", search=False)


@pytest.fixture
def dns_server() -> Iterator[Callable[[int | None], DnsServer]]:
    servers: list[DnsServer] = []

    def make(rcode: int | None) -> DnsServer:
        servers.append(DnsServer(rcode))
        return servers[-1]

    yield make
    for s in servers:
        s.stop.set()
        s.sock.close()


@pytest.mark.parametrize(
    ("rcode", "exc_type", "expected"),
    [
        (dns.rcode.NXDOMAIN, dns.resolver.NXDOMAIN, failures.DNS_NXDOMAIN),
        (dns.rcode.NOERROR, dns.resolver.NoAnswer, failures.DNS_NO_ANSWER),
        (dns.rcode.REFUSED, dns.resolver.NoNameservers, failures.DNS_REFUSED),
        (dns.rcode.SERVFAIL, dns.resolver.NoNameservers, failures.DNS_SERVER_MISBEHAVING),
        (None, dns.exception.Timeout, failures.GENERIC_TIMEOUT),
    ],
    ids=["nxdomain", "noerror-empty", "refused", "servfail", "silent"],
)
def test_dns_answers_from_a_loopback_server(
    dns_server: Callable, rcode: int | None, exc_type: type[BaseException], expected: str
) -> None:
    """A real dnspython lookup against a loopback server that answers with ``rcode`` (or
    never answers) raises the exception that classify() maps to ``expected``."""
    server = dns_server(rcode)
    with pytest.raises(exc_type) as info:
        server.resolve("blocked.example")
    assert failures.classify(info.value) == expected


# -- other exceptions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ValueError("nope"), failures.UNKNOWN),
        (KeyError("x"), failures.UNKNOWN),
        (OSError(2, "No such file or directory"), failures.UNKNOWN),
        (EOFError(), failures.EOF_ERROR),
        (OSError(113, "No route to host"), failures.HOST_UNREACHABLE),
        (OSError(101, "Network is unreachable"), failures.NETWORK_UNREACHABLE),
    ],
)
def test_other_exceptions(exc: BaseException, expected: str) -> None:
    """Exceptions outside the known kinds are unknown_failure; errno values map by table."""
    assert failures.classify(exc) == expected
