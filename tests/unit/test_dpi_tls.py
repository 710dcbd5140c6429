"""tools.dpi.tls.parse_client_hello on real ClientHellos from Python's OpenSSL client.

The SNI is the interception trigger (kazakhstan.md 1.2), so the parser must find it in
what real clients send, wait for the rest of a record split across segments, and never
raise on whatever else arrives on port 443. The device's own upstream ClientHello is
the unusual one of 1.9: TLS 1.0 record layer, TLS 1.2 ClientHello, 13 cipher suites.
"""

from __future__ import annotations

import random
import ssl
import struct

import pytest

from tools.dpi import mtproto_codec
from tools.dpi.tls import ClientHello, parse_client_hello
from tools.gateway import upstream
from tools.probes import mtproto

# IANA code points of the 13 suites in upstream.CIPHER_SUITES, in the configured order.
UPSTREAM_SUITES = (
    0xC02C,  # ECDHE-ECDSA-AES256-GCM-SHA384
    0xC030,  # ECDHE-RSA-AES256-GCM-SHA384
    0xC02B,  # ECDHE-ECDSA-AES128-GCM-SHA256
    0xC02F,  # ECDHE-RSA-AES128-GCM-SHA256
    0xC024,  # ECDHE-ECDSA-AES256-SHA384
    0xC028,  # ECDHE-RSA-AES256-SHA384
    0xC023,  # ECDHE-ECDSA-AES128-SHA256
    0xC027,  # ECDHE-RSA-AES128-SHA256
    0xC014,  # ECDHE-RSA-AES256-SHA
    0xC013,  # ECDHE-RSA-AES128-SHA
    0x009D,  # AES256-GCM-SHA384
    0x009C,  # AES128-GCM-SHA256
    0x002F,  # AES128-SHA
)
RENEGOTIATION_SCSV = 0x00FF  # TLS_EMPTY_RENEGOTIATION_INFO_SCSV, which OpenSSL appends
TLS13_SUITES = {0x1301, 0x1302, 0x1303}

# upstream.context() allows TLS 1.0 on purpose (1.9); Python warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")


def client_hello(ctx: ssl.SSLContext, server_hostname: str | None) -> bytes:
    """The bytes an OpenSSL client sends first, captured through memory BIOs."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def default_client() -> ssl.SSLContext:
    return ssl.create_default_context()


@pytest.fixture(scope="module")
def browser_hello() -> bytes:
    return client_hello(default_client(), "facebook.com")


def handcrafted(
    sni: bytes | None = b"facebook.com",
    record_version: int = 0x0301,
    hello_version: int = 0x0303,
    suites: tuple[int, ...] = (0x002F,),
    hs_type: int = 1,
) -> bytes:
    """A syntactically valid single-record ClientHello built field by field."""
    extensions = b""
    if sni is not None:
        entry = b"\x00" + struct.pack("!H", len(sni)) + sni
        server_name = struct.pack("!H", len(entry)) + entry
        extensions += struct.pack("!HH", 0x0000, len(server_name)) + server_name
    body = struct.pack("!H", hello_version) + bytes(32) + b"\x00"
    body += struct.pack("!H", 2 * len(suites)) + struct.pack(f"!{len(suites)}H", *suites)
    body += b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions
    handshake = bytes([hs_type]) + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 0x16, record_version, len(handshake)) + handshake


# -- real ClientHellos -----------------------------------------------------------------


def test_python_client_hello_sni_and_versions(browser_hello: bytes) -> None:
    """A default OpenSSL ClientHello for facebook.com is whole TLS with that SNI (1.2: the SNI is
    the trigger); OpenSSL puts 0x0301 on the record and 0x0303 in the legacy hello version."""
    hello = parse_client_hello(browser_hello)
    assert hello.complete and hello.is_tls and hello.decided
    assert hello.sni == "facebook.com"
    assert hello.record_version == 0x0301
    assert hello.hello_version == 0x0303
    assert hello.needed == 0
    assert set(hello.cipher_suites) >= TLS13_SUITES  # a TLS 1.3-capable client, unlike the device


def test_upstream_client_hello_is_the_unusual_one_of_1_9(pki) -> None:
    """The device's own ClientHello (upstream.context) has a TLS 1.0 record layer, a TLS 1.2
    hello version and exactly the 13 configured suites, plus only the renegotiation SCSV that
    OpenSSL appends (kazakhstan.md 1.9)."""
    hello = parse_client_hello(client_hello(upstream.context(str(pki.root_pem)), "facebook.com"))
    assert hello.complete and hello.is_tls
    assert hello.sni == "facebook.com"
    assert hello.record_version == 0x0301
    assert hello.hello_version == 0x0303
    assert hello.cipher_suites == (*UPSTREAM_SUITES, RENEGOTIATION_SCSV)
    real_suites = [s for s in hello.cipher_suites if s != RENEGOTIATION_SCSV]
    assert len(real_suites) == 13
    assert not TLS13_SUITES & set(hello.cipher_suites)


def test_no_sni_gives_none() -> None:
    """A ClientHello without server_name is still TLS, with sni None (nothing to match in 1.3)."""
    hello = parse_client_hello(client_hello(default_client(), None))
    assert hello.complete and hello.is_tls
    assert hello.sni is None
    assert hello.hello_version == 0x0303


def test_upper_case_sni_is_lower_cased() -> None:
    """Python sends the SNI's case as given; the parser lower-cases it so FaceBook.COM matches the
    exact name facebook.com of the 1.3 list."""
    raw = client_hello(default_client(), "FaceBook.COM")
    assert b"FaceBook.COM" in raw  # the client really sent mixed case
    assert parse_client_hello(raw).sni == "facebook.com"


def test_bytes_after_the_first_record_do_not_matter(browser_hello: bytes) -> None:
    """Data following the ClientHello record (a later segment's bytes) leaves the result unchanged."""
    hello = parse_client_hello(browser_hello + b"\x17\x03\x03\x00\x05hello")
    assert hello.complete and hello.sni == "facebook.com"


@pytest.mark.parametrize("who", ["browser", "upstream"])
def test_every_prefix_waits_for_the_rest(who: str, pki) -> None:
    """Split at every offset, a real ClientHello is undecided (complete=False, needed>0, exactly the
    missing bytes once the header is in) until the whole record is there: a ClientHello can span
    segments and the device must hold them before matching the SNI (1.2)."""
    ctx = default_client() if who == "browser" else upstream.context(str(pki.root_pem))
    raw = client_hello(ctx, "facebook.com")
    for cut in range(len(raw)):
        hello = parse_client_hello(raw[:cut])
        assert isinstance(hello, ClientHello)
        assert hello.is_tls, cut
        assert not hello.complete and not hello.decided, cut
        assert hello.needed > 0, cut
        if cut >= 5:
            assert hello.needed == len(raw) - cut, cut
            assert hello.record_version == 0x0301
        assert hello.sni is None
    assert parse_client_hello(raw).complete


def test_empty_bytes_are_an_undecided_prefix() -> None:
    """No bytes yet is the zero-length prefix of every ClientHello: undecided, 5 header bytes needed.
    (Calling it 'not TLS' would let a DPI pass a flow before its ClientHello arrives, 1.2.)"""
    hello = parse_client_hello(b"")
    assert not hello.decided
    assert hello.needed == 5


# -- not TLS ---------------------------------------------------------------------------


def assert_not_tls(data: bytes) -> None:
    hello = parse_client_hello(data)
    assert not hello.is_tls, data[:16]
    assert hello.decided
    assert hello.sni is None


def test_http_request_is_not_tls() -> None:
    """Plain HTTP to port 443 is decided at once as not TLS (no SNI to trigger on, 1.2)."""
    assert_not_tls(b"GET / HTTP/1.1\r\nHost: facebook.com\r\n\r\n")
    assert_not_tls(b"G")


def test_random_bytes_are_not_tls() -> None:
    """Random bytes not starting with the handshake content type 0x16 are never TLS."""
    rng = random.Random(1907)
    checked = 0
    for _ in range(300):
        data = rng.randbytes(rng.randrange(1, 700))
        if data[0] == 0x16:
            continue
        assert_not_tls(data)
        checked += 1
    assert checked > 250


def test_mtproto_first_packet_is_not_tls() -> None:
    """Telegram's obfuscated2 opening (tools.probes.mtproto) is not mistaken for a ClientHello."""
    for mode in mtproto_codec.MODES:
        for _ in range(50):
            assert_not_tls(mtproto.first_packet(mode))


def test_handshake_record_that_is_not_a_client_hello() -> None:
    """A handshake record carrying a ServerHello (type 2) is not TLS for the trigger, decided as soon
    as the type byte arrives."""
    server_hello = handcrafted(hs_type=2)
    assert_not_tls(server_hello)
    assert_not_tls(server_hello[:6])


@pytest.mark.parametrize(
    "header",
    [
        b"\x16\x03\x01\x00\x00",  # record length 0
        b"\x16\x03\x01\x00\x03",  # shorter than a handshake header
        b"\x17\x03\x03\x00\x20",  # application data
        b"\x16\x02\x00\x00\x20",  # not a TLS/SSL3 version
    ],
)
def test_bad_record_headers_are_not_tls(header: bytes) -> None:
    """Record headers no ClientHello can have are decided as not TLS from the header alone."""
    assert_not_tls(header)
    assert_not_tls(header + b"\x01" + bytes(40))


def test_handcrafted_hello_parses() -> None:
    """The hand-built record used below is itself accepted, so the cases built from it test the parser."""
    hello = parse_client_hello(handcrafted(suites=(0x002F, 0xC02F)))
    assert hello == ClientHello(True, True, "facebook.com", 0x0301, 0x0303, (0x002F, 0xC02F), 0)


# -- robustness ------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(5)
        if op == 0 and buf:  # flip a byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1:  # truncate
            del buf[rng.randrange(len(buf) + 1) :]
        elif op == 2:  # insert random bytes
            pos = rng.randrange(len(buf) + 1)
            buf[pos:pos] = rng.randbytes(rng.randrange(1, 8))
        elif op == 3 and len(buf) > 2:  # delete a slice
            pos = rng.randrange(len(buf))
            del buf[pos : pos + rng.randrange(1, 40)]
        elif op == 4 and len(buf) > 1:  # set a length-like byte to an extreme
            buf[rng.randrange(len(buf))] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF))
    return bytes(buf)


def test_fuzzed_client_hellos_never_raise(browser_hello: bytes, pki) -> None:
    """Thousands of seeded mutations of real ClientHellos always return a ClientHello, never raise,
    and are consistent: undecided results always say how many bytes are missing."""
    rng = random.Random(20190717)
    seeds = [browser_hello, client_hello(upstream.context(str(pki.root_pem)), "facebook.com"), handcrafted()]
    for i in range(4000):
        data = mutate(rng, seeds[i % len(seeds)])
        hello = parse_client_hello(data)
        assert isinstance(hello, ClientHello)
        assert hello.decided or hello.needed > 0, data
        if hello.is_tls and hello.complete:
            assert hello.hello_version is not None
        if hello.sni is not None:
            assert hello.sni == hello.sni.lower()


def test_huge_sni_does_not_raise() -> None:
    """A 60 000-character SNI in a syntactically valid record parses (or is rejected) without
    raising; prefixes of it still wait for the rest."""
    name = "x" * (60000 - len(".facebook.com")) + ".FACEBOOK.com"
    raw = handcrafted(sni=name.encode())
    assert len(raw) < 65536
    hello = parse_client_hello(raw)
    assert isinstance(hello, ClientHello)
    if hello.is_tls:
        assert hello.complete and hello.sni == name.lower()
    partial = parse_client_hello(raw[:16384])
    assert partial.is_tls and partial.needed == len(raw) - 16384
