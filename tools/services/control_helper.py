"""The control helper: what an uncensored vantage point sees, as OONI's test helper.

It runs outside the censored network (the ``control`` node abroad). A probe POSTs
``{"http_request": URL, "tcp_connect": ["ip:port", ...]}`` and gets back the control's
DNS answers (from the control resolver), whether each endpoint accepts a TCP
connection, and the status, headers, title and body length of the page, in the shape
of OONI's web_connectivity test-helper response. The probe compares its own view with
this one to decide ``blocking``.

Run: ``python -m tools.services.control_helper --listen ADDR --resolver ADDR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tools.services.http import run_forever, serve

PORT = 8080  # not 80: a walled-garden subscriber's port 80 goes to the portal
MAX_REQUEST = 64 * 1024


def control_measurement(url: str, endpoints: list[str], resolver: str) -> dict[str, Any]:
    """The uncensored view of ``url`` and ``endpoints`` from where this helper runs."""
    # Imported at the first request, not at start: the probes' network library (DNS,
    # TLS, x509) is most of this helper's start-up, and the lab waits for it to listen.
    from tools.probes import netx

    host = urlsplit(url).hostname or ""
    dns = netx.resolve(host, resolver)
    port = urlsplit(url).port or (443 if url.startswith("https:") else 80)
    endpoints = endpoints or [f"{a}:{port}" for a in dns["answers"]]

    def tcp(endpoint: str) -> tuple[str, dict[str, Any]]:
        address, _, p = endpoint.rpartition(":")
        sock, rec = netx.connect(address, int(p))
        if sock:
            sock.close()
        return endpoint, {"status": sock is not None, "failure": rec["failure"]}

    with ThreadPoolExecutor(max_workers=8) as pool:
        tcp_results = dict(pool.map(tcp, endpoints))
    page = netx.fetch(url, nameserver=resolver)
    return {
        "dns": {"failure": dns["failure"], "addrs": dns["answers"]},
        "tcp_connect": tcp_results,
        "http_request": {
            "failure": page.failure,
            "status_code": page.status or -1,
            "headers": page.headers,
            "body_length": len(page.body),
            "title": page.title,
        },
    }


class Handler(BaseHTTPRequestHandler):
    resolver = ""

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_REQUEST:
                raise ValueError("request body missing or too large")
            request = json.loads(self.rfile.read(length))
            url = request["http_request"]
            endpoints = [str(e) for e in request.get("tcp_connect", [])]
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                raise ValueError("http_request must be an http(s) URL")
        except (ValueError, KeyError, TypeError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, control_measurement(url, endpoints, self.resolver))

    def do_GET(self) -> None:
        self._reply(200, {"service": "kzlab control helper"})

    def _reply(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: Any) -> None:
        sys.stdout.write(f"{self.client_address[0]} {fmt % args}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--resolver", required=True)
    args = parser.parse_args(argv)
    Handler.resolver = args.resolver
    server = serve("control_helper", args.listen, PORT, Handler)
    return run_forever(server) if server else 1


if __name__ == "__main__":
    sys.exit(main())
