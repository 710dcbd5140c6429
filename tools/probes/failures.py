"""Failure strings in OONI's vocabulary (ooni/spec data-formats/df-007-errors).

Every probe maps what went wrong to one of these strings, so that a lab measurement
reads like an OONI one: ``connection_reset`` for an injected RST, ``generic_timeout_error``
for a dropped flow, ``dns_nxdomain_error`` for a resolver blocklist, and so on.
``tls_mitm`` is the lab's one addition (DESIGN principle 4): the handshake succeeded but
the chain ends at a root the lab knows to be an interception root.
"""

from __future__ import annotations

import errno
import socket
import ssl

import dns.exception
import dns.resolver

CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
EOF_ERROR = "eof_error"
GENERIC_TIMEOUT = "generic_timeout_error"
HOST_UNREACHABLE = "host_unreachable"
NETWORK_UNREACHABLE = "network_unreachable"
DNS_NXDOMAIN = "dns_nxdomain_error"
DNS_NO_ANSWER = "dns_no_answer"
DNS_REFUSED = "dns_refused_error"
DNS_SERVER_MISBEHAVING = "dns_server_misbehaving"
DNS_BOGON = "dns_bogon_error"
SSL_UNKNOWN_AUTHORITY = "ssl_unknown_authority"
SSL_INVALID_HOSTNAME = "ssl_invalid_hostname"
SSL_INVALID_CERTIFICATE = "ssl_invalid_certificate"
SSL_FAILED_HANDSHAKE = "ssl_failed_handshake"
UNKNOWN = "unknown_failure"
TLS_MITM = "tls_mitm"  # lab-specific: see the module docstring

_ERRNO = {
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ECONNRESET: CONNECTION_RESET,
    errno.ETIMEDOUT: GENERIC_TIMEOUT,
    errno.EHOSTUNREACH: HOST_UNREACHABLE,
    errno.ENETUNREACH: NETWORK_UNREACHABLE,
    errno.EPIPE: CONNECTION_RESET,
    errno.ECONNABORTED: "connection_aborted",
}

# OpenSSL verification results (X509_V_ERR_*) that mean "issuer not trusted".
_UNKNOWN_AUTHORITY_CODES = {2, 18, 19, 20, 21}  # unable to get issuer, self-signed, ...
# Hostname (62) or IP address (64) mismatch: Go's x509.HostnameError, which OONI's
# netxlite maps to ssl_invalid_hostname, covers both.
_NAME_MISMATCH_CODES = {62, 64}


def classify(exc: BaseException) -> str:
    """The df-007 failure string for an exception raised by a probe operation."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _UNKNOWN_AUTHORITY_CODES:
            return SSL_UNKNOWN_AUTHORITY
        if exc.verify_code in _NAME_MISMATCH_CODES:
            return SSL_INVALID_HOSTNAME
        return SSL_INVALID_CERTIFICATE
    if isinstance(exc, ssl.SSLZeroReturnError | ssl.SSLEOFError):
        return EOF_ERROR
    if isinstance(exc, ssl.SSLError):
        return SSL_FAILED_HANDSHAKE
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return DNS_NXDOMAIN
    if isinstance(exc, dns.resolver.NoAnswer):
        return DNS_NO_ANSWER
    if isinstance(exc, dns.resolver.NoNameservers):
        text = str(exc)
        return DNS_REFUSED if "REFUSED" in text else DNS_SERVER_MISBEHAVING
    if isinstance(exc, dns.exception.Timeout | socket.timeout | TimeoutError):
        return GENERIC_TIMEOUT
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return CONNECTION_RESET
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    if isinstance(exc, EOFError | ConnectionAbortedError):
        return EOF_ERROR
    return UNKNOWN
