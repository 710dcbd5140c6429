"""tools/circumvent/geneva/actions.py: each action on real packets (a Linux-like SYN and a
ClientHello segment built with scapy), lengths and checksums checked independently with
scapy's own checksum code, and each strategy of kazakhstan.md section 6 giving exactly
the packets the section describes."""

from __future__ import annotations

import random
import socket
import struct

import pytest
from scapy.layers.inet import IP, TCP, in4_chksum
from scapy.utils import checksum

from tests.unit.samples import client_hello
from tools.circumvent.geneva import netns, rules
from tools.circumvent.geneva.actions import apply
from tools.circumvent.geneva.library import LIBRARY
from tools.circumvent.geneva.parser import parse
from tools.circumvent.geneva.runner import same_but_rewritten
from tools.dpi.tls import parse_client_hello

CLIENT, VK = "95.56.1.2", "87.240.132.72"
SYN_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1111, 0)), ("NOP", None), ("WScale", 7)]
HELLO = client_hello("vk.com")


def syn() -> bytes:
    return bytes(
        IP(src=CLIENT, dst=VK, id=4321, flags="DF", ttl=64)
        / TCP(sport=40000, dport=443, flags="S", seq=1000, window=64240, options=SYN_OPTIONS)
    )


def hello_segment(options: bool = True) -> bytes:
    tcp = TCP(sport=40000, dport=443, flags="PA", seq=1001, ack=5001, window=502)
    if options:
        tcp.options = [("NOP", None), ("NOP", None), ("Timestamp", (2222, 3333))]
    return bytes(IP(src=CLIENT, dst=VK, id=4322, flags="DF", ttl=64) / tcp / HELLO)


def run(text: str, data: bytes, direction: str = "out", seed: int = 7) -> list[bytes] | None:
    return apply(parse(text), data, direction, random.Random(seed))


def one(text: str, data: bytes) -> bytes:
    made = run(text, data)
    assert made is not None and len(made) == 1
    return made[0]


def ip_checksum_right(data: bytes) -> bool:
    ihl = (data[0] & 0x0F) * 4
    header = data[:10] + b"\0\0" + data[12:ihl]
    return checksum(header) == struct.unpack_from("!H", data, 10)[0]


def tcp_checksum_right(data: bytes) -> bool:
    """Over the bytes the IP total length keeps, as the receiver checks it (scapy's code)."""
    ip = IP(data)
    ihl = ip.ihl * 4
    segment = bytearray(data[ihl : ip.len])
    stored = struct.unpack_from("!H", segment, 16)[0]
    segment[16:18] = b"\0\0"
    return in4_chksum(socket.IPPROTO_TCP, ip, bytes(segment)) == stored


def right(data: bytes) -> bool:
    return ip_checksum_right(data) and tcp_checksum_right(data) and IP(data).len == len(data)


def header(data: bytes) -> dict[str, object]:
    """Every field a strategy can name, read by scapy (derived ones left out)."""
    ip = IP(data)
    tcp = ip[TCP]
    return {
        "tos": ip.tos,
        "id": ip.id,
        "ip_flags": int(ip.flags),
        "frag": ip.frag,
        "ttl": ip.ttl,
        "src": ip.src,
        "dst": ip.dst,
        "sport": tcp.sport,
        "dport": tcp.dport,
        "seq": tcp.seq,
        "ack": tcp.ack,
        "reserved": tcp.reserved,
        "flags": int(tcp.flags),
        "window": tcp.window,
        "urgptr": tcp.urgptr,
        "options": tcp.options,
        "load": bytes(tcp.payload),
    }


def changed(before: bytes, after: bytes) -> dict[str, object]:
    old, new = header(before), header(after)
    return {k: new[k] for k in old if old[k] != new[k]}


def test_a_packet_no_tree_fires_on_goes_unchanged() -> None:
    assert run("[TCP:flags:PA]-drop-|", syn()) is None
    assert run("[TCP:flags:S]-drop-|", syn(), "in") is None  # no inbound trees
    assert run("\\/ [TCP:flags:S]-drop-|", syn(), "out") is None


def test_send_and_empty_trees_give_the_packet_as_it_was() -> None:
    for text in ("[TCP:flags:S]-|", "[TCP:flags:S]-send-|", "[TCP:flags:S]--|"):
        assert run(text, syn()) == [syn()]


def test_duplicate_gives_two_and_drop_none() -> None:
    assert run("[TCP:flags:S]-duplicate-|", syn()) == [syn(), syn()]
    assert run("[TCP:flags:S]-duplicate(duplicate,)-|", syn()) == [syn()] * 3
    assert run("[TCP:flags:S]-drop-|", syn()) == []
    assert run("[TCP:flags:S]-duplicate(drop,)-|", syn()) == [syn()]


@pytest.mark.parametrize(
    ("tamper", "change"),
    [
        ("IP:ttl:replace:10", {"ttl": 10}),
        ("IP:tos:replace:4", {"tos": 4}),
        ("IP:id:replace:7", {"id": 7}),
        ("IP:flags:replace:MF+DF", {"ip_flags": 3}),
        ("IP:flags:replace:", {"ip_flags": 0}),
        ("TCP:seq:replace:2258679050", {"seq": 2258679050}),
        ("TCP:ack:replace:1", {"ack": 1}),
        ("TCP:window:replace:98", {"window": 98}),
        ("TCP:flags:replace:FRAPUEN", {"flags": 0x17D}),
        ("TCP:flags:replace:R", {"flags": 0x04}),
        ("TCP:urgptr:replace:3", {"urgptr": 3}),
        ("TCP:reserved:replace:5", {"reserved": 5}),
        ("TCP:dport:replace:8443", {"dport": 8443}),
        ("TCP:load:replace:GET%20/%20HTTP/1.1%0D%0A", {"load": b"GET / HTTP/1.1\r\n"}),
    ],
)
def test_tamper_replace_changes_exactly_that_field_with_checksums_right(tamper: str, change: dict) -> None:
    before = hello_segment()
    after = one(f"[TCP:flags:PA]-tamper{{{tamper}}}-|", before)
    assert changed(before, after) == change
    assert right(after)


@pytest.mark.parametrize(
    "field",
    [
        "IP:ttl",
        "IP:tos",
        "IP:id",
        "IP:flags",
        "TCP:seq",
        "TCP:ack",
        "TCP:window",
        "TCP:flags",
        "TCP:urgptr",
        "TCP:load",
    ],
)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tamper_corrupt_changes_exactly_that_field_with_checksums_right(field: str, seed: int) -> None:
    before = hello_segment()
    made = run(f"[TCP:flags:PA]-tamper{{{field}:corrupt}}-|", before, seed=seed)
    assert made is not None and len(made) == 1
    key = {"IP:flags": "ip_flags"}.get(field, field.split(":")[1])
    assert list(changed(before, made[0])) == [key]
    assert right(made[0])
    if field == "TCP:load":  # random bytes, as many as there were
        assert len(header(made[0])["load"]) == len(HELLO)  # type: ignore[arg-type]


def test_tamper_of_options_sets_one_option_and_recomputes_the_header_length() -> None:
    before = syn()
    mss = one("[TCP:flags:S]-tamper{TCP:options-mss:replace:536}-|", before)
    assert changed(before, mss) == {"options": [("MSS", 536), *SYN_OPTIONS[1:]]} and right(mss)
    stamp = one("[TCP:flags:S]-tamper{TCP:options-timestamp:replace:99}-|", before)
    assert IP(stamp)[TCP].options[2] == ("Timestamp", (99, 0)) and right(stamp)
    md5 = one("[TCP:flags:S]-tamper{TCP:options-md5header:corrupt}-|", before)
    options = IP(md5)[TCP].options
    assert options[:5] == SYN_OPTIONS and options[5][0] == "MD5" and len(options[5][1]) == 16
    assert IP(md5)[TCP].dataofs == IP(before)[TCP].dataofs + 5 and right(md5)  # 18 bytes of option, padded
    wscale = one("[TCP:flags:S]-tamper{TCP:options-wscale:corrupt}-|", before)
    assert list(changed(before, wscale)) == ["options"] and IP(wscale)[TCP].options[4][1] != 7


def test_checksums_tampered_on_purpose_stay_wrong_or_as_set() -> None:
    before = hello_segment()
    for seed in range(20):
        bad = run("[TCP:flags:PA]-tamper{TCP:chksum:corrupt}-|", before, seed=seed)
        assert bad is not None and not tcp_checksum_right(bad[0]) and ip_checksum_right(bad[0])
        assert bad[0][:36] + bad[0][38:] == before[:36] + before[38:]  # only the TCP checksum differs
        bad_ip = run("[TCP:flags:PA]-tamper{IP:chksum:corrupt}-|", before, seed=seed)
        assert bad_ip is not None and not ip_checksum_right(bad_ip[0]) and tcp_checksum_right(bad_ip[0])
    fixed = one("[TCP:flags:PA]-tamper{TCP:chksum:replace:25776}-|", before)
    assert struct.unpack_from("!H", fixed, 36)[0] == 25776
    assert one("[TCP:flags:PA]-tamper{IP:chksum:replace:1}-|", before)[10:12] == b"\x00\x01"


def test_a_lying_ip_length_is_kept_and_the_tcp_checksum_fits_what_it_keeps() -> None:
    before = hello_segment()
    lying = one("[TCP:flags:PA]-tamper{IP:len:replace:78}-|", before)
    assert IP(lying).len == 78 and len(lying) == len(before)  # every byte still sent
    assert ip_checksum_right(lying) and tcp_checksum_right(lying)  # over the first 78 bytes
    trimmed = IP(lying[:78])  # what a router forwards
    assert bytes(trimmed[TCP].payload) == HELLO[: 78 - 20 - 32]

    def unchecked(data: bytes) -> bytes:  # all but total length, IP and TCP checksums
        return data[:2] + data[4:10] + data[12:36] + data[38:]

    assert unchecked(lying) == unchecked(before)


def test_a_data_offset_tampered_on_purpose_is_kept_with_the_checksum_over_the_bytes() -> None:
    before = hello_segment()
    lying = one("[TCP:flags:PA]-tamper{TCP:dataofs:replace:10}-|", before)
    assert lying[32] >> 4 == 10 and lying[32] & 0x0F == before[32] & 0x0F
    assert len(lying) == len(before) and ip_checksum_right(lying) and tcp_checksum_right(lying)
    assert lying[33:36] + lying[38:] == before[33:36] + before[38:]


@pytest.mark.parametrize(
    ("offset", "cut"),
    [("-1", len(HELLO) // 2), ("8", 8), ("1", 1), ("100000", len(HELLO) // 2)],
)
@pytest.mark.parametrize("in_order", [True, False])
def test_fragment_tcp_cuts_the_payload_with_the_right_sequence_numbers(offset: str, cut: int, in_order: bool) -> None:
    before = hello_segment()
    made = run(f"[TCP:flags:PA]-fragment{{tcp:{offset}:{in_order}}}-|", before)
    assert made is not None and len(made) == 2
    first, second = made if in_order else made[::-1]
    assert changed(before, first) == {"load": HELLO[:cut]}
    assert changed(before, second) == {"load": HELLO[cut:], "seq": 1001 + cut}
    assert right(first) and right(second)


def test_fragment_tcp_overlap_wraps_sequence_numbers_and_cuts_nothing_it_cannot() -> None:
    before = hello_segment()
    made = run("[TCP:flags:PA]-fragment{tcp:10:True:4}-|", before)
    assert made is not None and [header(m)["load"] for m in made] == [HELLO[:14], HELLO[10:]]
    wrapping = one("[TCP:flags:PA]-tamper{TCP:seq:replace:4294967290}-|", before)
    pieces = run("[TCP:flags:PA]-fragment{tcp:10:True}-|", wrapping)
    assert pieces is not None and header(pieces[1])["seq"] == 4
    assert run("[TCP:flags:S]-fragment{tcp:-1:True}-|", syn()) == [syn(), syn()]  # no payload: duplicated


def test_fragment_at_the_sni_cuts_one_byte_into_the_server_name() -> None:
    made = run(LIBRARY["clienthello_split"].strategy, hello_segment())
    assert made is not None and len(made) == 2
    first, second = (bytes(IP(m)[TCP].payload) for m in made)
    assert first.endswith(b"\x00\x00\x06v") and second.startswith(b"k.com") and first + second == HELLO
    assert not parse_client_hello(first).complete and not parse_client_hello(second).is_tls
    request = one("[TCP:flags:PA]-tamper{TCP:load:replace:GET%20/%20HTTP/1.1}-|", hello_segment())
    halves = run("[TCP:flags:PA]-fragment{tcp:sni:True}-|", request)  # no ClientHello: in half
    assert halves is not None and [header(h)["load"] for h in halves] == [b"GET / H", b"TTP/1.1"]


@pytest.mark.parametrize(("spec", "units"), [("-1", None), ("4", 4), ("1000", None)])
def test_fragment_ip_cuts_the_datagram_at_8_byte_units(spec: str, units: int | None) -> None:
    before = hello_segment()
    body = before[20:]
    size = units * 8 if units else len(body) // 2 // 8 * 8  # in half, rounded down to 8 bytes
    made = run(f"[TCP:flags:PA]-fragment{{ip:{spec}:True}}-|", before)
    assert made is not None and len(made) == 2
    first, second = IP(made[0]), IP(made[1])
    assert (int(first.flags), first.frag, int(second.flags), second.frag) == (3, 0, 2, size // 8)  # MF+DF; DF
    assert first.id == second.id == 4322 and first.len == 20 + size and second.len == 20 + len(body) - size
    assert made[0][20:] + made[1][20:] == body and all(ip_checksum_right(m) for m in made)
    reverse = run(f"[TCP:flags:PA]-fragment{{ip:{spec}:False}}-|", before)
    assert reverse == made[::-1]


def test_tamper_after_fragment_acts_on_its_piece_only() -> None:
    made = run("[TCP:flags:PA]-fragment{tcp:8:True}(,tamper{IP:ttl:replace:3})-|", hello_segment())
    assert made is not None and [IP(m).ttl for m in made] == [64, 3] and all(map(right, made))
    # An IP fragment carries raw bytes: TCP fields cannot be tampered in it.
    tampered = run("[TCP:flags:PA]-fragment{ip:-1:True}(tamper{TCP:window:replace:1},)-|", hello_segment())
    assert tampered == run("[TCP:flags:PA]-fragment{ip:-1:True}-|", hello_segment())


def test_nested_trees_and_several_trees() -> None:
    before = hello_segment()
    made = run("[TCP:flags:PA]-duplicate(tamper{TCP:flags:replace:R}(tamper{IP:ttl:replace:10},),)-|", before)
    assert made is not None and len(made) == 2
    assert changed(before, made[0]) == {"flags": 0x04, "ttl": 10} and right(made[0]) and made[1] == before
    both = run("[TCP:flags:PA]-drop-| [TCP:dport:443]-tamper{IP:ttl:replace:9}-|", before)
    assert both is not None and len(both) == 1 and changed(before, both[0]) == {"ttl": 9}


def test_inbound_trees_act_on_inbound_packets() -> None:
    synack = bytes(IP(src=VK, dst=CLIENT) / TCP(sport=443, dport=40000, flags="SA", seq=5000, ack=1001))
    strategy = "[TCP:flags:S]-drop-| \\/ [TCP:flags:SA]-tamper{TCP:window:replace:0}-|"
    made = run(strategy, synack, "in")
    assert made is not None and changed(synack, made[0]) == {"window": 0} and right(made[0])
    assert run(strategy, synack, "out") is None


# kazakhstan.md section 6: what each published strategy sends.


def test_kz_segmentation_sends_the_clienthello_as_two_segments_in_order() -> None:
    before = hello_segment()
    made = run(LIBRARY["kz_segmentation"].strategy, before)
    assert made is not None and len(made) == 2
    first, second = (bytes(IP(m)[TCP].payload) for m in made)
    assert first + second == HELLO and len(first) == len(HELLO) // 2
    assert [IP(m)[TCP].seq for m in made] == [1001, 1001 + len(first)] and all(map(right, made))
    assert not parse_client_hello(first).complete  # a device reading one segment sees no SNI
    assert run(LIBRARY["kz_segmentation"].strategy, syn()) is None


def test_kz_small_ip_length_sends_a_copy_of_length_78_then_the_original() -> None:
    before = hello_segment(options=False)  # Geneva's client: no TCP options
    made = run(LIBRARY["kz_small_ip_length"].strategy, before)
    assert made is not None and len(made) == 2 and made[1] == before
    copy = IP(made[0][:78])  # as a router forwards it: trimmed to its total length
    assert copy.len == 78 and tcp_checksum_right(made[0]) and ip_checksum_right(made[0])
    assert bytes(copy[TCP].payload) == HELLO[:38]  # the server keeps its first 38 bytes


def test_kz_syn_payload_sends_the_syn_then_a_second_syn_with_a_random_payload() -> None:
    before = syn()
    made = run(LIBRARY["kz_syn_payload"].strategy, before)
    assert made is not None and len(made) == 2 and made[0] == before
    payload = header(made[1])["load"]
    assert isinstance(payload, bytes) and len(payload) == 10
    assert changed(before, made[1]) == {"load": payload} and right(made[1])
    assert run(LIBRARY["kz_syn_payload"].strategy, hello_segment()) is None


def test_kz_tcb_turnaround_sends_a_synack_copy_first_then_the_syn() -> None:
    before = syn()
    made = run(LIBRARY["kz_tcb_turnaround"].strategy, before)
    assert made is not None and len(made) == 2 and made[1] == before
    assert changed(before, made[0]) == {"flags": 0x12} and right(made[0])


def test_the_kernels_rewrite_of_a_raw_packet_is_told_from_another_packet() -> None:
    lying = one("[TCP:flags:PA]-tamper{IP:len:replace:78}-|", hello_segment())
    rewritten = bytearray(lying)
    struct.pack_into("!HH", rewritten, 2, len(lying), 999)  # total length and id, as the kernel sets them
    struct.pack_into("!H", rewritten, 10, 0xBEEF)
    assert same_but_rewritten(bytes(rewritten), lying)
    rewritten[-1] ^= 1
    assert not same_but_rewritten(bytes(rewritten), lying)
    assert not same_but_rewritten(lying[:-1], lying)


def test_the_kernel_hands_over_only_what_the_triggers_can_fire_on() -> None:
    def selected(text: str) -> list[str]:
        strategy = parse(text)
        return [
            " ".join(r)
            for r in rules.rules(443, 3, {"out": strategy.outbound, "in": strategy.inbound})
            if "--dport" in r or "--sport" in r
        ]

    queue = "-j NFQUEUE --queue-num 3 --queue-bypass"
    assert selected(LIBRARY["kz_segmentation"].strategy) == [
        f"-A GENEVA3-OUT -p tcp --dport 443 --tcp-flags ALL PSH,ACK {queue}"
    ]
    assert selected("[TCP:flags:S]-drop-| [TCP:flags:AP]-drop-| [TCP:flags:PA]-drop-|") == [
        f"-A GENEVA3-OUT -p tcp --dport 443 --tcp-flags ALL SYN {queue}",
        f"-A GENEVA3-OUT -p tcp --dport 443 --tcp-flags ALL PSH,ACK {queue}",
    ]
    assert selected("[TCP:flags:SEC]-drop-|") == [f"-A GENEVA3-OUT -p tcp --dport 443 --tcp-flags ALL SYN {queue}"]
    assert selected("[TCP:flags:S]-drop-| [IP:ttl:64]-drop-| \\/ [TCP:flags:RA]-drop-|") == [
        f"-A GENEVA3-OUT -p tcp --dport 443 {queue}",  # a trigger on another field: every packet
        f"-A GENEVA3-IN -p tcp --sport 443 --tcp-flags ALL RST,ACK {queue}",
    ]


def test_this_test_process_is_refused_as_outside_a_lab_host() -> None:
    reason = netns.refusal()
    assert reason is not None and "namespace" in reason
