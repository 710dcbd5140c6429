"""Network operations that record what happened, as OONI's measurexlite does.

Each step (resolve, connect, tls_handshake, http_round_trip) returns a record dict with
the operation, the df-007 failure string (None on success) and the time it took; the
probes and the control helper build their results from these records. The resolver is
the host's own (/etc/resolv.conf, bind-mounted per lab host), the trust store the host's
own (/etc/ssl/certs, likewise), so a probe sees exactly what that subscriber would.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPResponse
from typing import Any
from urllib.parse import urljoin, urlsplit

import dns.resolver
from cryptography import x509

from tools.probes import failures

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) kzlab-probe/1.0"
MAX_BODY = 1 << 20
MAX_REDIRECTS = 10
TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


@dataclass
class Timeouts:
    """Per-operation limits; a dropped flow shows as generic_timeout_error after these."""

    dns: float = 4.0
    connect: float = 5.0
    tls: float = 5.0
    http: float = 8.0


def _record(operation: str, start: float, failure: str | None, **extra: Any) -> dict[str, Any]:
    return {"operation": operation, "failure": failure, "t": round(time.monotonic() - start, 4), **extra}


def resolve(name: str, nameserver: str | None = None, timeout: float = 4.0) -> dict[str, Any]:
    """A lookups for ``name`` via the host's resolver (or ``nameserver``)."""
    start = time.monotonic()
    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver:
        resolver.nameservers = [nameserver]
    resolver.lifetime = timeout
    try:
        answer = resolver.resolve(name, "A", search=False)
        addrs = sorted({r.address for r in answer})
        return _record(
            "resolve",
            start,
            None,
            hostname=name,
            answers=addrs,
            resolver=resolver.nameservers[0] if resolver.nameservers else None,
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes a df-007 string
        return _record("resolve", start, failures.classify(exc), hostname=name, answers=[])


def connect(address: str, port: int, timeout: float = 5.0) -> tuple[socket.socket | None, dict[str, Any]]:
    """A TCP connection to address:port, and its record."""
    start = time.monotonic()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
        return sock, _record("connect", start, None, ip=address, port=port)
    except Exception as exc:  # noqa: BLE001
        sock.close()
        return None, _record("connect", start, failures.classify(exc), ip=address, port=port)


def describe(cert_der: bytes) -> dict[str, Any]:
    """The fields of a certificate a student (or a fidelity test) looks at."""
    cert = x509.load_der_x509_certificate(cert_der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    key = cert.public_key()
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "san": names,
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key_type": type(key).__name__.removeprefix("_").replace("PublicKey", ""),
        "key_bits": getattr(key, "key_size", None),
        "public_exponent": getattr(getattr(key, "public_numbers", lambda: None)(), "e", None),
        "extensions": [e.oid.dotted_string for e in cert.extensions],
    }


def _chain(tls: ssl.SSLSocket, verified: bool) -> list[dict[str, Any]]:
    # Python 3.11 has the chains on the private _ssl object only (public from 3.13), untyped.
    obj = tls._sslobj  # type: ignore[attr-defined]  # private, absent from the stubs
    chain = obj.get_verified_chain() if verified else obj.get_unverified_chain()
    return [describe(c.public_bytes(ssl._ssl.ENCODING_DER)) for c in chain or []]  # type: ignore[attr-defined]


def tls_handshake(
    sock: socket.socket, sni: str, timeout: float = 5.0, verify: bool = True
) -> tuple[ssl.SSLSocket | None, dict[str, Any]]:
    """A TLS handshake with the host's trust store; records the chain the server sent
    and, when verification succeeds, the verified chain up to the trusted root."""
    start = time.monotonic()
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    sock.settimeout(timeout)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=sni)
    except Exception as exc:  # noqa: BLE001
        sock.close()
        return None, _record("tls_handshake", start, failures.classify(exc), server_name=sni)
    extra: dict[str, Any] = {
        "server_name": sni,
        "tls_version": tls.version(),
        "peer_certificates": _chain(tls, verified=False),
    }
    if verify:
        extra["verified_chain"] = _chain(tls, verified=True)
    return tls, _record("tls_handshake", start, None, **extra)


@dataclass
class Fetch:
    """Everything one URL fetch did: every step's record, and the final response."""

    events: list[dict[str, Any]] = field(default_factory=list)
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    failure: str | None = None
    failed_operation: str | None = None
    final_url: str = ""

    @property
    def title(self) -> str:
        m = TITLE.search(self.body)
        return m.group(1).decode(errors="replace").strip() if m else ""

    def fail(self, record: dict[str, Any]) -> Fetch:
        self.failure, self.failed_operation = record["failure"], record["operation"]
        return self


def _round_trip(sock: socket.socket, host: str, path: str, timeout: float) -> tuple[HTTPResponse | None, bytes, dict]:
    start = time.monotonic()
    sock.settimeout(timeout)
    conn = HTTPConnection(host, timeout=timeout)
    conn.sock = sock
    try:
        conn.request("GET", path or "/", headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        resp = conn.getresponse()
        body = resp.read(MAX_BODY)
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return (
            resp,
            body,
            _record("http_round_trip", start, None, status=resp.status, headers=headers, body_length=len(body)),
        )
    except Exception as exc:  # noqa: BLE001
        return None, b"", _record("http_round_trip", start, failures.classify(exc))
    finally:
        conn.close()


def fetch(
    url: str,
    addresses: list[str] | None = None,
    nameserver: str | None = None,
    timeouts: Timeouts | None = None,
    fronts: dict[str, str] | None = None,
) -> Fetch:
    """GET ``url``, following redirects: resolve (unless ``addresses`` are given for the
    first hop), connect, TLS for https, HTTP. Stops at the first failed step. A host
    named in ``fronts`` is reached through its domain front: the front's name is resolved
    and sent as SNI, the host's own name only in the Host header."""
    timeouts = timeouts or Timeouts()
    out = Fetch()
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        host = parts.hostname or ""
        front = (fronts or {}).get(host, host)  # the name resolved and sent as SNI
        port = parts.port or (443 if parts.scheme == "https" else 80)
        out.final_url = url
        if addresses is None:
            rec = resolve(front, nameserver, timeouts.dns)
            out.events.append(rec)
            if rec["failure"]:
                return out.fail(rec)
            addresses = rec["answers"]
        sock = None
        for address in addresses:
            sock, rec = connect(address, port, timeouts.connect)
            out.events.append(rec)
            if sock:
                break
        if sock is None:
            return out.fail(rec)
        if parts.scheme == "https":
            sock, rec = tls_handshake(sock, front, timeouts.tls)
            out.events.append(rec)
            if sock is None:
                return out.fail(rec)
        resp, body, rec = _round_trip(
            sock, host, parts.path + (f"?{parts.query}" if parts.query else ""), timeouts.http
        )
        out.events.append(rec)
        if resp is None:
            return out.fail(rec)
        out.status, out.headers, out.body = resp.status, rec["headers"], body
        location = out.headers.get("location")
        if resp.status in (301, 302, 303, 307, 308) and location:
            url, addresses = urljoin(url, location), None
            continue
        return out
    out.failure, out.failed_operation = "too_many_redirects", "http_round_trip"
    return out
