"""The ISP's certificate portal, http://qca.kz/ (kazakhstan.md 1.1), and the national CA.

At start it makes the national roots and intermediates (national_ca.py) into the run's
private directory, where the interception device loads them, then serves what
subscribers were told to install: the root as qazca.cer, qazca.pem and qazca.der, with
an instruction page, and the 2020 root under /2020/. Requests for any other host
reach it only from subscribers the device has put in its walled garden (their plain
HTTP is redirected here): they get the stub page that asks them to install the
certificate (1.1, section 2), with a link to the portal.

Run: ``python -m tools.gateway.portal --listen ADDR --ca-dir DIR``.
"""

from __future__ import annotations

import argparse
import sys
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

from cryptography.hazmat.primitives import serialization

from tools.gateway.national_ca import GENERATIONS, READY, WANTED, NationalCA
from tools.services.http import run_forever, serve

PORTAL_HOST = "qca.kz"
WANT_POLL = 0.2  # seconds between looks for the device's request (national_ca.wait_ready)
MAKE_WAIT = 60.0  # seconds a download waits for the CAs being made before a 503
FILES = {"2019": ("/qazca", "Qaznet Trust Network"), "2020": ("/2020/ISCA", "Information Security CA")}

INSTRUCTIONS = """<!doctype html><html><head><meta charset="utf-8">
<title>qca.kz - National security certificate</title></head><body>
<h1>Установите сертификат безопасности / Install the security certificate</h1>
<p>In accordance with the law, subscribers must install the national security certificate
to keep access to the internet. Download it and install it in your browser and system:</p>
<ul>{links}</ul>
<p>Windows: open qazca.cer and choose "Install certificate" -&gt; "Trusted Root Certification
Authorities". Firefox: Settings -&gt; Certificates -&gt; Import. Android: Settings -&gt;
Security -&gt; Install from storage.</p></body></html>"""
STUB = """<!doctype html><html><head><meta charset="utf-8"><title>Access restricted</title></head>
<body><h1>Access requires the national security certificate</h1>
<p>Install it from <a href="http://qca.kz/">http://qca.kz/</a> to continue.</p></body></html>"""


def ca_files(ca_dir: Path) -> dict[str, tuple[bytes, str]]:
    """URL path -> (body, content type) for every root the portal hands out."""
    out = {}
    for label, (stem, _) in FILES.items():
        cert = NationalCA.load(ca_dir / label, GENERATIONS[label]).root.cert
        der = cert.public_bytes(serialization.Encoding.DER)
        out[f"{stem}.cer"] = (der, "application/pkix-cert")
        out[f"{stem}.der"] = (der, "application/x-x509-ca-cert")
        out[f"{stem}.pem"] = (cert.public_bytes(serialization.Encoding.PEM), "application/x-pem-file")
    return out


class Portal(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[bytes, str]]] = {}  # set once the CAs are made
    wanted: ClassVar[threading.Event] = threading.Event()  # a download asked for them
    made: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        if host != PORTAL_HOST:  # a walled-garden subscriber's request for another site
            self._send(302, STUB.encode(), "text/html; charset=utf-8", {"Location": f"http://{PORTAL_HOST}/"})
        elif self.path == "/":
            links = "".join(
                f'<li><a href="{s}.cer">{name} ({s}.cer, .pem, .der)</a></li>' for s, name in FILES.values()
            )
            self._send(200, INSTRUCTIONS.format(links=links).encode(), "text/html; charset=utf-8")
        elif self.path.endswith((".cer", ".der", ".pem")) and not self.made.is_set():
            self.wanted.set()  # the first download has the CAs made, and waits for them
            if self.made.wait(MAKE_WAIT):
                self.do_GET()
            else:
                self._send(503, b"not ready\n", "text/plain", {"Retry-After": "1"})
        elif self.path in self.files:
            self._send(200, *self.files[self.path])
        else:
            self._send(404, b"not found\n", "text/plain")

    do_POST = do_GET  # noqa: N815 - walled-garden POSTs get the same stub

    def _send(self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stdout.write(f"{self.client_address[0]} {self.headers.get('Host')} {fmt % args}\n")


def make_cas(root: Path, portal: type[Portal] = Portal) -> None:
    """Once someone needs them (a download, or national_ca.wait_ready's WANTED marker),
    make every generation's CA (RSA-4096 roots: seconds of CPU), then have ``portal``
    serve their files. Whoever needs a CA waits for its READY marker; a download waits
    for the files."""
    while not (portal.wanted.wait(WANT_POLL) or (root / WANTED).exists()):
        pass
    for label, generation in GENERATIONS.items():
        directory = root / label
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        NationalCA.create(generation).write(directory)
        (directory / READY).touch()
    portal.files = ca_files(root)
    portal.made.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--ca-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    server = serve("portal", args.listen, 80, Portal)
    if server is None:
        return 1
    threading.Thread(target=make_cas, args=(args.ca_dir,), daemon=True).start()
    return run_forever(server)


if __name__ == "__main__":
    sys.exit(main())
