"""A TLS server with a self-signed certificate: the server lab 2's device must pass.

    python untrusted_server.py CERT KEY ADDRESS

The device intercepts a listed name only when the server presents a certificate it
trusts (kazakhstan.md 1.2); this server's is self-signed, so a ClientHello for a listed
name to it is passed, and the client sees this very certificate. It serves connections
side by side (the device's own connection to it comes while the client's waits) and
answers each with a short page. The grading lab runs it in the abroad vantage point.
"""

from __future__ import annotations

import socketserver
import ssl
import sys

PAGE = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nself-signed\n"


def main(cert: str, key: str, address: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                with context.wrap_socket(self.request, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(PAGE)
            except OSError:
                pass  # a client that gives up on the certificate: nothing to serve

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer((address, 443), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:4])
