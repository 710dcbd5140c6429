"""Telegram's fake TLS (tools/dpi/faketls.py), MTProxy's keyed init (tools/dpi/mtproxy_codec.py),
the proxy link, the mtproxy method's options and the detector BlockTrafficForMTProtoProxy, offline.

The HMAC checks both ways (a wrong secret, one changed byte, a stale time), records read
in any cut, truncated hellos and answers, byte-level garbage (only the codec's own
errors, never another exception), and the detector's reading of a fake-TLS client's
second segment against the one a real TLS 1.3 or 1.2 client sends (made by Python's
OpenSSL in memory).
"""

from __future__ import annotations

import contextlib
import os
import random
import ssl
import time
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP

from tests.unit.conftest import LabPki
from tools.censors.block_traffic_for_mtproto_proxy import BlockTrafficForMTProtoProxy
from tools.censors.offline import grade
from tools.circumvent.method import MethodContext, MethodError
from tools.circumvent.mtproxy.link import link_file
from tools.circumvent.mtproxy.method import MTProxy
from tools.dpi import faketls, ipv4, mtproxy_codec
from tools.dpi.faketls import ProxyLink
from tools.dpi.mtproto_codec import MODES, TAG_SLICE
from tools.dpi.tls import parse_client_hello

SECRET = faketls.Secret(bytes(range(16)), "kaspi.kz")
NOW = 1_700_000_000.0
CLIENT, PROXY = "95.56.1.1", "5.9.10.31"
GARBAGE_ROUNDS = 2000


def greeting_and_answer(secret: faketls.Secret = SECRET) -> tuple[bytes, faketls.Greeting, bytes]:
    hello = faketls.client_hello(secret, NOW)
    greeting = faketls.check_client_hello(hello, secret, NOW)
    return hello, greeting, faketls.server_answer(greeting, secret, 1500)


# -- the secret and the link ----------------------------------------------------------------


def test_a_secret_reads_back_from_its_hex_form() -> None:
    assert SECRET.hex == "ee" + bytes(range(16)).hex() + b"kaspi.kz".hex()
    assert faketls.Secret.parse(SECRET.hex) == SECRET
    fresh = faketls.Secret.new("kaspi.kz")
    assert fresh.key != faketls.Secret.new("kaspi.kz").key and faketls.Secret.parse(fresh.hex) == fresh


@pytest.mark.parametrize(
    "text",
    [
        "zz" + SECRET.hex[2:],  # not hex
        "dd" + SECRET.hex[2:],  # a "secure" secret, not fake TLS
        "ee" + bytes(16).hex(),  # no domain
        SECRET.hex[:20],  # key cut short
        "ee" + bytes(16).hex() + "ff",  # a domain that is not ASCII
        "ee" + bytes(16).hex() + b"a".hex() * (faketls.MAX_DOMAIN + 1),  # too long for the hello
    ],
)
def test_a_secret_that_is_not_one_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        faketls.Secret.parse(text)


def test_a_link_reads_back_and_rejects_what_is_not_one() -> None:
    link = ProxyLink(PROXY, 443, SECRET)
    assert str(link) == f"tg://proxy?server={PROXY}&port=443&secret={SECRET.hex}"
    assert ProxyLink.parse(str(link) + "\n") == link
    for bad in (
        f"https://proxy?server={PROXY}&port=443&secret={SECRET.hex}",
        f"tg://proxy?server=kaspi.kz&port=443&secret={SECRET.hex}",
        f"tg://proxy?server={PROXY}&port=99999&secret={SECRET.hex}",
        f"tg://proxy?server={PROXY}&port=443",
        f"tg://proxy?server={PROXY}&port=443&secret=dd{SECRET.hex[2:]}",
    ):
        with pytest.raises(ValueError):
            ProxyLink.parse(bad)


# -- the client's hello and the server's answer ---------------------------------------------


def test_the_hello_is_the_telegram_clients_shape_for_the_domain() -> None:
    hello = faketls.client_hello(SECRET, NOW)
    assert len(hello) == faketls.HELLO_RECORD and hello[:9] == bytes.fromhex("160301020001" + "0001fc")
    parsed = parse_client_hello(hello)
    assert parsed.complete and parsed.sni == "kaspi.kz"
    assert parsed.cipher_suites[1:] == faketls.CIPHER_SUITES + faketls.CIPHER_SUITES_CBC
    assert parsed.cipher_suites[0] & 0x0F0F == 0x0A0A  # GREASE first
    longest = faketls.client_hello(faketls.Secret(SECRET.key, "a" * faketls.MAX_DOMAIN), NOW)
    assert len(longest) == faketls.HELLO_RECORD


def test_the_secret_opens_its_hello_and_its_answer() -> None:
    hello, greeting, answer = greeting_and_answer()
    assert greeting.timestamp == int(NOW) and greeting.random == hello[faketls.RANDOM]
    assert greeting.session_id == hello[44:76]
    records = faketls.Records().feed(answer)
    assert [(r.kind, len(r.payload)) for r in records] == [(0x16, 122), (0x14, 1), (0x17, 1500)]
    assert records[0].payload[39:71] == greeting.session_id  # echoed
    faketls.check_server_answer(records, greeting.random, SECRET)


def test_another_secret_or_one_changed_byte_is_a_digest_mismatch() -> None:
    other = faketls.Secret(bytes(16), "kaspi.kz")
    hello, greeting, answer = greeting_and_answer()
    with pytest.raises(faketls.DigestMismatch):
        faketls.check_client_hello(hello, other, NOW)
    changed = bytearray(hello)
    changed[-1] ^= 1  # a byte of the padding
    with pytest.raises(faketls.DigestMismatch):
        faketls.check_client_hello(bytes(changed), SECRET, NOW)
    records = faketls.Records().feed(answer)
    with pytest.raises(faketls.DigestMismatch):
        faketls.check_server_answer(records, greeting.random, other)
    with pytest.raises(faketls.DigestMismatch):
        faketls.check_server_answer(records, os.urandom(32), SECRET)
    tampered = faketls.Records().feed(answer[:-1] + bytes([answer[-1] ^ 1]))
    with pytest.raises(faketls.DigestMismatch):
        faketls.check_server_answer(tampered, greeting.random, SECRET)


def test_a_hello_outside_the_time_window_is_a_digest_mismatch() -> None:
    hello = faketls.client_hello(SECRET, NOW)
    early, late = faketls.TIME_SKEW
    assert faketls.check_client_hello(hello, SECRET, NOW + late - 1).timestamp == int(NOW)
    assert faketls.check_client_hello(hello, SECRET, NOW + early + 1).timestamp == int(NOW)
    for now in (NOW + late + 1, NOW + early - 1):
        with pytest.raises(faketls.DigestMismatch, match="client time"):
            faketls.check_client_hello(hello, SECRET, now)


def test_a_hello_for_another_name_or_a_real_browsers_is_refused() -> None:
    with pytest.raises(faketls.FakeTlsError, match=r"'vk\.com'"):
        faketls.check_client_hello(faketls.client_hello(faketls.Secret(SECRET.key, "vk.com"), NOW), SECRET, NOW)
    with pytest.raises(faketls.DigestMismatch):  # a real client's hello for the domain
        faketls.check_client_hello(faketls.client_hello(faketls.Secret(os.urandom(16), "kaspi.kz"), NOW), SECRET, NOW)


# -- records, truncation, garbage -----------------------------------------------------------


def test_records_read_the_same_in_any_cut() -> None:
    _, _, answer = greeting_and_answer()
    stream = answer + faketls.application_data(os.urandom(40_000))
    whole = faketls.Records().feed(stream)
    assert [r.kind for r in whole] == [0x16, 0x14, 0x17, 0x17, 0x17, 0x17]
    assert all(len(r.payload) <= faketls.MAX_PAYLOAD for r in whole)
    rng = random.Random(7)
    for _ in range(20):
        reader, got, pos = faketls.Records(), [], 0
        while pos < len(stream):
            step = rng.randint(1, 3000)
            got += reader.feed(stream[pos : pos + step])
            pos += step
        assert got == whole
    single = faketls.Records()
    assert [r for b in answer for r in single.feed(bytes([b]))] == whole[:3]


def test_truncated_hellos_and_answers_are_refused() -> None:
    hello, greeting, answer = greeting_and_answer()
    for cut in (0, 5, 43, 76, 200, len(hello) - 1):
        with pytest.raises(faketls.FakeTlsError):
            faketls.check_client_hello(hello[:cut], SECRET, NOW)
    records = faketls.Records().feed(answer)
    with pytest.raises(faketls.FakeTlsError, match="records"):
        faketls.check_server_answer(records[:2], greeting.random, SECRET)
    assert faketls.Records().feed(answer[:-1])[:2] == records[:2]  # the last record waits for its byte
    with pytest.raises(faketls.FakeTlsError, match="more than"):
        faketls.Records().feed(bytes.fromhex("170303ffff"))
    with pytest.raises(faketls.FakeTlsError, match=r"not a TLS 1\.2"):
        faketls.Records().feed(b"GET / HTTP/1.1\r\n")


def test_byte_level_garbage_raises_only_the_codecs_errors() -> None:
    rng = random.Random(11)
    hello, greeting, answer = greeting_and_answer()
    for n in range(GARBAGE_ROUNDS):
        if n % 2:
            data = rng.randbytes(rng.randint(0, 700))
        else:  # a real message with bytes changed, cut or repeated
            data = bytearray(rng.choice((hello, answer)))
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[: rng.randint(0, len(data))]) * rng.randint(1, 2)
        with pytest.raises(faketls.FakeTlsError):
            faketls.check_client_hello(data, SECRET, NOW)
        try:
            records = faketls.Records().feed(data)
        except faketls.FakeTlsError:
            continue
        with pytest.raises(faketls.FakeTlsError):
            faketls.check_server_answer(records, greeting.random, SECRET)
        after = faketls.after_change_cipher_spec(data)
        assert after is None or (0 <= after[0] < 256 and 0 <= after[1] < 65536)


# -- MTProxy's init ------------------------------------------------------------------------


def test_the_proxy_reads_tag_and_data_centre_only_with_the_secret() -> None:
    for dc in (1, 2, 5, -4):
        init = mtproxy_codec.client_init(MODES["padded"], dc)
        outbound, _ = mtproxy_codec.ciphers(init, SECRET.key)
        sent = mtproxy_codec.sent_init(init, outbound)
        assert sent[:56] == init[:56] and sent[56:] != init[56:]
        decrypted = mtproxy_codec.ciphers(sent, SECRET.key)[0].update(sent)
        assert decrypted[TAG_SLICE] == MODES["padded"] and mtproxy_codec.dc_of(decrypted) == dc
        wrong = mtproxy_codec.ciphers(sent, bytes(16))[0].update(sent)
        assert wrong[TAG_SLICE] != MODES["padded"]


# -- the detector ---------------------------------------------------------------------------


def segment(payload: bytes, sport: int = 40000) -> ipv4.Packet:
    packet = ipv4.parse(bytes(IP(src=CLIENT, dst=PROXY) / TCP(sport=sport, dport=443, flags="PA") / payload))
    assert packet is not None
    return packet


def fake_tls_data() -> bytes:
    """A fake-TLS client's second segment: ChangeCipherSpec, then the init and req_pq in data."""
    init = mtproxy_codec.client_init(MODES["padded"], 2)
    outbound, _ = mtproxy_codec.ciphers(init, SECRET.key)
    return faketls.CHANGE_CIPHER + faketls.application_data(mtproxy_codec.sent_init(init, outbound) + os.urandom(44))


def second_flight(pki: LabPki, version: ssl.TLSVersion) -> bytes:
    """What a real OpenSSL client sends after the server's first flight, made in memory."""
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname, client_ctx.verify_mode = False, ssl.CERT_NONE
    client_ctx.maximum_version = version
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="kaspi.kz")
    server = pki.server_context().wrap_bio(s_in, s_out, server_side=True)
    for side, out, peer in ((client, c_out, s_in), (server, s_out, c_in), (client, c_out, None)):
        with contextlib.suppress(ssl.SSLWantReadError):
            side.do_handshake()
        data = out.read()
        if peer is None:
            return data
        peer.write(data)
    raise AssertionError("unreachable")


def test_data_where_a_finished_belongs_is_blocked(pki: LabPki) -> None:
    flows: dict[tuple, str] = {}
    drop = BlockTrafficForMTProtoProxy().decide(segment(fake_tls_data()), flows)
    assert (drop.verdict, drop.flow, drop.inject) == ("drop", "block", [])
    assert drop.note.startswith("drop: data of ") and drop.note.endswith("where a TLS 1.3 Finished belongs (fake TLS)")
    reset = BlockTrafficForMTProtoProxy(action="reset").decide(segment(fake_tls_data(), 40001), flows)
    (rst,) = reset.inject
    sent = IP(bytes(rst))
    assert (reset.flow, sent.src, sent.dst, sent[TCP].flags) == ("block", PROXY, CLIENT, "RA")
    assert flows[(CLIENT, 40000, PROXY, 443)] == "block"


def test_real_tls_passes_and_what_cannot_be_read_yet_waits(pki: LabPki) -> None:
    censor = BlockTrafficForMTProtoProxy()
    tls13, tls12 = second_flight(pki, ssl.TLSVersion.TLSv1_3), second_flight(pki, ssl.TLSVersion.TLSv1_2)
    assert faketls.after_change_cipher_spec(tls13) == (faketls.APPLICATION_DATA, 69)  # TLS_AES_256_GCM_SHA384
    for payload in (tls13, tls12, bytes.fromhex("170303001a") + os.urandom(26)):
        assert censor.decide(segment(payload), {}).flow == "pass", payload[:12].hex()
    for payload in (faketls.CHANGE_CIPHER, b"\x00" + os.urandom(199), b"GET / HTTP/1.1\r\n\r\n"):
        decision = censor.decide(segment(payload), {})
        assert (decision.verdict, decision.flow) == ("accept", None)


def test_offline_grading_reads_the_clients_segments_after_its_hello(pki: LabPki) -> None:
    """The kernel selection's twin: the client's 4th to 12th packets, long enough."""
    c, s = IP(src=CLIENT, dst=PROXY), IP(src=PROXY, dst=CLIENT)

    def flow(sport: int, *data: bytes) -> list:
        opening = [c / TCP(sport=sport, dport=443, flags="S"), s / TCP(sport=443, dport=sport, flags="SA")]
        opening.append(c / TCP(sport=sport, dport=443, flags="A"))
        return opening + [c / TCP(sport=sport, dport=443, flags="PA") / d for d in data]

    capture = [
        *flow(41001, faketls.client_hello(SECRET, time.time()), fake_tls_data(), os.urandom(300)),  # 5 blocked, 6
        *flow(41002, b"\x00" * 517, second_flight(pki, ssl.TLSVersion.TLSv1_3), os.urandom(300)),  # 11 passed, 12
        *flow(41003, fake_tls_data()),  # 16: a third packet is the hello's place, never read
    ]
    verdicts = {v["packet"]: (v["verdict"], v["note"]) for v in grade(BlockTrafficForMTProtoProxy(), capture)}
    assert verdicts[5][0] == "drop" and verdicts[6] == ("drop", "flow blocked earlier")
    assert verdicts[11] == ("accept", "") and verdicts[12] == ("accept", "flow passed earlier")
    assert not {4, 10, 16} & set(verdicts)
    (rule,) = BlockTrafficForMTProtoProxy().selection()
    assert "--connbytes 4:12 --connbytes-dir original --connbytes-mode packets -m length --length 104:65535" in rule


# -- the method ------------------------------------------------------------------------------


def test_the_method_passes_the_labs_link_or_a_given_one_to_the_probes(tmp_path: Path) -> None:
    ctx = MethodContext(host=None, workdir=tmp_path, rundir=tmp_path, model=None)  # type: ignore[arg-type]
    with pytest.raises(MethodError, match=r"^mtproxy: no proxy link at .*proxy\.link: is the lab built"):
        MTProxy().bring_up(ctx)
    link_file(tmp_path).parent.mkdir()
    link_file(tmp_path).write_text(f"{ProxyLink(PROXY, 443, SECRET)}\n")
    method = MTProxy()
    method.start(ctx)
    assert method.probe_options() == {"telegram_proxy": {"address": PROXY, "port": 443, "secret": SECRET.hex}}
    method.stop()
    assert method.probe_options() == {}
    given = MTProxy(link=f"tg://proxy?server=5.9.10.99&port=8443&secret={SECRET.hex}")
    given.start(ctx)
    assert given.probe_options()["telegram_proxy"]["port"] == 8443


def test_a_bad_link_is_one_line_naming_the_parameter() -> None:
    with pytest.raises(MethodError, match=r"^method 'mtproxy': parameter 'link' expects a tg://proxy\?") as info:
        MTProxy(link="tg://proxy?server=5.9.10.31&port=443&secret=dd00")
    assert "\n" not in str(info.value)
