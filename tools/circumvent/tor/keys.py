"""The keys of the lab's Tor network, made per run in each tor's DataDirectory (in the
run's private directory), never kept.

Each relay gets its RSA identity (``keys/secret_id_key``; tor makes its ed25519 and onion
keys itself when it starts, and its fingerprint is the SHA-1 of that key's public DER);
each directory authority also gets a v3 identity and a signing key, which ``tor-gencert``
certifies. The RSA keys are made with ``cryptography``: tor-gencert and ``tor
--list-fingerprint`` make the same keys with the system's OpenSSL 3.0 at 0.6-3 s of CPU
each, which the lab's start-up cannot spare.

    python -m tools.circumvent.tor.keys DATADIR ADDRESS:DIRPORT

makes one authority's keys and certificate. network.py runs one such process per
authority, side by side: making an RSA key holds Python's GIL, and the lab builds its
network in the same process meanwhile.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tools.services.pki import write_private

IDENTITY_BITS = 1024  # a relay's RSA identity (tor-spec: 1024-bit, e = 65537)
AUTHORITY_BITS = (3072, 2048)  # an authority's v3 identity and signing keys, as tor-gencert makes them
CERT_MONTHS = 12


def _rsa_key(path: Path, bits: int) -> rsa.RSAPrivateKey:
    """A new RSA key (e = 65537) written where tor reads it (PEM, PKCS#1)."""
    key = rsa.generate_private_key(65537, bits)
    private = serialization.PrivateFormat.TraditionalOpenSSL
    write_private(path, key.private_bytes(serialization.Encoding.PEM, private, serialization.NoEncryption()))
    return key


def _keys(directory: Path) -> Path:
    keys = directory / "keys"
    keys.mkdir(exist_ok=True, mode=0o700)
    return keys


def identity(directory: Path) -> str:
    """The relay identity of the tor whose DataDirectory is ``directory`` (made if it has
    none yet): its fingerprint, 40 upper-case hex digits. A key read back is one this
    module made, so its (slow) consistency check is skipped."""
    path = _keys(directory) / "secret_id_key"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
    else:
        key = _rsa_key(path, IDENTITY_BITS)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return hashlib.sha1(der).hexdigest().upper()


def authority_keys(directory: Path, dir_address: str) -> None:
    """Make the v3 identity, signing key and certificate (for ``dir_address``,
    ADDRESS:DIRPORT) of an authority if it has none yet: tor-gencert reuses the keys made
    here and signs the certificate."""
    keys = _keys(directory)
    cert = keys / "authority_certificate"
    if cert.exists():
        return
    ident, signing = keys / "authority_identity_key", keys / "authority_signing_key"
    _rsa_key(ident, AUTHORITY_BITS[0])
    _rsa_key(signing, AUTHORITY_BITS[1])
    argv = ["tor-gencert", "--reuse", "--passphrase-fd", "0", "-i", str(ident), "-s", str(signing)]
    argv += ["-c", str(cert), "-m", str(CERT_MONTHS), "-a", dir_address]
    done = subprocess.run(argv, input="\n", capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"tor-gencert for {dir_address}: {done.stderr.strip() or done.stdout.strip()}")


def v3ident(directory: Path) -> str:
    """The v3ident of the authority whose DataDirectory is ``directory``: the fingerprint
    its certificate names."""
    cert = directory / "keys" / "authority_certificate"
    for line in cert.read_text().splitlines():
        if line.startswith("fingerprint "):
            return line.split()[1]
    raise RuntimeError(f"{cert}: no fingerprint line")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tools.circumvent.tor.keys DATADIR ADDRESS:DIRPORT", file=sys.stderr)
        return 2
    directory = Path(argv[0])
    identity(directory)
    authority_keys(directory, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
