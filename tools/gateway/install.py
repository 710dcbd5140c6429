"""Install the national root on this host, as subscribers were told to (kazakhstan.md 1.1).

Run inside a client host: it downloads the certificate from the ISP's portal
(http://qca.kz/qazca.pem, or the 2020 root) over the lab network with the host's own
resolver, then adds it to this host's own trust stores: the CA bundle that curl,
openssl and Python read (/etc/ssl/certs/ca-certificates.crt, private to the host) and
the NSS database Chromium reads ($HOME/.pki/nssdb).

It first checks that both are the host's private ones (topologies/build.py bind-mounts
the host's own directory on /etc/ssl/certs in the host's mount namespace and points
$HOME into the run): anywhere else, the machine's real trust store, say, it refuses
with one line and exit status 2, before downloading anything.

    python -m tools.gateway.install [--generation 2019|2020]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509

from tools.basics.paths import RUN_ROOT
from tools.gateway.portal import FILES, MAKE_WAIT, PORTAL_HOST

BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
MOUNTINFO = Path("/proc/self/mountinfo")
# A lab host's own files, as build.host_files lays them out: RUN_ROOT/<run>/hosts/<node>/
# (the mount's root is relative to its file system, which may be RUN_ROOT's parent's).
LAB_HOST = rf"/{RUN_ROOT.name}/[0-9a-f]+/hosts/[^/]+/"
EXIT_REFUSED = 2


class NotPrivate(RuntimeError):
    """The trust store at hand is not this lab host's own: installing would change another's."""


def nssdb() -> Path:
    return Path(os.environ.get("HOME", "/root")) / ".pki" / "nssdb"


def mounts(mountinfo: Path = MOUNTINFO) -> list[tuple[str, str]]:
    """(root within its file system, mount point) of every mount in this mount namespace,
    in mount order (a later mount on the same point covers an earlier one)."""
    out = []
    for line in mountinfo.read_text().splitlines():
        fields = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), f) for f in line.split()]
        out.append((fields[3], fields[4]))
    return out


def check_private(certs: Path = BUNDLE.parent, home_nssdb: Path | None = None, mountinfo: Path = MOUNTINFO) -> None:
    """NotPrivate unless ``certs`` is a mount, in this mount namespace, of a lab host's own
    certs directory (so writing it cannot reach the machine's), the bundle in it is a
    plain file, and the NSS database is in a lab host's home."""
    roots = [root for root, point in mounts(mountinfo) if point == str(certs)]
    if not roots:
        raise NotPrivate(f"{certs} is not a mount point in this mount namespace: not a lab host's own trust store")
    if not re.search(LAB_HOST + "certs$", roots[-1]):
        raise NotPrivate(f"{certs} is mounted from {roots[-1]}, not from a lab host's own directory")
    if (certs / BUNDLE.name).is_symlink():
        raise NotPrivate(f"{certs / BUNDLE.name} is a symbolic link: it may lead out of the host's own directory")
    database = (home_nssdb or nssdb()).resolve()
    if not re.search(LAB_HOST + r"home/\.pki/nssdb$", str(database)):
        raise NotPrivate(f"NSS database {database} is not in a lab host's home")


def install(generation: str) -> str:
    """Download and install the root into this host's own trust stores (NotPrivate if
    they are not its own: checked before anything is fetched); returns its subject."""
    check_private()
    stem, _ = FILES[generation]
    deadline = time.monotonic() + MAKE_WAIT
    while True:
        try:  # the first download waits while the portal makes the CAs (seconds)
            with urllib.request.urlopen(f"http://{PORTAL_HOST}{stem}.pem", timeout=MAKE_WAIT + 10) as resp:
                data = resp.read()
            break
        except urllib.error.HTTPError as exc:  # 503: the portal is still making the CA
            if exc.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        except urllib.error.URLError as exc:  # qca.kz not resolved yet (a resolver still starting)
            temporary = isinstance(exc.reason, socket.gaierror) and exc.reason.errno == socket.EAI_AGAIN
            if not temporary or time.monotonic() > deadline:
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
    except NotPrivate as exc:
        print(f"kzlab: error: refusing to install the national root: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        print(f"install: failed: {exc}", file=sys.stderr)
        return 1
    print(f"installed {subject} into {BUNDLE} and {nssdb()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
