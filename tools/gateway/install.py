"""Install the national root on this host, as subscribers were told to (kazakhstan.md 1.1).

Run inside a client host: it downloads the certificate from the ISP's portal
(http://qca.kz/qazca.pem, or the 2020 root) over the lab network with the host's own
resolver, then adds it to this host's own trust stores: the CA bundle that curl,
openssl and Python read (/etc/ssl/certs/ca-certificates.crt, private to the host) and
the NSS database Chromium reads ($HOME/.pki/nssdb).

    python -m tools.gateway.install [--generation 2019|2020]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509

from tools.gateway.portal import FILES, PORTAL_HOST

BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def nssdb() -> Path:
    return Path(os.environ.get("HOME", "/root")) / ".pki" / "nssdb"


def install(generation: str) -> str:
    """Download and install the root; returns its subject."""
    stem, _ = FILES[generation]
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://{PORTAL_HOST}{stem}.pem", timeout=10) as resp:
                data = resp.read()
            break
        except urllib.error.HTTPError as exc:  # 503: the portal is still making the CA
            if exc.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    cert = x509.load_pem_x509_certificate(data)
    subject = cert.subject.rfc4514_string()
    if data not in BUNDLE.read_bytes():
        with open(BUNDLE, "ab") as f:
            f.write(b"\n" + data)
    with tempfile.NamedTemporaryFile(suffix=".pem") as tmp:
        tmp.write(data)
        tmp.flush()
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{nssdb()}", "-n", subject, "-t", "C,,", "-i", tmp.name],
            check=True,
            capture_output=True,
        )
    return subject


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generation", default="2019", choices=sorted(FILES))
    args = parser.parse_args(argv)
    try:
        subject = install(args.generation)
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        print(f"install: failed: {exc}", file=sys.stderr)
        return 1
    print(f"installed {subject} into {BUNDLE} and {nssdb()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
