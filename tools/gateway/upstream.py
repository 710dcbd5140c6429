"""The device's own connection to the real server (kazakhstan.md 1.9, 1.2).

Before it intercepts, the device connects to the server itself, with a ClientHello
that looked unusual to the researchers: a TLS 1.0 record layer carrying a TLS 1.2
ClientHello with 13 cipher suites. It checks that the server's chain is one it trusts
(the public web PKI; the name does not have to match the SNI, 1.2), takes the real
certificate to forge from (1.7), and keeps the connection to relay the client's traffic.

The device keeps the TLS session of its last connection to each server and name and
resumes it on the next (an abbreviated handshake: one round trip, no key exchange; the
certificate it verified comes with the session). A server that will not resume (its
ticket key changed, another certificate) gets a full handshake and a fresh check. The
measurements do not say whether the 2019 device resumed; a middlebox that connects to
the same servers all day has every reason to. Reading a session costs memory for good
on the Pythons the lab runs on, so the device reads few (``Sessions``).
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass

from cryptography import x509

# 13 TLS 1.2 suites, strongest first (OpenSSL names); the count is what 1.9 reports.
CIPHER_SUITES = (
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:"
    "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA:"
    "AES256-GCM-SHA384:AES128-GCM-SHA256:AES128-SHA"
)
TIMEOUT = 5.0
SESSIONS = 4096  # (server, port, name) sessions kept, the least recently used dropped first
SESSION_READS = 1024  # sessions read from connections in the device's life (see Sessions)


@dataclass
class Upstream:
    """The device's TLS connection to the server, and what it learnt."""

    tls: ssl.SSLSocket | None
    certificate: x509.Certificate | None
    trusted: bool
    failure: str | None = None


def context(trust_bundle: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHER_SUITES + ":@SECLEVEL=0")
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.check_hostname = False  # 1.2: any browser-trusted certificate will do
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=trust_bundle)
    return ctx


class Sessions:
    """The last TLS session with each (address, port, SNI), at most ``limit`` of them.

    Reading a connection's session (``SSLSocket.session``) leaks a copy of it on CPython
    3.11 to 3.12.6 (gh-116810: about 6 KB with the server's certificates), and the device
    connects for every flow it intercepts: a read per connection grew it by 11 MB per
    100,000 hostile packets. So a session is read only after a full handshake (a resumed
    one goes on with the session offered) and at most ``reads`` times in the device's
    life, which bounds the leak (1,024 reads: about 6 MB); past that, a server without a
    kept session gets full handshakes."""

    def __init__(self, limit: int = SESSIONS, reads: int = SESSION_READS) -> None:
        self.limit, self.reads_left = limit, reads
        self.sessions: OrderedDict[tuple[str, int, str], ssl.SSLSession] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, int, str]) -> ssl.SSLSession | None:
        with self.lock:
            session = self.sessions.get(key)
            if session is not None:
                self.sessions.move_to_end(key)
            return session

    def keep(self, key: tuple[str, int, str], tls: ssl.SSLSocket) -> None:
        """Keep the session of ``tls``, a connection just made, for ``key``: unless it
        resumed the session offered (nothing new to read) or the reads are spent."""
        if tls.session_reused:
            return
        with self.lock:
            if self.reads_left <= 0:
                return
            self.reads_left -= 1
        session = tls.session
        if session is None:
            return
        with self.lock:
            self.sessions[key] = session
            self.sessions.move_to_end(key)
            while len(self.sessions) > self.limit:
                self.sessions.popitem(last=False)


def connect(ctx: ssl.SSLContext, address: str, port: int, sni: str, sessions: Sessions | None) -> Upstream:
    """Connect to ``address``:``port`` with ``sni``, resuming and keeping the session in
    ``sessions`` (None: a full handshake, nothing kept). Never raises: an untrusted chain,
    a failed connection, or an SNI that is no host name (a label over 63 characters, an
    empty label, a NUL: OpenSSL will not send it) is reported as the failure."""
    key = (address, port, sni)
    try:
        raw = socket.create_connection((address, port), timeout=TIMEOUT)
    except OSError as exc:
        return Upstream(None, None, False, f"connect: {exc}")
    try:
        tls = ctx.wrap_socket(raw, server_hostname=sni, session=sessions.get(key) if sessions is not None else None)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        return Upstream(None, None, False, f"untrusted: {exc.verify_message}")
    except (OSError, ssl.SSLError) as exc:
        raw.close()
        return Upstream(None, None, False, f"tls: {exc}")
    except (ValueError, TypeError) as exc:  # UnicodeError is a ValueError
        raw.close()
        return Upstream(None, None, False, f"SNI {sni!r} is no host name: {exc}")
    der = tls.getpeercert(binary_form=True)
    if der is None:  # only an anonymous suite gets through a handshake without one
        tls.close()
        return Upstream(None, None, False, "tls: the server sent no certificate")
    if sessions is not None:
        sessions.keep(key, tls)
    tls.settimeout(None)
    return Upstream(tls, x509.load_der_x509_certificate(der), True)
