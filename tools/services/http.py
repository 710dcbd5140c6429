"""What the lab's own small HTTP services share: a threaded server with a deep accept
queue (a phase's probes all connect at once) and a main loop that ends cleanly."""

from __future__ import annotations

import contextlib
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LabHTTPServer(ThreadingHTTPServer):
    request_queue_size = 512
    daemon_threads = True


def serve(name: str, address: str, port: int, handler: type[BaseHTTPRequestHandler]) -> LabHTTPServer | None:
    """Bind ``handler`` on address:port, or say in one line why not (and return None)."""
    try:
        return LabHTTPServer((address, port), handler)
    except OSError as exc:
        print(f"{name}: cannot listen on {address}:{port}: {exc}", file=sys.stderr)
        return None


def run_forever(server: LabHTTPServer) -> int:
    """Serve until SIGTERM or SIGINT; exit status 0."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0
