"""What the services are configured with: the PKI's certificates, the root zone, nginx.

No service is started on a lab address: certificates are checked with cryptography's
verifier, the zone with dnspython, and nginx's configuration with ``nginx -t`` (as root,
with every listener moved to 127.0.0.1 on free ports, since ``-t`` binds them).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tools.probes.netx import TITLE
from tools.services import dns as dns_service
from tools.services import web
from tools.services.base import ServiceContext
from tools.services.pki import GLOBAL_ROOT_NAME, CertificateAuthority, pem
from topologies import kz_isp
from topologies.internet import (
    DOMESTIC,
    FACEBOOK,
    GOOGLE,
    INTERNATIONAL,
    KTHOSTING,
    KZMEDIA,
    Organisation,
    Site,
    all_sites,
)
from topologies.model import TopologyModel

ALL_ORGS = (*INTERNATIONAL, *DOMESTIC, KTHOSTING)


@pytest.fixture(scope="module")
def model() -> TopologyModel:
    return kz_isp.build()


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.new_root()


def verify(root: CertificateAuthority, leaf: x509.Certificate, name: str) -> list[x509.Certificate]:
    verifier = PolicyBuilder().store(Store([root.cert])).build_server_verifier(x509.DNSName(name))
    return verifier.verify(leaf, [])


def cn(cert: x509.Certificate) -> str:
    return cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def san(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ext.get_values_for_type(x509.DNSName)


# -- PKI ------------------------------------------------------------------------------------


def test_root_is_a_self_signed_ca(root: CertificateAuthority) -> None:
    assert root.cert.subject == root.cert.issuer == GLOBAL_ROOT_NAME
    assert root.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    root.cert.verify_directly_issued_by(root.cert)


def test_leaf_names_and_constraints(root: CertificateAuthority) -> None:
    """CN is names[0], SAN names[1:], not a CA, issued (and signed) by the root."""
    leaf, key = root.issue_leaf(("iqala.kz", "iqala.kz", "www.iqala.kz"))
    assert cn(leaf) == "iqala.kz"
    assert san(leaf) == ["iqala.kz", "www.iqala.kz"]
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.issuer == root.cert.subject
    leaf.verify_directly_issued_by(root.cert)
    assert leaf.public_key() == key.public_key()


def test_leaf_with_one_name_puts_it_in_the_san(root: CertificateAuthority) -> None:
    leaf, _ = root.issue_leaf(("only.kz",))
    assert (cn(leaf), san(leaf)) == ("only.kz", ["only.kz"])


@pytest.mark.parametrize("name", ["facebook.com", "www.facebook.com", "messenger.com", "x.fbcdn.net"])
def test_leaf_verifies_for_san_names(root: CertificateAuthority, name: str) -> None:
    """A chain from the Facebook leaf to the root builds for names its SAN covers
    (explicit or one-label wildcard)."""
    from topologies.internet import FB_CERT

    leaf, _ = root.issue_leaf(FB_CERT)
    chain = verify(root, leaf, name)
    assert chain[0] == leaf and chain[-1] == root.cert


@pytest.mark.parametrize("name", ["example.org", "a.b.facebook.com", "facebook.com.evil.kz", "instagram.com"])
def test_leaf_fails_for_names_not_in_san(root: CertificateAuthority, name: str) -> None:
    from topologies.internet import FB_CERT

    leaf, _ = root.issue_leaf(FB_CERT)
    with pytest.raises(VerificationError, match="subjectAltName"):
        verify(root, leaf, name)


def test_leaf_fails_against_another_root(root: CertificateAuthority) -> None:
    leaf, _ = root.issue_leaf(("kaspi.kz", "kaspi.kz"))
    other = CertificateAuthority.new_root()
    with pytest.raises(VerificationError):
        verify(other, leaf, "kaspi.kz")


def test_write_leaf_files(root: CertificateAuthority, tmp_path: Path) -> None:
    """write_leaf writes the leaf (then the CA's chain) and a 0600 key matching it."""
    crt, key = root.write_leaf(tmp_path, "site", ("vk.com", "vk.com", "*.vk.com"))
    assert (crt, key) == (tmp_path / "site.crt", tmp_path / "site.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    certs = x509.load_pem_x509_certificates(crt.read_bytes())
    assert len(certs) == 1
    assert san(certs[0]) == ["vk.com", "*.vk.com"]
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    assert private.public_key() == certs[0].public_key()
    verify(root, certs[0], "m.vk.com")


def test_write_leaf_appends_the_chain(root: CertificateAuthority, tmp_path: Path) -> None:
    """An intermediate's chain follows the leaf in the .crt, so servers send it."""
    inter = CertificateAuthority.new_root(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sub CA")]))
    inter.chain = (inter.cert, root.cert)
    crt, _ = inter.write_leaf(tmp_path, "s", ("a.kz",))
    certs = x509.load_pem_x509_certificates(crt.read_bytes())
    assert [cn(c) for c in certs] == ["a.kz", "Sub CA", "kzlab Global Root CA"]
    assert crt.read_bytes().endswith(pem(root.cert))


# -- DNS ------------------------------------------------------------------------------------


def expected_records() -> dict[str, set[str]]:
    """Every site's address, from the internet module, plus kz_isp's extra records."""
    out: dict[str, set[str]] = {}
    for org in ALL_ORGS:
        for site in org.sites:
            out.setdefault(site.domain, set()).add(site.address)
    for name, address in kz_isp.EXTRA_RECORDS.items():
        out.setdefault(name, set()).add(address)
    return out


def test_root_zone_has_every_site(model: TopologyModel) -> None:
    """The root zone parses and its A records are exactly the sites and extra names."""
    text = dns_service.root_zone(model)
    zone = dns.zone.from_text(text, origin=".", relativize=False)
    found: dict[str, set[str]] = {}
    for name, rdataset in zone.iterate_rdatasets(dns.rdatatype.A):
        found[name.to_text().rstrip(".")] = {r.address for r in rdataset}
    assert found == expected_records()
    assert found["iqala.kz"] == {"92.46.49.10"}
    assert found["facebook.com"] == {all_sites((FACEBOOK,))["facebook.com"].address}


def test_root_zone_soa_and_ns(model: TopologyModel) -> None:
    """The zone's apex has an SOA and an NS naming a.root-servers.net, whose A record is
    the root server's address."""
    text = dns_service.root_zone(model)
    lines = text.splitlines()
    assert lines[0] == "$TTL 300"
    assert lines[1].startswith(". IN SOA a.root-servers.net. ")
    assert lines[2] == ". IN NS a.root-servers.net."
    zone = dns.zone.from_text(text, origin=".", relativize=False)
    soa = zone.find_rdataset(".", "SOA")[0]
    assert soa.mname.to_text() == "a.root-servers.net."
    assert [r.target.to_text() for r in zone.find_rdataset(".", "NS")] == ["a.root-servers.net."]
    glue = zone.find_rdataset("a.root-servers.net.", "A")
    assert [r.address for r in glue] == [kz_isp.ROOT_SERVER]
    assert dns_service.root_server(model) == kz_isp.ROOT_SERVER


def test_zone_records_skip_nodes_without_web(model: TopologyModel) -> None:
    """The resolver and DNS servers' own addresses are not site names."""
    records = model.zone_records()
    assert all(kz_isp.ISP_RESOLVER not in a for a in records.values())
    assert records["th.kzlab.ooni.org"] == {kz_isp.CONTROL_HELPER}


# -- web --------------------------------------------------------------------------------------


def _blocks(conf: str) -> list[str]:
    """The text of each top-level ``server { ... }`` block of the http section."""
    out, depth, start = [], 0, None
    for m in re.finditer(r"server \{|\{|\}", conf):
        if m.group() == "server {" and depth == 1:
            start, depth = m.start(), depth + 1
        elif m.group().endswith("{"):
            depth += 1
        else:
            depth -= 1
            if depth == 1 and start is not None:
                out.append(conf[start : m.end()])
                start = None
    return out


def _config(tmp_path: Path, model: TopologyModel, org: Organisation) -> tuple[str, ServiceContext]:
    ctx = ServiceContext(model, net=None, rundir=tmp_path, named_dir=tmp_path, web_ca=CertificateAuthority.new_root())
    return web.nginx_config(ctx, org.node, org.sites), ctx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("org", [FACEBOOK, GOOGLE, KZMEDIA], ids=lambda o: o.node)
def test_nginx_config(tmp_path: Path, model: TopologyModel, org: Organisation) -> None:
    """One 443 block per site at its address with a certificate for its names, HSTS
    exactly where the site sends it, a 301 to https on port 80 for each; and, as root,
    ``nginx -t`` accepts the file."""
    conf, ctx = _config(tmp_path, model, org)
    blocks = _blocks(conf)
    tls = [b for b in blocks if ":443 ssl;" in b]
    plain = [b for b in blocks if re.search(r"listen [\d.]+:80;", b)]
    assert len(tls) == len(plain) == len(org.sites)
    assert len(blocks) == 2 * len(org.sites)
    for site in org.sites:
        (block,) = [b for b in tls if f"server_name {site.domain};" in b]
        assert f"listen {site.address}:443 ssl;" in block
        assert ("Strict-Transport-Security" in block) is site.hsts, site.domain
        crt = re.search(r"ssl_certificate (\S+);", block).group(1)
        cert = x509.load_pem_x509_certificates(Path(crt).read_bytes())[0]
        assert [cn(cert), *san(cert)] == list(site.cert)
        key = re.search(r"ssl_certificate_key (\S+);", block).group(1)
        assert stat.S_IMODE(Path(key).stat().st_mode) == 0o600
        assert f"return 200 '{web.page(site)}';" in block
        (redirect,) = [b for b in plain if f"server_name {site.domain};" in b]
        assert f"listen {site.address}:80;" in redirect
        assert "return 301 https://$host$request_uri;" in redirect
    # sites sharing a certificate share its files: one pair per distinct certificate
    work = ctx.workdir(org.node, "web")
    assert len(list(work.glob("*.crt"))) == len({s.cert for s in org.sites})
    if org is KZMEDIA:
        assert "Strict-Transport-Security" not in conf
    if os.geteuid() == 0 and shutil.which("nginx"):
        _nginx_accepts(conf, tmp_path)


def _nginx_accepts(conf: str, tmp_path: Path) -> None:
    """``nginx -t`` binds every listener, so test a copy listening on 127.0.0.1 only."""
    https, http = _free_port(), _free_port()
    local = re.sub(r"listen [\d.]+:443 ssl;", f"listen 127.0.0.1:{https} ssl;", conf)
    local = re.sub(r"listen [\d.]+:80;", f"listen 127.0.0.1:{http};", local)
    assert local.count("127.0.0.1") == conf.count("listen ")
    path = tmp_path / "nginx-test.conf"
    path.write_text(local)
    result = subprocess.run(
        ["nginx", "-t", "-q", "-c", str(path), "-p", str(tmp_path), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr


def test_page_names_the_site() -> None:
    """The page's title (as the probe extracts it) is the site's title; the domain is in
    the heading; HTML in a domain is escaped."""
    site = all_sites((FACEBOOK,))["www.facebook.com"]
    html = web.page(site)
    assert TITLE.search(html.encode()).group(1).decode() == site.title == "www.facebook.com (kzlab)"
    assert "<h1>www.facebook.com</h1>" in html
    odd = web.page(Site("a<b>.kz", "192.0.2.1", ("a<b>.kz",)))
    assert "<title>a&lt;b&gt;.kz (kzlab)</title>" in odd
    assert "<b>" not in odd
