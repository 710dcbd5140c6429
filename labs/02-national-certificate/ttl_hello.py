"""ClientHellos with a limited TTL: who answers a TLS handshake that cannot reach the server?

    python labs/02-national-certificate/ttl_hello.py NAME [--address ADDRESS] [--max-ttl N] [--json]

For each TTL from 1 to N (6 by default), side by side, it opens a TCP connection to NAME
(at ADDRESS, if given) with the normal TTL, then sets the socket's TTL, so that only the
ClientHello and what follows are short-lived, and says whose certificate came back, or
that nothing did. A ClientHello whose TTL runs out before the server is answered only
by something on the way: the 2019 device answered such ClientHellos with its forged
certificate, a few hops before the server (kazakhstan.md 1.5). Run it inside a lab host.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor

from cryptography import x509

TIMEOUT_S = 2.0


def hello(address: str, name: str, ttl: int) -> str | None:
    """The issuer of the certificate answering a ClientHello for ``name`` sent with ``ttl``,
    None if nothing answered within TIMEOUT_S."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((address, 443), timeout=TIMEOUT_S) as sock:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            with context.wrap_socket(sock, server_hostname=name) as tls:
                der = tls.getpeercert(binary_form=True)
    except OSError:
        return None
    return x509.load_der_x509_certificate(der).issuer.rfc4514_string() if der else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--address", help="connect here instead of resolving the name")
    parser.add_argument("--max-ttl", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="print {TTL: issuer or null} as JSON")
    args = parser.parse_args(argv)
    address = args.address or socket.gethostbyname(args.name)
    ttls = range(1, args.max_ttl + 1)
    with ThreadPoolExecutor(len(ttls)) as pool:
        issuers = dict(zip(ttls, pool.map(lambda ttl: hello(address, args.name, ttl), ttls), strict=True))
    if args.json:
        print(json.dumps(issuers))
    else:
        for ttl, issuer in issuers.items():
            print(f"TTL {ttl}: " + (f"a certificate issued by {issuer}" if issuer else "no answer"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
