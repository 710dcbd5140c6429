"""The lab's "global web PKI": a root every client trusts by default, made at run time.

It stands for the public CAs that browsers and operating systems ship. It issues each
site a certificate with the real site's names (subject CN and subjectAltName), so that
what a client or an interception device sees matches what the measurements describe.
Keys are made per run in the run's private directory and never leave it.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GLOBAL_ROOT_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kzlab Global Web PKI"),
        x509.NameAttribute(NameOID.COMMON_NAME, "kzlab Global Root CA"),
    ]
)


def write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by root alone (0600, also if the file existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class CertificateAuthority:
    """A CA that can issue leaf certificates; ``chain`` is what it sends above a leaf."""

    key: CertificateIssuerPrivateKeyTypes
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @classmethod
    def new_root(
        cls,
        name: x509.Name = GLOBAL_ROOT_NAME,
        key: CertificateIssuerPrivateKeyTypes | None = None,
        not_before: dt.datetime | None = None,
        years: int = 20,
    ) -> CertificateAuthority:
        """A self-signed root; by default an EC P-256 key, valid from a year ago."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        return cls(key, builder.sign(key, hashes.SHA256()))

    def issue_leaf(
        self,
        names: tuple[str, ...],
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
        days: int = 90,
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey]:
        """A TLS server certificate: CN ``names[0]``, SAN ``names[1:]`` (or the CN)."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        sans = names[1:] or names[:1]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30))
            .not_valid_after(now - dt.timedelta(days=30) + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        return builder.sign(self.key, hashes.SHA256()), key

    def write_leaf(self, directory: Path, stem: str, names: tuple[str, ...]) -> tuple[Path, Path]:
        """Issue a leaf and write ``stem.crt`` (leaf + chain) and ``stem.key`` (0600)."""
        cert, key = self.issue_leaf(names)
        crt_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        crt_path.write_bytes(pem(cert) + b"".join(pem(c) for c in self.chain))
        write_private(key_path, key_pem(key))
        return crt_path, key_path


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
