"""The national CA (tools.gateway.national_ca) and the target list (tools.gateway.targets).

Checked against kazakhstan.md: the 2019 chain of 1.8, the 2020 root of section 2, the
forged leaf of 1.7 and the 37 names of 1.3. RSA-4096 key generation is slow, so each
generation's CA is made once per module.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import Criticality, ExtensionPolicy, PolicyBuilder, Store

from tools.gateway import targets
from tools.gateway.national_ca import ISCA_2020, QAZNET_2019, SERIAL_RANDOM_BITS, NationalCA
from tools.services.pki import CertificateAuthority, key_pem, pem

UTC = dt.UTC
LOW = (1 << SERIAL_RANDOM_BITS) - 1
FACEBOOK = ("*.facebook.com", "*.facebook.com", "facebook.com")


@pytest.fixture(scope="module")
def ca2019() -> NationalCA:
    return NationalCA.create(QAZNET_2019)


@pytest.fixture(scope="module")
def ca2020() -> NationalCA:
    return NationalCA.create(ISCA_2020)


@pytest.fixture(scope="module")
def web_root() -> CertificateAuthority:
    """The lab's stand-in for the public web PKI that issued the real certificates."""
    return CertificateAuthority.new_root()


@pytest.fixture(scope="module")
def real_facebook(web_root: CertificateAuthority) -> x509.Certificate:
    return web_root.issue_leaf(FACEBOOK)[0]


def attrs(name: x509.Name) -> list[tuple[str, str]]:
    return [(a.oid.dotted_string, a.value) for a in name]


def C(value: str) -> tuple[str, str]:  # noqa: N802 - reads like the RDN
    return (NameOID.COUNTRY_NAME.dotted_string, value)


def CN(value: str) -> tuple[str, str]:  # noqa: N802
    return (NameOID.COMMON_NAME.dotted_string, value)


def rsa_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def sans(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


# -- the 2019 and 2020 chains ----------------------------------------------------------


def test_2019_root(ca2019: NationalCA) -> None:
    """The 2019 root is C=KZ, CN=Qaznet Trust Network, RSA-4096, self-signed, valid
    2016-02-02..2046-02-02 (kazakhstan.md 1.8)."""
    root = ca2019.root.cert
    assert set(attrs(root.subject)) == {C("KZ"), CN("Qaznet Trust Network")}
    assert root.issuer == root.subject
    assert rsa_key(root).key_size == 4096
    assert root.not_valid_before_utc == dt.datetime(2016, 2, 2, tzinfo=UTC)
    assert root.not_valid_after_utc == dt.datetime(2046, 2, 2, tzinfo=UTC)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    root.verify_directly_issued_by(root)


def test_2019_intermediate(ca2019: NationalCA) -> None:
    """The intermediate is C=KZ, CN=Security Certificate, RSA-2048 with e=65537, issued and signed
    by the root, valid about 3 years and valid now (kazakhstan.md 1.8)."""
    inter = ca2019.intermediate.cert
    assert set(attrs(inter.subject)) == {C("KZ"), CN("Security Certificate")}
    assert inter.issuer == ca2019.root.cert.subject
    inter.verify_directly_issued_by(ca2019.root.cert)
    key = rsa_key(inter)
    assert key.key_size == 2048
    assert key.public_numbers().e == 65537
    lifetime = inter.not_valid_after_utc - inter.not_valid_before_utc
    assert abs(lifetime - dt.timedelta(days=3 * 365)) <= dt.timedelta(days=2)
    now = dt.datetime.now(UTC)
    assert inter.not_valid_before_utc < now < inter.not_valid_after_utc
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca2019.chain_pem() == pem(inter)


def test_2020_root(ca2020: NationalCA) -> None:
    """The 2020 root is "Information Security Certification Authority CA", valid from 2020-02-28
    into 2040 (kazakhstan.md section 2), and signs a currently valid intermediate."""
    root = ca2020.root.cert
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Information Security Certification Authority CA"
    )
    assert root.issuer == root.subject
    assert root.not_valid_before_utc == dt.datetime(2020, 2, 28, tzinfo=UTC)
    assert root.not_valid_after_utc.year == 2040
    ca2020.intermediate.cert.verify_directly_issued_by(root)
    now = dt.datetime.now(UTC)
    assert ca2020.intermediate.cert.not_valid_before_utc < now < ca2020.intermediate.cert.not_valid_after_utc


def test_2020_intermediate_is_an_isca_one(ca2020: NationalCA) -> None:
    """The 2020 intermediate is issued to C=KZ, O=ISCA with a 75-day validity (section 2, OONI 2024)."""
    inter = ca2020.intermediate.cert
    assert inter.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "KZ"
    assert inter.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "ISCA"
    assert inter.not_valid_after_utc - inter.not_valid_before_utc == dt.timedelta(days=75)


# -- forged leaves (1.7) ----------------------------------------------------------------


def test_forged_leaf_copies_the_real_names(ca2019: NationalCA, real_facebook: x509.Certificate) -> None:
    """A forged leaf has the real certificate's subject and subjectAltName, and the intermediate as
    issuer (kazakhstan.md 1.7, 1.8)."""
    leaf, _ = ca2019.forge(real_facebook)
    assert leaf.subject == real_facebook.subject
    assert sans(leaf) == sans(real_facebook) == ["*.facebook.com", "facebook.com"]
    assert leaf.issuer == ca2019.intermediate.cert.subject


def test_forged_key_is_rsa2048_e3_per_host(ca2019: NationalCA, web_root: CertificateAuthority) -> None:
    """Each host gets a fresh RSA-2048 key with public exponent 3, reused for the same host and
    different for another (kazakhstan.md 1.7); the returned private key matches the certificate."""
    real = web_root.issue_leaf(("www.instagram.com", "www.instagram.com"))[0]
    other = web_root.issue_leaf(("vk.com", "vk.com"))[0]
    leaf1, key1 = ca2019.forge(real)
    leaf2, key2 = ca2019.forge(real)
    leaf3, _ = ca2019.forge(other)
    pub = rsa_key(leaf1).public_numbers()
    assert rsa_key(leaf1).key_size == 2048
    assert pub.e == 3
    assert key1.public_key().public_numbers() == pub
    assert rsa_key(leaf2).public_numbers() == pub
    assert key2.private_numbers() == key1.private_numbers()
    assert rsa_key(leaf3).public_numbers().n != pub.n


@pytest.mark.parametrize("shift_hours", [6, 24])
def test_forged_validity_is_shifted_earlier(
    ca2019: NationalCA, real_facebook: x509.Certificate, shift_hours: int
) -> None:
    """Validity is the real one shifted 6 hours earlier, 24 hours from 2019-07-30 (kazakhstan.md 1.7)."""
    ca = NationalCA(ca2019.generation, ca2019.root, ca2019.intermediate, shift_hours=shift_hours)
    leaf, _ = ca.forge(real_facebook)
    shift = dt.timedelta(hours=shift_hours)
    assert leaf.not_valid_before_utc == real_facebook.not_valid_before_utc - shift
    assert leaf.not_valid_after_utc == real_facebook.not_valid_after_utc - shift


def test_default_shift_is_six_hours(ca2019: NationalCA) -> None:
    """NationalCA.create() forges with the 6-hour shift of the first period (kazakhstan.md 1.7)."""
    assert ca2019.shift_hours == 6


def test_forged_serial_randomises_only_the_last_33_bits(ca2019: NationalCA, real_facebook: x509.Certificate) -> None:
    """The serial is the real one with its last 33 bits randomised (kazakhstan.md 1.7): the high bits
    are kept, and the low bits vary between forgeries."""
    lows = set()
    for _ in range(8):
        serial = ca2019.forge(real_facebook)[0].serial_number
        assert serial >> SERIAL_RANDOM_BITS == real_facebook.serial_number >> SERIAL_RANDOM_BITS
        assert serial > 0
        lows.add(serial & LOW)
    assert SERIAL_RANDOM_BITS == 33
    assert len(lows) >= 7


def test_forged_leaf_drops_every_other_extension(ca2019: NationalCA, real_facebook: x509.Certificate) -> None:
    """Of the real certificate's extensions only subjectAltName survives (kazakhstan.md 1.7)."""
    assert len(real_facebook.extensions) > 1  # the real one has more to drop
    leaf, _ = ca2019.forge(real_facebook)
    assert [e.oid for e in leaf.extensions] == [x509.SubjectAlternativeName.oid]


def lenient_verifier(root: x509.Certificate, name: str):
    """cryptography's web-PKI verifier, relaxed only where the measured chain differs from
    CA/B rules: 1.7 drops the leaf's authorityKeyIdentifier with every other extension, and
    1.8 does not give the national certificates a keyUsage. RSA e=3 is not relaxed."""
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.AuthorityKeyIdentifier, Criticality.AGNOSTIC, None)
    ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, None)
    return (
        PolicyBuilder()
        .store(Store([root]))
        .extension_policies(ca_policy=ca, ee_policy=ee)
        .build_server_verifier(x509.DNSName(name))
    )


def test_forged_leaf_verifies_against_the_national_chain(ca2019: NationalCA, real_facebook: x509.Certificate) -> None:
    """leaf <- intermediate <- root builds and verifies for facebook.com (kazakhstan.md 1.8).

    The strict cryptography verifier rejects the chain only because the leaf has no
    authorityKeyIdentifier (dropped per 1.7); with that and the CA keyUsage requirement relaxed it
    verifies, the e=3 key included. Signatures are also checked link by link."""
    leaf, _ = ca2019.forge(real_facebook)
    strict = PolicyBuilder().store(Store([ca2019.root.cert])).build_server_verifier(x509.DNSName("facebook.com"))
    with pytest.raises(x509.verification.VerificationError, match=r"2\.5\.29\.35"):
        strict.verify(leaf, [ca2019.intermediate.cert])
    chain = lenient_verifier(ca2019.root.cert, "facebook.com").verify(leaf, [ca2019.intermediate.cert])
    assert chain == [leaf, ca2019.intermediate.cert, ca2019.root.cert]
    leaf.verify_directly_issued_by(ca2019.intermediate.cert)
    ca2019.intermediate.cert.verify_directly_issued_by(ca2019.root.cert)


def test_forged_leaf_does_not_verify_against_another_root(
    ca2019: NationalCA, ca2020: NationalCA, real_facebook: x509.Certificate
) -> None:
    """Without the 2019 root the chain does not verify (1.11: users without the root were cut off)."""
    leaf, _ = ca2019.forge(real_facebook)
    with pytest.raises(x509.verification.VerificationError):
        lenient_verifier(ca2020.root.cert, "facebook.com").verify(leaf, [ca2019.intermediate.cert])


def test_openssl_client_trusting_the_root_accepts_the_forged_leaf(
    ca2019: NationalCA, real_facebook: x509.Certificate, tmp_path: Path
) -> None:
    """An OpenSSL client that installed the national root completes a handshake for facebook.com with
    the forged leaf plus intermediate on loopback: interception is invisible to it (1.10)."""
    leaf, key = ca2019.forge(real_facebook)
    (tmp_path / "chain.pem").write_bytes(pem(leaf) + ca2019.chain_pem())
    (tmp_path / "leaf.key").write_bytes(key_pem(key))
    (tmp_path / "root.pem").write_bytes(pem(ca2019.root.cert))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "chain.pem", tmp_path / "leaf.key")
    listener = socket.create_server(("127.0.0.1", 0))
    errors: list[BaseException] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
        except (OSError, ssl.SSLError) as exc:
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=tmp_path / "root.pem")
    with (
        listener,
        socket.create_connection(listener.getsockname(), timeout=5) as raw,
        client_ctx.wrap_socket(raw, server_hostname="facebook.com") as tls,
    ):
        assert tls.recv(2) == b"ok"
        assert tls.getpeercert()["subject"] == ((("commonName", "*.facebook.com"),),)
    thread.join(5)
    assert not errors


def test_names_come_from_the_real_certificate_not_the_sni(ca2019: NationalCA, web_root: CertificateAuthority) -> None:
    """SNI facebook.com sent to a .kz server that presents its own certificate gets a forged leaf
    named after that server (kazakhstan.md 1.7), which does not verify for facebook.com."""
    real = web_root.issue_leaf(("iqala.kz", "iqala.kz"))[0]
    leaf, _ = ca2019.forge(real)  # forge() is never told the SNI: only the real certificate
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "iqala.kz"
    assert sans(leaf) == ["iqala.kz"]
    lenient_verifier(ca2019.root.cert, "iqala.kz").verify(leaf, [ca2019.intermediate.cert])
    with pytest.raises(x509.verification.VerificationError):
        lenient_verifier(ca2019.root.cert, "facebook.com").verify(leaf, [ca2019.intermediate.cert])


# -- files -----------------------------------------------------------------------------


def test_write_load_round_trip(ca2019: NationalCA, real_facebook: x509.Certificate, tmp_path: Path) -> None:
    """write() then load() gives back the same certificates and keys, and the loaded CA (as the device
    loads it) forges leaves that chain to the written root; the key files are 0600 (the keys are
    what lets the device forge, 1.7)."""
    ca2019.write(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["intermediate.key", "intermediate.pem", "root.key", "root.pem"]
    for stem in ("root", "intermediate"):
        assert stat.S_IMODE((tmp_path / f"{stem}.key").stat().st_mode) == 0o600
    loaded = NationalCA.load(tmp_path, QAZNET_2019)
    assert loaded.generation is QAZNET_2019
    assert loaded.root.cert == ca2019.root.cert
    assert loaded.intermediate.cert == ca2019.intermediate.cert
    assert loaded.root.key.private_numbers() == ca2019.root.key.private_numbers()
    assert loaded.intermediate.key.private_numbers() == ca2019.intermediate.key.private_numbers()
    leaf, _ = loaded.forge(real_facebook)
    lenient_verifier(ca2019.root.cert, "facebook.com").verify(leaf, [ca2019.intermediate.cert])


def test_write_makes_existing_key_files_private(ca2019: NationalCA, tmp_path: Path) -> None:
    """write() promises 0600 key files; rewriting into a directory where a key file already exists
    with mode 0644 (a reused run directory) must still leave it 0600, as pki.write_leaf does."""
    for stem in ("root", "intermediate"):
        (tmp_path / f"{stem}.key").write_bytes(b"old")
        (tmp_path / f"{stem}.key").chmod(0o644)
    ca2019.write(tmp_path)
    for stem in ("root", "intermediate"):
        assert stat.S_IMODE((tmp_path / f"{stem}.key").stat().st_mode) == 0o600, stem


# -- the target list (1.3) ---------------------------------------------------------------

MEASURED_37 = {
    "allo.google.com",
    "android.com",
    "dns.google.com",
    "docs.google.com",
    "encrypted.google.com",
    "goo.gl",
    "google.com",
    "groups.google.com",
    "hangouts.google.com",
    "mail.google.com",
    "messages.android.com",
    "news.google.com",
    "picasa.google.com",
    "plus.google.com",
    "sites.google.com",
    "translate.google.com",
    "video.google.com",
    "www.google.com",
    "www.youtube.com",
    "youtube.com",
    "cdninstagram.com",
    "facebook.com",
    "instagram.com",
    "messenger.com",
    "www.facebook.com",
    "www.instagram.com",
    "www.messenger.com",
    "mail.ru",
    "ok.ru",
    "tamtam.chat",
    "vk.com",
    "vk.me",
    "vkuseraudio.net",
    "vkuservideo.net",
    "rukoeb.com",
    "sosalkino.tv",
    "twitter.com",
}


def test_2019_targets_are_the_37_measured_names() -> None:
    """TARGETS_2019 is exactly the 37 names of kazakhstan.md 1.3, without duplicates; exact names, so
    facebook.com is in and m.facebook.com is not."""
    assert len(MEASURED_37) == 37
    assert len(targets.TARGETS_2019) == 37
    assert set(targets.TARGETS_2019) == MEASURED_37
    assert "facebook.com" in targets.TARGETS_2019
    assert "m.facebook.com" not in targets.TARGETS_2019
    assert targets.TARGETS["2019"] == targets.TARGETS_2019


def test_2020_targets_are_a_subset_of_the_named_organisations() -> None:
    """TARGETS_2020 is a subset of the 2019 names covering Google, Facebook, Twitter, VK and mail.ru
    (section 2), without the 2019 names of other sites."""
    t2020 = set(targets.TARGETS_2020)
    assert t2020 < MEASURED_37
    assert {"google.com", "facebook.com", "twitter.com", "vk.com", "mail.ru"} <= t2020
    assert not {"rukoeb.com", "sosalkino.tv"} & t2020
    assert targets.TARGETS["2020"] == targets.TARGETS_2020
