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
the same servers all day has every reason to.
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
    """The last TLS session with each (address, port, SNI), at most ``limit`` of them."""

    def __init__(self, limit: int = SESSIONS) -> None:
        self.limit = limit
        self.sessions: OrderedDict[tuple[str, int, str], ssl.SSLSession] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, int, str]) -> ssl.SSLSession | None:
        with self.lock:
            session = self.sessions.get(key)
            if session is not None:
                self.sessions.move_to_end(key)
            return session

    def put(self, key: tuple[str, int, str], session: ssl.SSLSession | None) -> None:
        if session is None:
            return
        with self.lock:
            self.sessions[key] = session
            self.sessions.move_to_end(key)
            while len(self.sessions) > self.limit:
                self.sessions.popitem(last=False)


def connect(ctx: ssl.SSLContext, address: str, port: int, sni: str, sessions: Sessions) -> Upstream:
    """Connect to ``address``:``port`` with ``sni``. Never raises: an untrusted chain, a
    failed connection, or an SNI that is no host name (a label over 63 characters, an
    empty label, a NUL: OpenSSL will not send it) is reported as the failure."""
    try:
        raw = socket.create_connection((address, port), timeout=TIMEOUT)
    except OSError as exc:
        return Upstream(None, None, False, f"connect: {exc}")
    try:
        tls = ctx.wrap_socket(raw, server_hostname=sni, session=sessions.get((address, port, sni)))
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
    sessions.put((address, port, sni), tls.session)
    tls.settimeout(None)
    return Upstream(tls, x509.load_der_x509_certificate(der), True)
