"""Encrypted DNS without a lab: the public resolvers' BIND configuration for DoT and DoH
(``named-checkconf`` accepts it, the certificate carries the real names), the subscriber's
stub (``dnsdist --check-config`` accepts it), the methods' parameters, and the censor
DropTrafficForEncryptedDNS on recorded packets (the code its engine runs live)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store
from scapy.layers.inet import IP, TCP

from tests.unit.samples import client_hello
from tools.censors.offline import grade
from tools.censors.registry import CENSORS
from tools.circumvent.encrypted_dns import stub
from tools.circumvent.method import MethodError
from tools.circumvent.registry import METHODS
from tools.services import dns as dns_service
from tools.services.base import ServiceContext
from tools.services.pki import CertificateAuthority
from topologies import kz_isp
from topologies.circumvention import ENCRYPTED_DNS

CLIENT = "95.56.1.1"


def test_public_resolvers_serve_dot_and_doh_with_their_real_names(tmp_path: Path) -> None:
    """8.8.8.8's BIND listens for DoT on 853 and DoH on 443 (/dns-query) on both its
    addresses, with a certificate for dns.google from the lab's root, and is ready only
    once both answer; the ISP's resolver gets none of it."""
    model, ca = kz_isp.build(circumvention=True), CertificateAuthority.new_root()
    ctx = ServiceContext(model, net=None, rundir=tmp_path, named_dir=tmp_path, web_ca=ca)
    node, name, names = ENCRYPTED_DNS["google"]
    (service,) = [s for s in model.graph.nodes[node]["services"] if s.kind == "dns_recursive"]
    checks = dns_service.start_recursive(ctx, node, service)
    conf = (tmp_path / f"{node}-resolver" / "named.conf").read_text()
    assert "listen-on port 853 tls public { 8.8.8.8; 8.8.4.4; };" in conf
    assert "listen-on port 443 tls public http public { 8.8.8.8; 8.8.4.4; };" in conf
    assert 'http public { endpoints { "/dns-query"; }; };' in conf
    subprocess.run(["named-checkconf", str(tmp_path / f"{node}-resolver" / "named.conf")], check=True)
    leaf = x509.load_pem_x509_certificates((tmp_path / f"{node}-resolver" / "tls.crt").read_bytes())[0]
    PolicyBuilder().store(Store([ca.cert])).build_server_verifier(x509.DNSName(name)).verify(leaf, [])
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    ) == list(names[1:])
    assert {c.what for c in checks} >= {"DoT on 8.8.4.4", "DoH on 8.8.8.8"}
    (isp,) = [s for s in model.graph.nodes["resolver"]["services"] if s.kind == "dns_recursive"]
    dns_service.start_recursive(ctx, "resolver", isp)
    assert "tls" not in (tmp_path / "resolver-resolver" / "named.conf").read_text()


@pytest.mark.parametrize("protocol", ["doh", "dot"])
def test_the_stub_configuration_is_one_dnsdist_accepts(tmp_path: Path, protocol: str) -> None:
    conf = stub.config(protocol, ["1.1.1.1", "1.0.0.1"], "one.one.one.one")
    port = 443 if protocol == "doh" else 853
    servers = re.findall(r'newServer\(\{address="([\d.:]+)", tls="openssl", subjectName="one.one.one.one"', conf)
    assert servers == [f"1.1.1.1:{port}", f"1.0.0.1:{port}"]
    assert ('dohPath="/dns-query"' in conf) is (protocol == "doh")
    assert 'setLocal("127.0.0.1:53")' in conf and 'setSecurityPollSuffix("")' in conf
    (tmp_path / "dnsdist.conf").write_text(conf)
    check = subprocess.run(["dnsdist", "--check-config", "-C", str(tmp_path / "dnsdist.conf")], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_methods_are_registered_with_their_parameters() -> None:
    assert METHODS["doh"]().params == {"resolver": "google", "wait_s": 8.0}
    assert METHODS["dot"](resolver="cloudflare").needs == {"dnsdist": "dnsdist"}
    with pytest.raises(MethodError, match=r"^method 'doh': parameter 'resolver' expects one of 'google', 'cloudflare'"):
        METHODS["doh"](resolver="quad9")


def tls_flow(dst: str, port: int, sni: str, sport: int) -> list:
    """SYN, SYN-ACK, ACK, then a ClientHello for ``sni``."""
    c, s = IP(src=CLIENT, dst=dst), IP(src=dst, dst=CLIENT)
    return [
        c / TCP(sport=sport, dport=port, flags="S", seq=100),
        s / TCP(sport=port, dport=sport, flags="SA", seq=500, ack=101),
        c / TCP(sport=sport, dport=port, flags="A", seq=101, ack=501),
        c / TCP(sport=sport, dport=port, flags="PA", seq=101, ack=501) / client_hello(sni),
    ]


CAPTURE = [
    *tls_flow("8.8.8.8", 443, "dns.google", 40001),  # 1-4: a listed resolver's address
    *tls_flow("5.9.10.30", 443, "cloudflare-dns.com", 40002),  # 5-8: a listed name elsewhere
    *tls_flow("5.9.10.30", 443, "vk.com", 40003),  # 9-12: neither
    *tls_flow("5.9.10.30", 853, "vk.com", 40004),  # 13-16: DoT's port anywhere
    *tls_flow("1.1.1.1", 53, "vk.com", 40005),  # 17-20: plain DNS's port over TCP
]


def verdicts(**params: object) -> dict[int, tuple[str, str]]:
    censor = CENSORS["DropTrafficForEncryptedDNS"](**params)
    return {v["packet"]: (v["verdict"], v["note"]) for v in grade(censor, CAPTURE)}


def test_the_counter_move_drops_resolver_endpoints_their_names_and_dots_port() -> None:
    v = verdicts()
    assert [v[n] for n in (1, 3, 4)] == [("drop", "drop: encrypted DNS endpoint 8.8.8.8:443")] * 3
    assert 2 not in v  # the server's side is not selected
    assert 5 not in v and v[8] == ("drop", "drop: SNI cloudflare-dns.com")
    assert v[12] == ("accept", "")  # an unlisted name at an unlisted address
    assert v[13] == ("drop", "drop: encrypted DNS endpoint 5.9.10.30:853")
    assert not {17, 18, 19, 20} & set(v)  # port 53 is not its business
    without = verdicts(dot_port=False, addresses=[])
    assert 13 not in without and without[16] == ("accept", "") and without[4] == ("drop", "drop: SNI dns.google")


def test_the_endpoint_drops_come_first_in_the_censors_chain() -> None:
    """Before the chain's verdict marks and its queue: an established DoH connection (a
    stub keeps one open) is cut too, not only new ones."""
    rules = [" ".join(r) for r in CENSORS["DropTrafficForEncryptedDNS"](addresses=["9.9.9.9"]).rules(3)]
    assert rules[:3] == [
        "-N KZC3",
        "-A KZC3 -p tcp -d 9.9.9.9/32 -m multiport --dports 443,853 -j DROP",
        "-A KZC3 -p tcp --dport 853 -j DROP",
    ]
    assert all(any(f"--dport {port} -m length" in r for r in rules[3:]) for port in (443, 853))
