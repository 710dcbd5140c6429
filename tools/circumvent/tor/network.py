"""The lab's private Tor network as data: its relays, their ports, where each keeps its
data in the run's private directory, their keys, and the DirAuthority lines that make
every tor of the lab (relays, the bridge, clients) trust this network's authorities.

Keys are made per run, never kept: each relay's RSA identity (``keys/secret_id_key``;
tor makes its ed25519 and onion keys itself when it starts, and its fingerprint is the
SHA-1 of that key's public DER), and for each directory authority a v3 identity and a
signing key, certified by ``tor-gencert``. The keys themselves are made with
``cryptography``: tor-gencert and ``tor --list-fingerprint`` make the same keys with the
system's OpenSSL 3.0 at 0.6-3 s of CPU each, which the lab's start-up cannot spare.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tools.services.pki import write_private
from topologies.model import Service, TopologyModel

IDENTITY_BITS = 1024  # a relay's RSA identity (tor-spec: 1024-bit, e = 65537)
AUTHORITY_BITS = (3072, 2048)  # an authority's v3 identity and signing keys, as tor-gencert makes them
CERT_MONTHS = 12


@dataclass(frozen=True)
class Relay:
    nickname: str
    role: str  # "authority", "relay" (a guard or middle) or "exit"
    address: str
    orport: int
    dirport: int


def service_of(model: TopologyModel) -> Service:
    """The model's Tor network (its ``tor_network`` service)."""
    return next(service for _, service in model.services("tor_network"))


def relays(service: Service) -> list[Relay]:
    """The relays a ``tor_network`` service runs (its ``relays``: nickname, role,
    address each; all on its ``orport`` and ``dirport``)."""
    ports = service.params["orport"], service.params["dirport"]
    return [Relay(*relay, *ports) for relay in service.params["relays"]]


def authorities(service: Service) -> list[Relay]:
    return [relay for relay in relays(service) if relay.role == "authority"]


def home(rundir: Path) -> Path:
    """Where every tor of the lab's network keeps its data: the run's private directory."""
    return rundir / "tor"


def datadir(rundir: Path, nickname: str) -> Path:
    """A tor's DataDirectory, private to root as tor requires."""
    path = home(rundir) / nickname
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def resolv_conf(rundir: Path, service: Service) -> Path:
    """The resolver configuration of the network's relays (the exit's operator's choice)."""
    path = home(rundir) / "resolv.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"nameserver {service.params['resolver']}\n")
    return path


def _rsa_key(path: Path, bits: int) -> rsa.RSAPrivateKey:
    """A new RSA key (e = 65537) written where tor reads it (PEM, PKCS#1)."""
    key = rsa.generate_private_key(65537, bits)
    private = serialization.PrivateFormat.TraditionalOpenSSL
    write_private(path, key.private_bytes(serialization.Encoding.PEM, private, serialization.NoEncryption()))
    return key


def identity(directory: Path) -> str:
    """The relay identity of the tor whose DataDirectory is ``directory`` (made if it has
    none yet): its fingerprint, 40 upper-case hex digits. A key read back is one this
    module made, so its (slow) consistency check is skipped."""
    keys = directory / "keys"
    keys.mkdir(exist_ok=True, mode=0o700)
    path = keys / "secret_id_key"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
    else:
        key = _rsa_key(path, IDENTITY_BITS)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return hashlib.sha1(der).hexdigest().upper()


def authority_certificate(directory: Path, authority: Relay) -> str:
    """The v3 identity, signing key and certificate of an authority (tor-gencert reuses
    the keys made here and signs the certificate): its v3ident fingerprint."""
    keys = directory / "keys"
    keys.mkdir(exist_ok=True, mode=0o700)
    cert = keys / "authority_certificate"
    if not cert.exists():
        ident, signing = keys / "authority_identity_key", keys / "authority_signing_key"
        _rsa_key(ident, AUTHORITY_BITS[0])
        _rsa_key(signing, AUTHORITY_BITS[1])
        argv = ["tor-gencert", "--reuse", "--passphrase-fd", "0", "-i", str(ident), "-s", str(signing)]
        argv += ["-c", str(cert), "-m", str(CERT_MONTHS), "-a", f"{authority.address}:{authority.dirport}"]
        done = subprocess.run(argv, input="\n", capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"tor-gencert for {authority.nickname}: {done.stderr.strip() or done.stdout.strip()}")
    for line in cert.read_text().splitlines():
        if line.startswith("fingerprint "):
            return line.split()[1]
    raise RuntimeError(f"{cert}: no fingerprint line")


def dir_authority_lines(rundir: Path, service: Service) -> list[str]:
    """The DirAuthority lines of the network (made once per run, keys included)."""
    path = home(rundir) / "dir-authorities"
    if not path.exists():
        lines = []
        for relay in authorities(service):
            directory = datadir(rundir, relay.nickname)
            v3ident = authority_certificate(directory, relay)
            fingerprint = identity(directory)
            lines.append(
                f"DirAuthority {relay.nickname} orport={relay.orport} no-v2 v3ident={v3ident} "
                f"{relay.address}:{relay.dirport} {fingerprint}"
            )
        path.write_text("\n".join(lines) + "\n")
    return path.read_text().splitlines()
