"""The national CA of the 2019 and 2020 interception, and the leaves it forged.

2019 (kazakhstan.md 1.8): root "C=KZ, CN=Qaznet Trust Network" (RSA-4096, 30 years,
2016-02-02..2046-02-02) -> intermediate "C=KZ, CN=Security Certificate" (RSA-2048,
e=65537, 3-year validity) -> forged leaf. 2020 (section 2): root "Information Security
Certification Authority CA" (2020-02-28..2040); its intermediate here is named after the
"C=KZ, O=ISCA" issuers OONI saw later, an assumption since the 2020 chain's middle is
not documented. Keys are made at run time into the run's private directory.

Deviation: the 2019 intermediate's real 3-year window has passed; the lab's keeps 3
years but starts a year before the lab's clock, so the chain validates today.

A forged leaf follows 1.7: subject and subjectAltName copied from the server's REAL
certificate (not from the SNI), a fresh RSA-2048 key with public exponent 3 per host,
validity copied from the real certificate shifted 6 hours earlier (24 hours from
2019-07-30: ``shift_hours``), the real serial with its last 33 bits randomised, and
every other extension dropped. The device keeps the keys of the ``key_limit`` hosts it
forged for most recently (HOST_KEYS); a host forgotten gets a fresh key at its next
forging.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tools.services.pki import CertificateAuthority, key_pem, pem, write_private

UTC = dt.UTC
SERIAL_RANDOM_BITS = 33
HOST_KEYS = 1024  # hosts whose leaf key is kept, the least recently used forgotten first
SPARE_NICENESS = 10  # the spare keys take only the CPU the lab leaves idle


READY = "ready"  # written last into a generation's directory, once all its files are there
WANTED = "wanted"  # in the CA directory: someone needs the CAs, the portal makes them now


def ca_dir(rundir: Path) -> Path:
    """Where a run keeps the national CA (private: the run directory is 0700)."""
    return rundir / "national"


def wait_ready(directory: Path, timeout: float = 30.0) -> None:
    """Ask the portal for a generation's CA (it makes the CAs on first need: RSA-4096 roots
    cost seconds of CPU that a lab which never intercepts does not spend) and wait for it."""
    directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory.parent / WANTED).touch()
    deadline = time.monotonic() + timeout
    while not (directory / READY).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the national CA in {directory} was not made within {timeout:.0f}s")
        time.sleep(0.1)


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


@dataclass(frozen=True)
class Generation:
    """One national root and its intermediate, as measured."""

    label: str
    root_name: x509.Name
    root_bits: int
    root_validity: tuple[dt.datetime, dt.datetime]
    intermediate_name: x509.Name
    intermediate_days: int


QAZNET_2019 = Generation(
    "2019",
    _name((NameOID.COUNTRY_NAME, "KZ"), (NameOID.COMMON_NAME, "Qaznet Trust Network")),
    4096,
    (dt.datetime(2016, 2, 2, tzinfo=UTC), dt.datetime(2046, 2, 2, tzinfo=UTC)),
    _name((NameOID.COUNTRY_NAME, "KZ"), (NameOID.COMMON_NAME, "Security Certificate")),
    3 * 365,
)
ISCA_2020 = Generation(
    "2020",
    _name((NameOID.COMMON_NAME, "Information Security Certification Authority CA")),
    4096,
    (dt.datetime(2020, 2, 28, tzinfo=UTC), dt.datetime(2040, 2, 28, tzinfo=UTC)),
    _name(
        (NameOID.COUNTRY_NAME, "KZ"),
        (NameOID.ORGANIZATION_NAME, "ISCA"),
        (NameOID.COMMON_NAME, "Information Security Certification Authority"),
    ),
    75,
)
GENERATIONS = {g.label: g for g in (QAZNET_2019, ISCA_2020)}


def _self_signed(gen: Generation, key: rsa.RSAPrivateKey) -> x509.Certificate:
    start, end = gen.root_validity
    return (
        x509.CertificateBuilder()
        .subject_name(gen.root_name)
        .issuer_name(gen.root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _intermediate(gen: Generation, root: CertificateAuthority, key: rsa.RSAPrivateKey) -> x509.Certificate:
    start = dt.datetime.now(UTC) - dt.timedelta(days=min(365, gen.intermediate_days // 2))
    return (
        x509.CertificateBuilder()
        .subject_name(gen.intermediate_name)
        .issuer_name(gen.root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=gen.intermediate_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()), critical=False)
        .sign(root.key, hashes.SHA256())
    )


def host_key_now() -> rsa.RSAPrivateKey:
    """One fresh leaf key as the device made them: RSA-2048, public exponent 3 (1.7)."""
    return rsa.generate_private_key(3, 2048)


class SpareKeys:
    """Fresh leaf keys made ahead by a background thread at low priority, so that a host's
    first interception does not wait for its key. Each key is handed out once: every host
    still gets a key of its own (1.7), only made earlier. ``count`` 0 makes none ahead."""

    def __init__(self, count: int) -> None:
        self.ready: queue.Queue[rsa.RSAPrivateKey] = queue.Queue(maxsize=max(count, 1))
        if count > 0:
            threading.Thread(target=self._fill, daemon=True, name="spare-keys").start()

    def _fill(self) -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SPARE_NICENESS)
        while True:
            self.ready.put(host_key_now())  # blocks while the pool is full

    def wait(self, count: int, timeout: float) -> None:
        """Until ``count`` spares are ready (at most the pool's size) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while self.ready.qsize() < min(count, self.ready.maxsize) and time.monotonic() < deadline:
            time.sleep(0.05)

    def take(self) -> rsa.RSAPrivateKey:
        try:
            return self.ready.get_nowait()
        except queue.Empty:
            return host_key_now()


@dataclass
class NationalCA:
    """A national root, its intermediate, and a forger of leaves (1.7)."""

    generation: Generation
    root: CertificateAuthority
    intermediate: CertificateAuthority
    shift_hours: int = 6
    key_limit: int = HOST_KEYS
    _host_keys: OrderedDict[str, rsa.RSAPrivateKey] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    spares: SpareKeys = field(default_factory=lambda: SpareKeys(0))

    @classmethod
    def create(cls, generation: Generation = QAZNET_2019) -> NationalCA:
        root_key = rsa.generate_private_key(65537, generation.root_bits)
        root = CertificateAuthority(root_key, _self_signed(generation, root_key))
        inter_key = rsa.generate_private_key(65537, 2048)
        inter = CertificateAuthority(inter_key, _intermediate(generation, root, inter_key))
        return cls(generation, root, inter)

    def write(self, directory: Path) -> None:
        """root.pem/.key and intermediate.pem/.key (keys 0600) into a private directory."""
        for stem, ca in (("root", self.root), ("intermediate", self.intermediate)):
            (directory / f"{stem}.pem").write_bytes(pem(ca.cert))
            write_private(directory / f"{stem}.key", key_pem(ca.key))

    @classmethod
    def load(cls, directory: Path, generation: Generation) -> NationalCA:
        def ca(stem: str) -> CertificateAuthority:
            key = serialization.load_pem_private_key((directory / f"{stem}.key").read_bytes(), None)
            if not isinstance(key, rsa.RSAPrivateKey):  # create() makes RSA keys only
                raise ValueError(f"{directory / stem}.key holds no RSA key but a {type(key).__name__}")
            return CertificateAuthority(key, x509.load_pem_x509_certificate((directory / f"{stem}.pem").read_bytes()))

        return cls(generation, ca("root"), ca("intermediate"))

    def host_key(self, host: str) -> rsa.RSAPrivateKey:
        """A fresh RSA-2048 key with public exponent 3, one per host (1.7): a spare made
        ahead if there is one, else made now, outside the lock, so that hosts seen for the
        first time at once are keyed side by side (an e=3 key takes 0.1 s idle, over 1 s
        on a loaded 2-core machine)."""
        with self._lock:
            if (known := self._host_keys.get(host)) is not None:
                self._host_keys.move_to_end(host)
                return known
        fresh = self.spares.take()
        with self._lock:
            key = self._host_keys.setdefault(host, fresh)  # a concurrent first use of the host wins
            self._host_keys.move_to_end(host)
            while len(self._host_keys) > self.key_limit:
                self._host_keys.popitem(last=False)
            return key

    def forge(self, real: x509.Certificate) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        """The leaf the device serves in place of ``real`` (see the module docstring)."""
        try:
            san = real.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            san = None
        host = real.subject.rfc4514_string()
        key = self.host_key(host)
        shift = dt.timedelta(hours=self.shift_hours)
        serial = (real.serial_number >> SERIAL_RANDOM_BITS << SERIAL_RANDOM_BITS) | secrets.randbits(SERIAL_RANDOM_BITS)
        builder = (
            x509.CertificateBuilder()
            .subject_name(real.subject)
            .issuer_name(self.intermediate.cert.subject)
            .public_key(key.public_key())
            .serial_number(max(serial, 1))
            .not_valid_before(real.not_valid_before_utc - shift)
            .not_valid_after(real.not_valid_after_utc - shift)
        )
        if san is not None:
            builder = builder.add_extension(san.value, critical=san.critical)
        return builder.sign(self.intermediate.key, hashes.SHA256()), key

    def chain_pem(self) -> bytes:
        """What the device sends above a forged leaf: the intermediate (1.8)."""
        return pem(self.intermediate.cert)
