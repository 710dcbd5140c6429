"""The certificate portal http://qca.kz/ (tools.gateway.portal) on a loopback port.

kazakhstan.md 1.1: subscribers were told to install the root from qca.kz as
qazca.cer/.pem/.der, and ISPs showed a stub page asking them to; section 2: the 2020 root.
The handler serves both generations' roots written by NationalCA.write() into "2019" and
"2020" subdirectories, the layout portal.main() makes.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from tools.gateway import portal
from tools.gateway.national_ca import ISCA_2020, QAZNET_2019, READY, NationalCA, wait_ready
from tools.services.http import LabHTTPServer

LOOPBACK = "127.0.0.1"


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, NationalCA]]:
    """Both national CAs written as portal.main() writes them (RSA-4096: once per module)."""
    ca_dir = tmp_path_factory.mktemp("national")
    made = {}
    for generation in (QAZNET_2019, ISCA_2020):
        directory = ca_dir / generation.label
        directory.mkdir(mode=0o700)
        made[generation.label] = NationalCA.create(generation)
        made[generation.label].write(directory)
    return ca_dir, made


@pytest.fixture(scope="module")
def files(cas: tuple[Path, dict[str, NationalCA]]) -> dict[str, tuple[bytes, str]]:
    """portal.ca_files() of the written CAs (it loads the RSA-4096 keys: slow, so once)."""
    return portal.ca_files(cas[0])


@pytest.fixture(scope="module")
def server(files: dict[str, tuple[bytes, str]]) -> Iterator[int]:
    """The portal's handler (Portal with its files set) on 127.0.0.1, on a free port; yields the port."""
    made = threading.Event()
    made.set()
    handler = type("TestPortal", (portal.Portal,), {"files": files, "made": made})
    httpd = LabHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name)


def get(port: int, path: str, host: str | None = portal.PORTAL_HOST, method: str = "GET") -> Reply:
    """One request with exactly the given Host header (none when ``host`` is None)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        resp = conn.getresponse()
        return Reply(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("host", ["qca.kz", "QCA.KZ", "qca.kz:80"])
def test_instruction_page(server: int, host: str) -> None:
    """GET / on qca.kz is the instruction page linking the root as qazca.cer and the 2020 root
    (kazakhstan.md 1.1, section 2); the Host match ignores case and port."""
    resp = get(server, "/", host)
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/html")
    page = resp.body.decode()
    assert 'href="/qazca.cer"' in page
    assert 'href="/2020/ISCA.cer"' in page
    assert "Qaznet Trust Network" in page
    assert int(resp.getheader("Content-Length")) == len(resp.body)


def test_every_linked_certificate_is_served(server: int) -> None:
    """Each certificate the instruction page links to is downloadable (1.1)."""
    page = get(server, "/").body.decode()
    links = [part.split('"', 1)[0] for part in page.split('href="')[1:]]
    assert links == ["/qazca.cer", "/2020/ISCA.cer"]
    for link in links:
        assert get(server, link).status == 200


@pytest.mark.parametrize("path", ["/qazca.cer", "/qazca.der"])
def test_root_as_der(server: int, cas: tuple[Path, dict[str, NationalCA]], path: str) -> None:
    """qazca.cer and qazca.der are the 2019 root "Qaznet Trust Network" in DER (1.1, 1.8)."""
    resp = get(server, path)
    assert resp.status == 200
    assert resp.body == der(cas[1]["2019"].root.cert)
    cert = x509.load_der_x509_certificate(resp.body)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Qaznet Trust Network"
    assert resp.getheader("Content-Type") in ("application/pkix-cert", "application/x-x509-ca-cert")


def test_root_as_pem(server: int, cas: tuple[Path, dict[str, NationalCA]]) -> None:
    """qazca.pem is the same 2019 root in PEM (1.1)."""
    resp = get(server, "/qazca.pem")
    assert resp.status == 200
    assert x509.load_pem_x509_certificate(resp.body) == cas[1]["2019"].root.cert
    assert resp.body.startswith(b"-----BEGIN CERTIFICATE-----")


def test_2020_root(server: int, cas: tuple[Path, dict[str, NationalCA]]) -> None:
    """/2020/ISCA.pem is the 2020 root "Information Security Certification Authority CA" (section 2),
    not the 2019 one."""
    resp = get(server, "/2020/ISCA.pem")
    assert resp.status == 200
    cert = x509.load_pem_x509_certificate(resp.body)
    assert cert == cas[1]["2020"].root.cert
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Information Security Certification Authority CA"
    )
    assert get(server, "/2020/ISCA.der").body == der(cert)


@pytest.mark.parametrize("host", ["facebook.com", "www.google.com", None])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_walled_garden_gets_the_stub(server: int, host: str | None, method: str) -> None:
    """Any other Host (a walled-garden subscriber's plain HTTP, redirected here) gets a 302 to
    http://qca.kz/ with the stub page asking to install the certificate (1.1, section 2), whatever
    the path, even one the portal serves."""
    for path in ("/", "/messages", "/qazca.cer"):
        resp = get(server, path, host, method)
        assert resp.status == 302, (host, path)
        assert resp.getheader("Location") == "http://qca.kz/"
        page = resp.body.decode()
        assert 'href="http://qca.kz/"' in page
        assert "certificate" in page


@pytest.mark.parametrize("path", ["/nope", "/qazca.crt", "/2019/qazca.cer", "/2020/"])
def test_unknown_path_is_404(server: int, path: str) -> None:
    """A path the portal does not serve on qca.kz is 404."""
    assert get(server, path).status == 404


def test_ca_files_lists_three_encodings_per_generation(
    files: dict[str, tuple[bytes, str]], cas: tuple[Path, dict[str, NationalCA]]
) -> None:
    """ca_files() hands out each root as .cer, .der and .pem: qazca for 2019, 2020/ISCA for 2020."""
    assert set(files) == {
        "/qazca.cer",
        "/qazca.der",
        "/qazca.pem",
        "/2020/ISCA.cer",
        "/2020/ISCA.der",
        "/2020/ISCA.pem",
    }
    assert files["/qazca.cer"][0] == files["/qazca.der"][0] == der(cas[1]["2019"].root.cert)


def lazy_portal(ca_dir: Path) -> tuple[type[portal.Portal], threading.Thread]:
    """A portal whose CAs are not made yet, and its maker thread (portal.main's)."""
    handler = type(
        "LazyPortal", (portal.Portal,), {"files": {}, "wanted": threading.Event(), "made": threading.Event()}
    )
    maker = threading.Thread(target=portal.make_cas, args=(ca_dir, handler), daemon=True)
    maker.start()
    return handler, maker


def test_the_cas_are_made_on_first_need_only(tmp_path: Path) -> None:
    """Nobody asks: no key is made (most labs never intercept). The device asks
    (national_ca.wait_ready): both generations are made and it gets its READY marker."""
    handler, maker = lazy_portal(tmp_path)
    maker.join(3 * portal.WANT_POLL)
    assert maker.is_alive() and not any(tmp_path.iterdir())
    wait_ready(tmp_path / "2019", timeout=120)
    maker.join(120)
    assert (tmp_path / "2020" / READY).exists() and handler.made.is_set()
    assert set(handler.files) >= {"/qazca.pem", "/2020/ISCA.pem"}


def test_a_download_before_the_cas_exist_waits_for_them(tmp_path: Path) -> None:
    """A subscriber's first download has the CAs made and gets the root, not an error."""
    handler, maker = lazy_portal(tmp_path)
    httpd = LabHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection(LOOPBACK, httpd.server_address[1], timeout=120)
        conn.request("GET", "/qazca.pem", headers={"Host": portal.PORTAL_HOST})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert resp.status == 200, body
    cert = x509.load_pem_x509_certificate(body)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Qaznet Trust Network"
    maker.join(5)
    assert not maker.is_alive()
