"""The blocking censors' logic on recorded traffic, offline (no root, no lab): each censor
against a capture holding a listed and an unlisted flow, the verdicts per packet, and the
command line that grades a pcap. The captures are built with scapy from real bytes: the
ClientHellos are what Python's OpenSSL client sends."""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import wrpcap

from tests.unit.samples import client_hello
from tools.basics.params import DOMAINS
from tools.basics.paths import REPO
from tools.censors.base import CensorError
from tools.censors.catalogue import render
from tools.censors.matching import AddressList, DomainList
from tools.censors.offline import grade
from tools.censors.registry import CENSORS
from topologies.internet import FACEBOOK_PREFIXES

CLIENT, FB, VK = "95.56.1.1", "157.240.241.35", "87.240.132.72"


def tls_flow(dst: str, sni: str, sport: int) -> list:
    """SYN, SYN-ACK, ACK, ClientHello, then one more client segment."""
    c, s = IP(src=CLIENT, dst=dst), IP(src=dst, dst=CLIENT)
    return [
        c / TCP(sport=sport, dport=443, flags="S", seq=100),
        s / TCP(sport=443, dport=sport, flags="SA", seq=500, ack=101),
        c / TCP(sport=sport, dport=443, flags="A", seq=101, ack=501),
        c / TCP(sport=sport, dport=443, flags="PA", seq=101, ack=501) / client_hello(sni),
        c / TCP(sport=sport, dport=443, flags="PA", seq=2000, ack=501) / (b"x" * 100),
    ]


def http_request(dst: str, host: str, sport: int) -> object:
    req = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\n\r\n".encode()
    return IP(src=CLIENT, dst=dst) / TCP(sport=sport, dport=80, flags="PA", seq=1, ack=1) / req


def dns_query(name: str) -> object:
    return IP(src=CLIENT, dst="8.8.8.8") / UDP(sport=5353, dport=53) / DNS(id=7, rd=1, qd=DNSQR(qname=name))


CAPTURE = [
    *tls_flow(FB, "facebook.com", 40001),
    *tls_flow(VK, "vk.com", 40002),
    *tls_flow(FB, "m.facebook.com", 40003),
    http_request(FB, "facebook.com", 40004),
    http_request(VK, "vk.com", 40005),
    dns_query("www.facebook.com"),
    dns_query("vk.com"),
]


def verdicts(name: str, **params: object) -> dict[int, tuple[str, int, str]]:
    return {v["packet"]: (v["verdict"], v["injected"], v["note"]) for v in grade(CENSORS[name](**params), CAPTURE)}


def test_reset_sni_resets_listed_flows_only() -> None:
    """ResetTrafficForTLSSNI (subdomains covered by default): facebook.com and
    m.facebook.com ClientHellos are dropped with a RST injected, later packets of those
    flows dropped; vk.com's flow is decided "pass" at its ClientHello."""
    v = verdicts("ResetTrafficForTLSSNI", domains=["facebook.com"])
    assert v[4] == ("drop", 1, "reset: SNI facebook.com")
    assert v[5][0] == "drop"  # the rest of the blocked flow
    assert v[9] == ("accept", 0, "")
    assert 10 in v and v[10][0] == "accept"  # vk's later segment: its flow passed
    assert v[14][:2] == ("drop", 1)  # m.facebook.com is a subdomain
    both = verdicts("ResetTrafficForTLSSNI", domains=["facebook.com"], direction="both")
    assert both[4][1] == 2  # RSTs to the client and the server


def test_exact_names_when_subdomains_are_off() -> None:
    v = verdicts("DropTrafficForTLSSNI", domains=["facebook.com"], subdomains=False)
    assert v[4] == ("drop", 0, "drop: SNI facebook.com")
    assert v[14][0] == "accept"  # m.facebook.com not covered


def test_drop_sni_drops_silently() -> None:
    v = verdicts("DropTrafficForTLSSNI", domains=["facebook.com"])
    assert v[4] == ("drop", 0, "drop: SNI facebook.com") and v[5][0] == "drop"
    assert v[9][0] == "accept"


def test_blockpage_for_http_host() -> None:
    """A listed Host gets an injected block page (and the server a RST); others pass; TLS
    flows are not this censor's business."""
    v = verdicts("BlockpageForHTTPHost", domains=["facebook.com"])
    assert v[16] == ("drop", 2, "block page: Host facebook.com")
    assert v[17][0] == "accept"
    assert not {4, 9, 14} & set(v)


def test_spoof_dns_injects_and_lets_the_query_go() -> None:
    v = verdicts("SpoofDNSResponse", domains=["facebook.com"])
    assert v[18] == ("accept", 1, "spoofed www.facebook.com")
    assert v[19] == ("accept", 0, "")


def test_resolver_blocklist_offline_says_what_the_resolver_answers() -> None:
    v = verdicts("ResolverBlocklist", domains=["facebook.com"])
    assert v[18][2] == "resolver answers NXDOMAIN for www.facebook.com"
    assert v[19][2] == ""


def test_drop_server_endpoint_by_prefix_and_port() -> None:
    v = verdicts("DropTrafficForServerEndpoint", prefixes=list(FACEBOOK_PREFIXES))
    fb_packets = [n for n, p in enumerate(CAPTURE, 1) if p[IP].dst == FB]
    assert all(v[n][0] == "drop" for n in fb_packets)
    assert all(v[n][0] == "accept" for n, p in enumerate(CAPTURE, 1) if p[IP].dst not in (FB,))
    only_80 = verdicts("DropTrafficForServerEndpoint", prefixes=["157.240.0.0/16"], ports=[80])
    assert only_80[16][0] == "drop" and only_80[4][0] == "accept"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("DropTrafficForServerEndpoint", {}, "parameter 'prefixes' is required"),
        ("DropTrafficForServerEndpoint", {"prefixes": ["157.240.0.0/33"]}, "parameter 'prefixes' expects"),
        ("DropTrafficForServerEndpoint", {"prefixes": ["1.0.0.0/8"], "protocol": "icmp"}, "'protocol' expects"),
        ("ResetTrafficForTLSSNI", {"domain": ["x"]}, "unknown parameter"),
        ("ResolverBlocklist", {"domains": "facebook.com"}, "'domains' expects a list of domain names"),
    ],
)
def test_bad_parameters_are_named(name: str, params: dict, message: str) -> None:
    with pytest.raises(CensorError, match=message):
        CENSORS[name](**params)


def test_domain_list_semantics() -> None:
    listed = DomainList.of(DOMAINS.normalise(["Facebook.com."]))
    assert listed.covers("facebook.com") and listed.covers("www.FACEBOOK.com")
    assert not listed.covers("notfacebook.com") and not listed.covers("facebook.com.evil") and not listed.covers(None)
    assert not DomainList.of(("facebook.com",), subdomains=False).covers("m.facebook.com")


def test_address_list_covers_what_ipaddress_says() -> None:
    """The per-prefix-length sets answer as ipaddress's own containment, on random lists
    with /0, /32 and nested prefixes, for addresses inside, at the edges and outside."""
    rng = random.Random(4)
    for _ in range(50):
        nets = [
            ipaddress.IPv4Network((rng.getrandbits(32), rng.choice((0, 8, 16, 22, 24, 31, 32))), strict=False)
            for _ in range(rng.randint(0, 6))
        ]
        listed = AddressList(str(n) for n in nets)
        probes = [str(n.network_address) for n in nets] + [str(n.broadcast_address) for n in nets]
        probes += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(40)]
        for address in probes:
            expected = any(ipaddress.IPv4Address(address) in n for n in nets)
            assert listed.covers(address) == expected == listed.covers(ipaddress.IPv4Address(address)), (nets, address)
    assert list(AddressList(["10.0.0.0/8"])) == [ipaddress.IPv4Network("10.0.0.0/8")] and not AddressList([])


def test_offline_command_grades_a_pcap_without_root(tmp_path: Path) -> None:
    pcap = tmp_path / "student.pcap"
    wrpcap(str(pcap), CAPTURE)
    cmd = [sys.executable, "-m", "tools.censors.offline", "ResetTrafficForTLSSNI", str(pcap),
           "--param", 'domains=["facebook.com"]']  # fmt: skip
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    assert "#4      95.56.1.1:40001 > 157.240.241.35:443  drop   +1 injected  reset: SNI facebook.com" in out.stdout
    assert "ResetTrafficForTLSSNI: " in out.stderr and "drop" in out.stderr
    bad = subprocess.run([sys.executable, "-m", "tools.censors.offline", "NoSuchCensor", str(pcap)],
                         cwd=REPO, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("kzlab: error: unknown censor 'NoSuchCensor'")


def test_catalogue_is_current() -> None:
    """docs/censors.md is generated from the censors: it must list every one as it is now."""
    assert (REPO / "docs" / "censors.md").read_text() == render()
    for name in CENSORS:
        assert f"## {name}" in render()


def test_reset_as_an_on_path_tap_lets_the_hello_through() -> None:
    """tap: the ClientHello is not dropped (a tap only sees copies); the RST races it."""
    v = verdicts("ResetTrafficForTLSSNI", domains=["facebook.com"], tap=True)
    assert v[4] == ("accept", 1, "reset (tap): SNI facebook.com")
    assert v[5][0] == "accept"  # the flow is not blocked by the tap
