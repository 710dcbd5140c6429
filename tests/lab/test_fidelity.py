"""The fidelity table: one test per measured behaviour of the 2019 interception device
(kazakhstan.md section 1), on a live lab with the device attached at the ISP gateway.

home1 installed the national root (compliant); home2 did not (refuser); abroad is the
vantage point outside the country. Each test names the section it reproduces. 1.11
(Chromium) is tests/lab/test_chromium.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator

import pytest
from scapy.layers.inet import TCP
from scapy.utils import rdpcap

from tests.lab import support
from tools.dpi.tls import parse_client_hello
from tools.gateway.surveillance import read, resolver_queries
from tools.lab.session import LabSession
from topologies.internet import FACEBOOK, all_sites

FB = all_sites((FACEBOOK,))["facebook.com"].address
SECURITY_CERTIFICATE = "CN=Security Certificate,C=KZ"
QAZNET = "CN=Qaznet Trust Network,C=KZ"
GLOBAL_ROOT = "CN=kzlab Global Root CA,O=kzlab Global Web PKI,C=US"
HOME1, HOME2 = "95.56.1.1", "95.56.1.2"


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession() as session:
        # What the server sees of the device's own connections (1.9).
        session.run(
            "facebook",
            f"tcpdump -i facebook-eth0 -U -w {session.rundir}/at-facebook.pcap "
            f"'tcp port 443 and src host 92.47.255.5' >/dev/null 2>{session.rundir}/tcpdump.err &"
            f" echo $! > {session.rundir}/tcpdump.pid",
        )
        said = session.rundir / "tcpdump.err"
        support.poll(lambda: said.exists() and "listening on" in said.read_text(), 10, "tcpdump at facebook")
        session.attach("device", "NationalInterception", "gw")
        session.install_root("home1")
        yield session


def inspect(lab: LabSession, node: str, name: str, *args: str) -> dict:
    r = lab.run(node, f"python -m tools.probes.cert_inspect {name} --json {' '.join(args)}")
    assert r.out, r.err
    return json.loads(r.out)


def test_1_2_sni_on_the_list_triggers_interception(lab: LabSession) -> None:
    """1.2: the SNI is the trigger: same server, a listed name is intercepted."""
    forged = inspect(lab, "home2", "facebook.com")
    assert forged["presented_chain"][0]["issuer"] == SECURITY_CERTIFICATE
    assert forged["verification"]["failure"] == "ssl_unknown_authority"


# A concurrent TLS server with a self-signed certificate (openssl s_server serves one
# connection at a time, which would stall the device's own connection behind the client's).
SELF_SIGNED_SERVER = (
    "import os, ssl, socketserver; ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); "
    'ctx.load_cert_chain(os.path.expanduser("~/self.pem"), os.path.expanduser("~/self.key"))\n'
    "class H(socketserver.BaseRequestHandler):\n"
    "    def handle(self):\n"
    "        try:\n"
    '            ctx.wrap_socket(self.request, server_side=True).sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\nself")\n'
    "        except OSError:\n"
    "            pass\n"
    "socketserver.ThreadingTCPServer.allow_reuse_address = True\n"
    'socketserver.ThreadingTCPServer(("5.9.10.20", 443), H).serve_forever()'
)


def test_1_2_untrusted_server_passes_untouched(lab: LabSession) -> None:
    """1.2: necessary but not sufficient: a server whose certificate the device does not
    trust (self-signed here) is not intercepted even for a listed SNI; the client gets the
    server's own certificate."""
    lab.run(
        "abroad",
        "cd $HOME && openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=facebook.com -days 2 "
        "-keyout self.key -out self.pem 2>/dev/null",
    )
    lab.run("abroad", f"(python -c '{SELF_SIGNED_SERVER}' >/dev/null 2>&1 &)")
    serving = "timeout 10 bash -c 'until (exec 3<>/dev/tcp/5.9.10.20/443) 2>/dev/null; do sleep 0.05; done'"
    assert lab.run("abroad", serving).rc == 0, "the self-signed server did not start"
    seen = inspect(lab, "home2", "facebook.com", "--address", "5.9.10.20")
    assert seen["presented_chain"][0]["issuer"] == "CN=facebook.com"  # self-signed, as sent
    assert len(seen["presented_chain"]) == 1
    events = [e for e in read(lab.rundir / "surveillance.jsonl") if e.get("server") == "5.9.10.20"]
    assert events and all(e["event"] == "passed" for e in events)
    assert "not trusted by the device" in events[-1]["reason"]


def test_1_3_exact_names_only(lab: LabSession) -> None:
    """1.3: exact names: www.facebook.com is on the list, m.facebook.com is not, and the
    passed flow shows the very certificate an uncensored vantage point gets."""
    www = inspect(lab, "home2", "www.facebook.com")
    m = inspect(lab, "home2", "m.facebook.com")
    direct = inspect(lab, "abroad", "m.facebook.com")  # abroad does not cross the device
    assert www["presented_chain"][0]["issuer"] == SECURITY_CERTIFICATE
    assert m["presented_chain"] == direct["presented_chain"]
    assert m["verification"] == {"failure": None, "trusted_root": GLOBAL_ROOT}


def test_1_4_direction_does_not_matter(lab: LabSession) -> None:
    """1.4 and 1.7: a ClientHello from abroad to a server inside the country, crossing the
    device, is intercepted too; SNI facebook.com sent to iqala.kz's server gets a leaf named
    after that server, since names are copied from the real certificate, not the SNI."""
    seen = inspect(lab, "abroad", "iqala.kz", "--sni", "facebook.com")
    leaf = seen["presented_chain"][0]
    assert leaf["issuer"] == SECURITY_CERTIFICATE
    assert leaf["subject"] == "CN=iqala.kz" and leaf["san"] == ["iqala.kz", "www.iqala.kz"]
    assert inspect(lab, "abroad", "iqala.kz")["presented_chain"][0]["issuer"].startswith("CN=kzlab Global Root")


TTL_PROBE = """
import socket, ssl, sys
s = socket.create_connection(("{addr}", 443), timeout=3)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, {ttl})  # after the TCP handshake: only the ClientHello is short-lived
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    t = ctx.wrap_socket(s, server_hostname="{sni}")
    from cryptography import x509
    print("ISSUER", x509.load_der_x509_certificate(t.getpeercert(True)).issuer.rfc4514_string())
except Exception as e:
    print("FAILED", type(e).__name__)
"""


def test_1_5_answered_before_the_server(lab: LabSession) -> None:
    """1.5: a ClientHello whose TTL runs out between the device and the server still gets the
    forged certificate back: the device answers at the gateway (2 hops from home2), while the
    same short-lived ClientHello for a name off the list dies on the way and is never answered."""
    listed = lab.run("home2", f"python -c '{TTL_PROBE.format(addr=FB, ttl=2, sni='facebook.com')}'")
    unlisted = lab.run("home2", f"python -c '{TTL_PROBE.format(addr=FB, ttl=2, sni='m.facebook.com')}'")
    assert listed.out.strip() == f"ISSUER {SECURITY_CERTIFICATE}", listed.err
    assert unlisted.out.strip().startswith("FAILED"), unlisted.out


def test_1_7_forged_leaf_fields(lab: LabSession) -> None:
    """1.7: subject and SAN copied from the real certificate, RSA-2048 with e=3, validity
    shifted 6 hours earlier, the serial's last 33 bits randomised, other extensions dropped."""
    forged = inspect(lab, "home1", "facebook.com")["presented_chain"][0]
    real = inspect(lab, "abroad", "facebook.com")["presented_chain"][0]
    assert (forged["subject"], forged["san"]) == (real["subject"], real["san"])
    assert (forged["key_type"], forged["key_bits"], forged["public_exponent"]) == ("RSA", 2048, 3)
    shift = dt.datetime.fromisoformat(real["not_before"]) - dt.datetime.fromisoformat(forged["not_before"])
    assert shift == dt.timedelta(hours=6)
    assert dt.datetime.fromisoformat(real["not_after"]) - dt.datetime.fromisoformat(forged["not_after"]) == shift
    assert int(forged["serial"], 16) >> 33 == int(real["serial"], 16) >> 33
    assert forged["serial"] != real["serial"]
    assert forged["extensions"] == ["2.5.29.17"]  # subjectAltName only
    assert real["key_type"] != "RSA" or real["public_exponent"] != 3


def test_1_8_chain(lab: LabSession) -> None:
    """1.8: leaf <- "C=KZ, CN=Security Certificate" (RSA-2048, e=65537) <- "C=KZ, CN=Qaznet
    Trust Network" (RSA-4096, 2016-02-02..2046-02-02), trusted where the root is installed."""
    seen = inspect(lab, "home1", "facebook.com")
    inter = seen["presented_chain"][1]
    assert (inter["subject"], inter["issuer"]) == (SECURITY_CERTIFICATE, QAZNET)
    assert (inter["key_bits"], inter["public_exponent"]) == (2048, 65537)
    assert seen["verification"] == {"failure": None, "trusted_root": QAZNET}
    root = (lab.rundir / "national" / "2019" / "root.pem").read_bytes()
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(root)
    assert cert.public_key().key_size == 4096
    assert (cert.not_valid_before_utc.date(), cert.not_valid_after_utc.date()) == (
        dt.date(2016, 2, 2),
        dt.date(2046, 2, 2),
    )


def test_1_9_the_devices_own_client_hello(lab: LabSession) -> None:
    """1.9: the device fetches the real certificate with its own connection, whose
    ClientHello (captured at the server) is a TLS 1.2 ClientHello in a TLS 1.0 record with
    13 cipher suites (OpenSSL adds the renegotiation SCSV, 0x00ff)."""
    inspect(lab, "home2", "www.facebook.com")

    def captured() -> list:
        payloads = (bytes(p[TCP].payload) for p in rdpcap(str(lab.rundir / "at-facebook.pcap")) if TCP in p)
        return [h for h in map(parse_client_hello, payloads) if h.is_tls and h.complete]

    hellos = support.poll(captured, 10, "a ClientHello from the device at the server")
    for hello in hellos:
        assert (hello.record_version, hello.hello_version) == (0x0301, 0x0303)
        suites = [s for s in hello.cipher_suites if s != 0x00FF]
        assert len(suites) == 13, [hex(s) for s in hello.cipher_suites]


def test_1_10_content_unchanged(lab: LabSession) -> None:
    """1.10: decrypted and re-encrypted, not changed: 8 MiB through the device arrive
    byte-for-byte as the server sent them."""
    expected = hashlib.sha256((lab.rundir / "bulk.bin").read_bytes()).hexdigest()
    r = lab.run("home1", "curl -sS --fail https://facebook.com/bulk | sha256sum")
    assert r.out.split()[0] == expected, r.err
    assert inspect(lab, "home1", "facebook.com")["presented_chain"][0]["issuer"] == SECURITY_CERTIFICATE


def test_what_the_state_sees(lab: LabSession) -> None:
    """Section 1 (the certificate "tracks their identity and reports their activity"): the
    refuser leaks only names (SNI to the device, DNS to the ISP resolver); the compliant
    subscriber leaks full URLs and headers."""
    lab.run("home1", "curl -sS https://www.facebook.com/profile.php?id=4 -H 'Cookie: c_user=4' -o /dev/null")
    lab.run("home2", "curl -sS https://www.facebook.com/profile.php?id=5 -o /dev/null")
    events = read(lab.rundir / "surveillance.jsonl")
    home1_urls = {e["url"] for e in events if e["subscriber"] == HOME1 and e["event"] == "request"}
    assert "https://www.facebook.com/profile.php?id=4" in home1_urls
    cookie = [e for e in events if e.get("url") == "https://www.facebook.com/profile.php?id=4"]
    assert cookie[0]["headers"]["cookie"] == "c_user=4"
    home2 = [e for e in events if e["subscriber"] == HOME2]
    assert home2 and not [e for e in home2 if e["event"] == "request"]
    assert {"www.facebook.com", "facebook.com"} <= {e.get("sni") for e in home2}
    queries = resolver_queries(lab.named_dir / "resolver-resolver" / "queries.log")
    assert {"www.facebook.com"} <= {q["host"] for q in queries if q["subscriber"] == HOME2}


FUZZ = r"""
import os, random, socket, struct
from tools.probes.mtproto import first_packet
random.seed(7)
def send(data, close_early=False):
    s = socket.create_connection(("{addr}", 443), timeout=2)
    s.sendall(data)
    if not close_early:
        try:
            s.recv(100)
        except OSError:
            pass
    s.close()
hello = bytes.fromhex("16030100") + struct.pack("!H", 0xffff) + b"\x01" + b"\x00" * 40  # oversized length
sni = b"a" * 16000
ext = struct.pack("!HH", 0, len(sni) + 5) + struct.pack("!HBH", len(sni) + 3, 0, len(sni)) + sni
body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + struct.pack("!H", len(ext)) + ext
huge = b"\x16\x03\x01" + struct.pack("!H", len(body) + 4) + b"\x01" + struct.pack("!I", len(body))[1:] + body
cases = [b"GET / HTTP/1.1\r\nHost: facebook.com\r\n\r\n", os.urandom(300), first_packet(), hello[:30], hello, huge,
         b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00", b"\x16\x03\x01\x00\x00"]
for c in cases:
    send(c)
    send(c, close_early=True)
for i in range(200):
    send(bytes(random.getrandbits(8) for _ in range(random.randint(1, 600))), close_early=bool(i % 2))
print("SENT", len(cases) * 2 + 200)
"""


def test_bad_input_never_crashes_the_device(lab: LabSession) -> None:
    """Part 2: non-TLS bytes, truncated, oversized and huge-SNI ClientHellos, MTProto and
    random data on port 443 pass or fail on their own; the device keeps working."""
    r = lab.run("home2", f"python -c '{FUZZ.replace(chr(39), chr(34)).format(addr=FB)}'", timeout=120)
    assert "SENT 216" in r.out, r.err[-2000:]
    scapy_fuzz = (
        "python -c 'from scapy.all import IP, TCP, Raw, fuzz, send; "
        f'send([fuzz(IP(dst="{FB}")/TCP(dport=443)/Raw(b"\\x16\\x03\\x01\\x02\\x00\\x01" + bytes(40)))'
        ' for _ in range(500)], verbose=False); print("FUZZED")\''
    )
    assert "FUZZED" in lab.run("home2", scapy_fuzz, timeout=120).out
    after = inspect(lab, "home1", "facebook.com")
    assert after["verification"]["trusted_root"] == QAZNET
    log = (lab.rundir / "censors" / "device" / "interceptor.log").read_text()
    assert "Traceback" not in log, log[-2000:]
    assert lab.run("gw", "pgrep -f tools.gateway.interceptor").rc == 0  # still the same, running device


def test_1_8_as_openssl_and_curl_see_it(lab: LabSession) -> None:
    """Real clients with each host's own trust store: openssl s_client shows the national
    chain and verifies it only where the root was installed; curl likewise."""
    cmd = f"openssl s_client -connect {FB}:443 -servername facebook.com -showcerts </dev/null 2>&1"
    compliant, refuser = lab.run("home1", cmd).out, lab.run("home2", cmd).out
    for out in (compliant, refuser):
        assert "i:C = KZ, CN = Security Certificate" in out and "i:C = KZ, CN = Qaznet Trust Network" in out
    assert "Verify return code: 0 (ok)" in compliant
    assert "Verify return code: 20 (unable to get local issuer certificate)" in refuser
    curl = "curl -sS -o /dev/null -w '%{http_code} %{ssl_verify_result}' https://facebook.com/"
    assert lab.run("home1", curl).out == "200 0"
    assert lab.run("home2", curl).rc == 60  # curl: peer certificate cannot be authenticated
