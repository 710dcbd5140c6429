"""Hostile packets: a seeded generator of malformed raw IPv4 packets, and a sender.

Students craft malformed packets on purpose (DESIGN principle 8), so the lab's packet
paths are tested with packets built byte by byte here, with ``struct``: scapy's
``fuzz()`` only draws well-formed options and lengths. ``generate`` yields
``Hostile(family, data)`` for a seed, deterministically: each family draws from its own
generator seeded with the seed and its name, so a family's packets are the same whatever
other families are asked for. The families (``FAMILIES``, pick them by name):

- ``tcp_options``: option lengths 0 and 1, longer than the header, MSS / window scale /
  SACK / timestamp options of the wrong length, unknown kinds, options running past the
  data offset (on SYNs, where the interception device reads them, and on ClientHellos);
- ``tcp_data_offset``: every TCP data offset, 0 to 15, in turn;
- ``ip_lengths``: every IP header length (IHL 0 to 15) in turn, total lengths that lie
  (0, under 20, shorter and longer than the bytes, 65535);
- ``tcp_flags``: all 256 combinations of the 8 TCP flag bits in turn (SYN+FIN, SYN+RST,
  all set, none), with and without a ClientHello;
- ``ip_options``: options of length 0 and 1, running past the header, unknown kinds,
  record-route and timestamp options with bad pointers, source routes, router alerts;
- ``fragments``: ClientHellos and DNS queries cut into fragments: in order, reversed,
  only the first (MF set, never completed), only the last, overlapping with other bytes,
  an 8-byte first fragment, offsets past 65535;
- ``tls_records``: TLS records truncated, oversized, of lengths 0 to 5 and 0xffff, of
  other content types and versions, two records in one segment;
- ``client_hello``: ClientHellos whose inner lengths lie (handshake, session id, cipher
  suites, compression, extensions, one extension, server-name list, name), two SNI
  extensions, several names, other name types;
- ``sni_names``: well-formed ClientHellos for names no resolver would accept: a label
  longer than 63, ``a..b``, a NUL, non-ASCII and invalid UTF-8 bytes, an empty name,
  names of 16 KiB and the longest one a packet can carry (about 64 KiB);
- ``dns``: DNS queries whose counts lie, with compression loops, truncated questions,
  25 or more questions (a forged reply that copies them is over the MTU), labels of 64
  to 255 bytes and of bytes that are not UTF-8, queries with QR set, random bytes;
- ``mtproto``: 64-byte openings that look like Telegram's obfuscated2 init (valid tags,
  63 bytes, reserved starts, low entropy), as the third client segment of a flow;
- ``random_payload``: random bytes after a valid IP header (TCP, UDP, ICMP, GRE, any
  protocol number).

Names in the ClientHellos and DNS queries are the target's ``names`` (the names the
censors list, so malformed bytes reach the code that acts on a listed name) mixed with
malformed ones. Each packet carries a bad IP and transport checksum with probability
``bad_checksums``. With ``mtu`` set, a packet longer than it is sent as IP fragments (the
node that reassembles them, ``gw`` with conntrack, then hands the whole to its DPI).

Sending, inside a lab host (a subscriber)::

    python -m tools.dpi.hostile --count N --seed S --dst ADDR [--dns ADDR] [--family F ...] [--rate PPS]

One raw socket (``IPPROTO_RAW``, so ``IP_HDRINCL``) sends the bytes as built, except for
what Linux does to every header-included packet: when IHL >= 5 it always rewrites the
total length (to the bytes' length) and the header checksum, and fills in a source
address or an IP ID left zero; with IHL < 5 it leaves the header alone. It refuses a
packet longer than the route's MTU (EMSGSIZE), shorter than 20 bytes or than its IHL
(EINVAL): those are counted, not fatal. So lying total lengths and bad IP checksums
never leave the sender, and the first router (``access`` for a subscriber) drops what
its ``ip_rcv`` rejects (IHL < 5, a bad checksum, options it cannot parse); what reaches
``gw`` is hostile above the IP header. The offline parsers (tests/unit/test_hostile.py)
get every packet exactly as built. The sender refuses any destination that is not an
address of a lab node (topologies/: every topology's hosts, routers and sites) and
refuses to run outside a lab's own network namespace: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import itertools
import json
import os
import random
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from tools.dpi.ipv4 import checksum
from tools.dpi.mtproto_codec import INIT_SIZE, MODES, RESERVED_STARTS, TAG_SLICE, ciphers, never_drawn

MAX_PACKET = 0xFFFF
TCP, UDP = 6, 17
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
MF, DF = 0x1, 0x2  # IP flags (the top 3 bits of the fragment field)
IP_HEADER = struct.Struct("!BBHHHBBH4s4s")
TCP_HEADER = struct.Struct("!HHIIBBHHH")


class Hostile(NamedTuple):
    family: str
    data: bytes


@dataclass(frozen=True)
class Target:
    """Where the packets go. ``src`` is the sender's own address (the TCP and UDP
    checksums cover it); ``dst`` gets the TCP and raw families, ``dns`` the DNS family."""

    src: str
    dst: str
    dns: str
    names: tuple[str, ...] = ("facebook.com", "www.instagram.com")
    tls_port: int = 443
    http_port: int = 80
    dns_port: int = 53


# -- bytes --------------------------------------------------------------------------------
def _with_checksum(data: bytes, at: int, value: int, good: bool) -> bytes:
    return data[:at] + struct.pack("!H", value if good else value ^ 0x5555) + data[at + 2 :]


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    *,
    ident: int,
    options: bytes = b"",
    ihl: int | None = None,
    length: int | None = None,
    flags: int = 0,
    offset: int = 0,
    ttl: int = 64,
    good: bool = True,
) -> bytes:
    """An IPv4 packet. ``options`` go in as given (padded to 4 bytes with EOL); ``ihl``
    and ``length`` are written as given when set, whatever the bytes are."""
    options += b"\0" * (-len(options) % 4)
    real = 20 + len(options)
    total = real + len(payload) if length is None else length
    head = IP_HEADER.pack(
        0x40 | ((real // 4 if ihl is None else ihl) & 15),
        0,
        total & 0xFFFF,
        ident,
        (flags << 13) | (offset & 0x1FFF),
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    head += options
    return _with_checksum(head, 10, checksum(head), good) + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, length & 0xFFFF)


def tcp_segment(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    *,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    options: bytes = b"",
    data_offset: int | None = None,
    window: int = 64240,
    urgent: int = 0,
    good: bool = True,
) -> bytes:
    """A TCP segment (header and payload). ``options`` are padded to 4 bytes with EOL;
    ``data_offset`` is written as given when set."""
    options += b"\0" * (-len(options) % 4)
    offset = (20 + len(options)) // 4 if data_offset is None else data_offset
    segment = TCP_HEADER.pack(sport, dport, seq, ack, (offset & 15) << 4, flags & 0xFF, window, 0, urgent)
    segment += options + payload
    return _with_checksum(segment, 16, checksum(_pseudo(src, dst, TCP, len(segment)) + segment), good)


def udp_datagram(
    src: str, dst: str, sport: int, dport: int, payload: bytes, *, length: int | None = None, good: bool = True
) -> bytes:
    """A UDP datagram; ``length`` is written as given when set."""
    datagram = struct.pack("!HHHH", sport, dport, (8 + len(payload) if length is None else length) & 0xFFFF, 0)
    datagram += payload
    value = checksum(_pseudo(src, dst, UDP, len(datagram)) + datagram) or 0xFFFF
    return _with_checksum(datagram, 6, value, good)


def fragment(packet: bytes, size: int) -> list[bytes]:
    """``packet`` as IP fragments carrying at most ``size`` bytes of its payload each
    (a multiple of 8), in order; the header (and options) copied, checksums recomputed.
    A packet whose header length is not sane is returned whole."""
    ihl = (packet[0] & 15) * 4
    if ihl < 20 or ihl > len(packet) or size < 8:
        return [packet]
    size -= size % 8
    head, body = bytearray(packet[:ihl]), packet[ihl:]
    pieces = []
    for start in range(0, len(body), size):
        chunk = body[start : start + size]
        more = MF if start + size < len(body) else 0
        struct.pack_into("!HHH", head, 2, ihl + len(chunk), packet[4] << 8 | packet[5], (more << 13) | start // 8)
        struct.pack_into("!H", head, 10, 0)
        struct.pack_into("!H", head, 10, checksum(bytes(head)))
        pieces.append(bytes(head) + chunk)
    return pieces


# -- application bytes ---------------------------------------------------------------------
Lie = Callable[[int], int]  # the true length of a field -> the length written


def client_hello(
    name: bytes,
    *,
    rng: random.Random,
    lies: dict[str, Lie] | None = None,
    record_type: int = 0x16,
    record_version: int = 0x0301,
    handshake_type: int = 1,
    name_type: int = 0,
    more_names: tuple[bytes, ...] = (),
    extra_extensions: bytes = b"",
) -> bytes:
    """A TLS record holding a ClientHello for ``name`` (and ``more_names`` after it in the
    server-name list). ``lies`` maps a length field (LENGTH_FIELDS) to what it says instead
    of its true length; a value that does not fit its field is masked to it."""
    lies = lies or {}

    def length(field: str, true: int, size: int) -> bytes:
        return (lies.get(field, int)(true) & ((1 << (8 * size)) - 1)).to_bytes(size, "big")

    entry = bytes([name_type]) + length("name_length", len(name), 2) + name
    entry += b"".join(struct.pack("!BH", 0, len(more)) + more for more in more_names)
    names = length("sni_list_length", len(entry), 2) + entry
    extensions = b"\0\0" + length("sni_extension_length", len(names), 2) + names
    extensions += bytes.fromhex("000a00080006001d00170018000b00020100") + extra_extensions
    sid = bytes(rng.getrandbits(8) for _ in range(32))
    body = struct.pack("!H", 0x0303) + bytes(rng.getrandbits(8) for _ in range(32))
    body += length("session_id_length", len(sid), 1) + sid
    body += length("suites_length", len(SUITES), 2) + SUITES
    body += length("compression_length", 1, 1) + b"\0"
    body += length("extensions_length", len(extensions), 2) + extensions
    handshake = bytes([handshake_type]) + length("handshake_length", len(body), 3) + body
    return struct.pack("!BH", record_type, record_version) + length("record_length", len(handshake), 2) + handshake


SUITES = bytes.fromhex("130113021303c02bc02fc02cc030cca9cca8009c009d002f0035")
LENGTH_FIELDS = (
    "record_length",
    "handshake_length",
    "session_id_length",
    "suites_length",
    "compression_length",
    "extensions_length",
    "sni_extension_length",
    "sni_list_length",
    "name_length",
)


def sni_extension(names: list[bytes]) -> bytes:
    """A well-formed server_name extension listing ``names``."""
    entries = b"".join(struct.pack("!BH", 0, len(n)) + n for n in names)
    return struct.pack("!HHH", 0, len(entries) + 2, len(entries)) + entries


def dns_name(labels: list[bytes]) -> bytes:
    """Labels as DNS wire bytes, each behind its length byte (no checks), then the root."""
    return b"".join(bytes([len(label) & 0xFF]) + label for label in labels) + b"\0"


def dns_labels(name: str) -> list[bytes]:
    return [label.encode() for label in name.split(".") if label]


def dns_message(
    questions: list[bytes],
    *,
    ident: int,
    flags: int = 0x0100,
    counts: tuple[int, int, int, int] | None = None,
) -> bytes:
    """A DNS message of ``questions`` (each: name wire bytes + type + class, as given);
    ``counts`` (QD, AN, NS, AR) written as given when set."""
    qd, an, ns, ar = counts if counts is not None else (len(questions), 0, 0, 0)
    return struct.pack("!HHHHHH", ident, flags, qd & 0xFFFF, an & 0xFFFF, ns & 0xFFFF, ar & 0xFFFF) + b"".join(
        questions
    )


def question(name: bytes, qtype: int = 1, qclass: int = 1) -> bytes:
    return name + struct.pack("!HH", qtype, qclass)


def obfuscated2_init(rng: random.Random, tag: bytes) -> bytes:
    """A 64-byte obfuscated2 init as a client sends it (tools/dpi/mtproto_codec.py), drawn
    from ``rng``: bytes 56..64 encrypted with the key the init carries, so a DPI that
    decrypts it reads ``tag``."""
    while True:
        init = bytearray(rng.getrandbits(8) for _ in range(INIT_SIZE))
        if never_drawn(init) is None:
            break
    init[TAG_SLICE] = tag
    encrypted = ciphers(bytes(init))[0].update(bytes(init))
    return bytes(init[:56]) + encrypted[56:]


# -- families -------------------------------------------------------------------------------
class Forge:
    """What every family draws with: the family's own random generator and the target."""

    def __init__(self, rng: random.Random, target: Target, bad_checksums: float) -> None:
        self.rng, self.t, self.bad = rng, target, bad_checksums

    def good(self) -> bool:
        return self.rng.random() >= self.bad

    def ident(self) -> int:
        return self.rng.randrange(1, 0x10000)

    def port(self) -> int:
        return self.rng.randrange(1024, 65536)

    def name(self) -> str:
        return self.rng.choice(self.t.names)

    def hello(self, name: str | bytes | None = None, **fields: object) -> bytes:
        raw = name if isinstance(name, bytes) else (name or self.name()).encode()
        return client_hello(raw, rng=self.rng, **fields)  # type: ignore[arg-type]

    def tcp(
        self,
        payload: bytes = b"",
        *,
        flags: int = PSH | ACK,
        dport: int | None = None,
        sport: int | None = None,
        seq: int | None = None,
        ip: dict | None = None,
        **tcp: object,
    ) -> bytes:
        """A TCP packet to the target's TLS port (by default) from a fresh port."""
        good = self.good()
        seg = tcp_segment(
            self.t.src,
            self.t.dst,
            self.port() if sport is None else sport,
            self.t.tls_port if dport is None else dport,
            seq=self.rng.getrandbits(32) if seq is None else seq,
            ack=self.rng.getrandbits(32) if flags & ACK else 0,
            flags=flags,
            payload=payload,
            good=good,
            **tcp,  # type: ignore[arg-type]
        )
        return self.ip(TCP, seg, self.t.dst, good=good, **(ip or {}))

    def udp(self, payload: bytes, *, length: int | None = None, ip: dict | None = None) -> bytes:
        """A UDP datagram to the target's DNS server and port."""
        good = self.good()
        datagram = udp_datagram(self.t.src, self.t.dns, self.port(), self.t.dns_port, payload, length=length, good=good)
        return self.ip(UDP, datagram, self.t.dns, good=good, **(ip or {}))

    def ip(self, proto: int, payload: bytes, dst: str, good: bool | None = None, **fields: object) -> bytes:
        good = self.good() if good is None else good
        return ipv4(self.t.src, dst, proto, payload, ident=self.ident(), good=good, **fields)  # type: ignore[arg-type]

    def query(self, name: str | None = None) -> bytes:
        """A well-formed DNS query (A) for ``name`` (default: one of the target's names)."""
        return dns_message([question(dns_name(dns_labels(name or self.name())))], ident=self.ident())

    def transport(self) -> tuple[int, bytes, str]:
        """(protocol, transport bytes, destination) of a ClientHello segment or a DNS query,
        for families that malform what is around them."""
        if self.rng.random() < 0.7:
            seg = tcp_segment(
                self.t.src,
                self.t.dst,
                self.port(),
                self.t.tls_port,
                seq=self.rng.getrandbits(32),
                ack=self.rng.getrandbits(32),
                flags=PSH | ACK,
                payload=self.hello(),
            )
            return TCP, seg, self.t.dst
        return UDP, udp_datagram(self.t.src, self.t.dns, self.port(), self.t.dns_port, self.query()), self.t.dns


Family = Callable[[Forge], Iterator[bytes]]

TCP_OPTIONS: tuple[bytes, ...] = (
    b"\x02\x03\x05",  # MSS of length 3 (issue 9's reproduction)
    b"\x02\x02",  # MSS without a value
    b"\x02\x00",  # length 0: a parser that steps by the length never moves
    b"\x02\x01",  # length 1: shorter than kind and length
    b"\x02\x06\x05\xb4\x00\x00",  # MSS of length 6
    b"\x02\x28\x05\xb4",  # MSS of length 40: past the header
    b"\x02\x04\x00\x00",  # MSS 0
    b"\x03\x02",  # window scale without a shift
    b"\x03\x04\x0e\x00",  # window scale of length 4
    b"\x03\x03\xff",  # shift 255
    b"\x03\x00",
    b"\x04\x03\x00",  # SACK permitted of length 3
    b"\x05\x03\x00",  # SACK blocks: length 3
    b"\x05\x0b" + bytes(9),  # SACK blocks: not 2 + 8n
    b"\x05\xff" + bytes(8),  # SACK blocks past the header
    b"\x08\x09" + bytes(7),  # timestamp of length 9
    b"\x08\x0b" + bytes(9),  # timestamp of length 11
    b"\x08\x06\x00\x00\x00\x01",  # timestamp without the echo
    b"\x08\x02",  # timestamp without values
    b"\x08\x00",
    b"\x08\x01",
    b"\x00garbage after EOL",
    b"\x01" * 40,  # 40 NOPs: the most a header holds
    b"\x1e\x01",  # MPTCP of length 1
    b"\x22\x01",  # Fast Open of length 1
    b"\xfe\xff\x00",  # experimental, length 255
    b"\xff\x00",  # kind 255 of length 0
    b"\x01\x01\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x02\xff",  # a valid timestamp, then a lone kind
    b"\x02\x04\x05\xb4" * 10,  # ten MSS options
)


def tcp_options(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        if i % 3 == 2:  # random option soup
            options = bytes(f.rng.getrandbits(8) for _ in range(f.rng.randrange(1, 41)))
        else:
            options = TCP_OPTIONS[(i // 3 * 2 + i % 3) % len(TCP_OPTIONS)]
        syn = i % 2 == 0
        payload = b"" if syn else f.hello()
        if f.rng.random() < 0.2 and len(options) > 4:  # the options run past the data offset
            yield f.tcp(payload, flags=SYN if syn else PSH | ACK, options=options, data_offset=6)
        else:
            yield f.tcp(payload, flags=SYN if syn else PSH | ACK, options=options[:40])


def tcp_data_offset(f: Forge) -> Iterator[bytes]:
    options = b"\x02\x04\x05\xb4\x01\x03\x03\x07\x04\x02\x08\x0a" + bytes(8)
    for i in itertools.count():
        syn = (i // 16) % 2 == 1
        yield f.tcp(b"" if syn else f.hello(), flags=SYN if syn else PSH | ACK, options=options, data_offset=i % 16)


def ip_lengths(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        proto, payload, dst = f.transport()
        options = b"\x01" * f.rng.choice((0, 0, 4, 8, 40))
        real = 20 + len(options) + len(payload)
        length = f.rng.choice((None, 0, 19, 20, real - 1, real - 10, real + 1, real + 100, MAX_PACKET))
        yield f.ip(proto, payload, dst, options=options, ihl=i % 16, length=length)


def tcp_flags(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        flags = i % 256
        payload = f.hello() if (i // 256) % 2 else b""
        yield f.tcp(payload, flags=flags, urgent=f.rng.getrandbits(16) if flags & URG else 0)


IP_OPTIONS: tuple[bytes, ...] = (
    b"\x07\x03\x04",  # record route of length 3
    b"\x07\x07\x00\x00\x00\x00\x00",  # record route, pointer 0
    b"\x07\x07\xff\x00\x00\x00\x00",  # record route, pointer past the option
    b"\x07\x27\x04",  # record route longer than the header
    b"\x83\x03\x04",  # loose source route of length 3
    b"\x44\x00",  # timestamp of length 0
    b"\x44\x01",
    b"\x44\x08\x05\x0f\x00\x00\x00\x00",  # timestamp, pointer 5, flag 15
    b"\x44\x0c\x0d\x03\x00\x00\x00\x00\x00\x00\x00\x00",  # timestamp, full, overflow 0
    b"\x94\x04\x00\x00",  # router alert
    b"\x94\x02",  # router alert of length 2
    b"\x94\x06\x00\x00\x00\x00",
    b"\x83\x00",  # length 0
    b"\x9e\x01",  # unknown kind, length 1
    b"\xff\x02",
    b"\x00" + b"garbage",  # EOL then garbage
    b"\x01" * 40,  # 40 NOPs
    b"\x86\x05\x00\x00\x00",  # CIPSO, bad
    b"\x82\x0b" + bytes(9),  # security
    b"\x88\x04\x00\x01",  # stream id
)


def ip_options(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        proto, payload, dst = f.transport()
        if i % 4 == 3:
            options = bytes(f.rng.getrandbits(8) for _ in range(f.rng.randrange(1, 41)))
        elif i % 4 == 2:  # a source route through the destination itself (lab addresses only)
            options = bytes([f.rng.choice((0x83, 0x89)), 7, 4]) + socket.inet_aton(dst)
        else:
            options = IP_OPTIONS[(i // 4 * 2 + i % 4) % len(IP_OPTIONS)]
        yield f.ip(proto, payload, dst, options=options[:40])


def fragments(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        proto, payload, dst = f.transport()
        ident = f.ident()
        whole = ipv4(f.t.src, dst, proto, payload, ident=ident)
        pieces = fragment(whole, f.rng.choice((8, 16, 64, 256)))
        case = i % 8
        if case == 1:
            pieces.reverse()
        elif case == 2:
            pieces = pieces[:1]  # MF set, never completed
        elif case == 3:
            pieces = pieces[-1:]
        elif case == 4 and len(pieces) > 1:  # an overlapping copy with other bytes
            other = bytearray(pieces[1])
            other[20:] = bytes(f.rng.getrandbits(8) for _ in range(len(other) - 20))
            struct.pack_into("!H", other, 6, (MF << 13) | max(0, (struct.unpack_from("!H", other, 6)[0] & 0x1FFF) - 1))
            struct.pack_into("!H", other, 10, 0)
            struct.pack_into("!H", other, 10, checksum(bytes(other[:20])))
            pieces.insert(2, bytes(other))
        elif case == 5:  # past 65535: offset 8191 x 8 plus data
            pieces = [ipv4(f.t.src, dst, proto, payload[:200], ident=ident, offset=0x1FFF)]
        elif case == 6:  # DF and MF both, offset 0, no data
            pieces = [ipv4(f.t.src, dst, proto, b"", ident=ident, flags=DF | MF)]
        elif case == 7:  # offset in the middle, more fragments coming, odd size
            pieces = [ipv4(f.t.src, dst, proto, payload[:13], ident=ident, flags=MF, offset=f.rng.randrange(1, 64))]
        yield from pieces


def tls_records(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        hello = f.hello()
        case = i % 8
        if case == 0:
            payload = hello[: f.rng.randrange(1, len(hello))]  # truncated
        elif case == 1:
            payload = hello[:3] + struct.pack("!H", f.rng.choice((0, 1, 2, 3, 4, 5))) + hello[5:]
        elif case == 2:
            payload = hello[:3] + struct.pack("!H", f.rng.choice((0xFFFF, 0x4001, 0x4800, len(hello)))) + hello[5:]
        elif case == 3:  # another content type or version
            payload = bytes([f.rng.choice((0, 0x14, 0x15, 0x17, 0x18, 0xFF))]) + hello[1:]
            if f.rng.random() < 0.5:
                payload = bytes([0x16]) + struct.pack("!H", f.rng.choice((0x0000, 0x0300, 0x0304, 0xFFFF))) + hello[3:]
        elif case == 4:  # two records in one segment
            payload = hello + f.hello(f.rng.choice(("vk.com", "example.org")))
        elif case == 5:  # oversized: a padding extension fills the segment
            pad = f.rng.randrange(900, 1400)
            payload = f.hello(extra_extensions=struct.pack("!HH", 21, pad) + bytes(pad))
        elif case == 6:  # a handshake that is not a ClientHello
            payload = f.hello(handshake_type=f.rng.choice((0, 2, 11, 20, 255)))
        else:  # the record header alone, or less
            payload = hello[: f.rng.randrange(1, 6)]
        yield f.tcp(payload)


LIES: tuple[Lie, ...] = (
    lambda true: 0,
    lambda true: 1,
    lambda true: true - 1,
    lambda true: true + 1,
    lambda true: true * 2,
    lambda true: 0xFF,
    lambda true: 0xFFFF,
    lambda true: 0xFFFFFF,
)


def client_hello_lengths(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        case = i % (len(LENGTH_FIELDS) + 3)
        if case < len(LENGTH_FIELDS):
            lie = f.rng.choice((*LIES, lambda true: f.rng.getrandbits(24)))
            yield f.tcp(f.hello(lies={LENGTH_FIELDS[case]: lie}))
        elif case == len(LENGTH_FIELDS):  # two SNI extensions: unlisted first, then listed
            yield f.tcp(f.hello("example.org", extra_extensions=sni_extension([f.name().encode()])))
        elif case == len(LENGTH_FIELDS) + 1:  # another name type
            yield f.tcp(f.hello(name_type=f.rng.choice((1, 2, 0xFF))))
        else:  # several names in one list: unlisted, then listed
            yield f.tcp(f.hello("example.org", more_names=(f.name().encode(),)))


SNI_NAMES: tuple[bytes, ...] = (
    b"a" * 64 + b".facebook.com",  # a label longer than 63
    b"x" * 255 + b".com",
    b"a..b",
    b"facebook..com",
    b".facebook.com",
    b"facebook.com.",
    b"face\x00book.com",
    b"facebook.com\x00.example.org",
    b"f\xe4cebook.com",  # Latin-1
    "фейсбук.com".encode(),  # UTF-8
    b"\xff\xfe\xfd.com",  # not UTF-8
    b"\xc0\xaf.com",  # overlong UTF-8
    b"",
    b".",
    b" ",
    b"FACEBOOK.COM",
    b"facebook.com:443",
    b"*.facebook.com",
    b"xn--80a.com",
    b"a" * 16384,
)
LONGEST_NAME = MAX_PACKET - 20 - 20 - len(client_hello(b"", rng=random.Random(0)))  # fills a whole packet


def sni_names(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        if i % (len(SNI_NAMES) + 1) == len(SNI_NAMES):  # one-letter labels, then a listed name
            listed = f.name().encode()
            name = b"a." * ((LONGEST_NAME - len(listed)) // 2) + listed
        else:
            name = SNI_NAMES[i % (len(SNI_NAMES) + 1)]
        yield f.tcp(f.hello(name))


def dns(f: Forge) -> Iterator[bytes]:
    for i in itertools.count():
        case = i % 10
        listed = dns_name(dns_labels(f.name()))
        if case == 0:  # counts that lie
            counts = f.rng.choice(((0, 0, 0, 0), (0xFFFF, 0, 0, 0), (1, 0xFFFF, 0xFFFF, 0xFFFF), (2, 0, 0, 0)))
            payload = dns_message([question(listed)], ident=f.ident(), counts=counts)
        elif case == 1:  # compression loops and pointers past the end
            name = f.rng.choice((b"\xc0\x0c", b"\x03www\xc0\x0c", b"\xc0\x0e\xc0\x0c", b"\xc0\xff", b"\xc0\x00"))
            payload = dns_message([question(name)], ident=f.ident())
        elif case == 2:  # truncated questions
            whole = question(listed)
            payload = dns_message([whole[: f.rng.randrange(0, len(whole))]], ident=f.ident())
        elif case == 3:  # the header alone, or less
            payload = dns_message([], ident=f.ident(), counts=(1, 0, 0, 0))[: f.rng.randrange(0, 13)]
        elif case in (4, 5):  # 25 or more questions, the first a listed name
            payload = many_questions(f, listed, near_mtu=case == 4)
        elif case == 6:  # labels that are not UTF-8, or long, or with dots and NULs inside
            label = f.rng.choice(
                (b"\xff\xfe\xfd", b"face\x80book", b"face.book", b"face\x00book", b"a" * 64, b"b" * 255)
            )
            payload = dns_message([question(dns_name([label, *dns_labels(f.name())]))], ident=f.ident())
        elif case == 7:  # a response, another opcode, an odd type
            flags = f.rng.choice((0x8180, 0x7800, 0x0100 | 0x000F, 0x2900))
            qtype = f.rng.choice((1, 0, 255, 0xFFFF))
            payload = dns_message([question(listed, qtype)], ident=f.ident(), flags=flags)
        elif case == 8:  # a name over 255 bytes
            payload = dns_message([question(dns_name([b"a" * 63] * 5 + dns_labels(f.name())))], ident=f.ident())
        else:
            payload = bytes(f.rng.getrandbits(8) for _ in range(f.rng.randrange(0, 600)))
        length = None if f.rng.random() < 0.85 else f.rng.choice((0, 7, 8, 9, MAX_PACKET))
        yield f.udp(payload, length=length)


MTU = 1500
QUESTION_PACKET = 20 + 8  # IP and UDP headers


def many_questions(f: Forge, listed: bytes, near_mtu: bool) -> bytes:
    """A query of 25 or more questions, the first ``listed``. ``near_mtu``: the query fills
    an MTU within 16 bytes, so a reply that copies the questions and adds any answer is
    over it; otherwise 60 questions, about 1.8 kB (fragmented when sent)."""
    questions = [question(listed)]
    count = 60 if not near_mtu else 25
    questions += [question(dns_name([b"q%02d" % n, *dns_labels(f.name())])) for n in range(1, count)]
    if near_mtu:
        size = QUESTION_PACKET + len(dns_message(questions, ident=0))
        while size + 40 <= MTU:
            questions.append(question(dns_name([b"q%02d" % len(questions), *dns_labels(f.name())])))
            size = QUESTION_PACKET + len(dns_message(questions, ident=0))
        room = MTU - size - 6  # one more question: label byte, root, type, class, and the label
        if room > 0:
            questions.append(question(dns_name([b"p" * min(room, 63)])))
    return dns_message(questions, ident=f.ident())


def mtproto(f: Forge) -> Iterator[bytes]:
    """The opening is the third client segment of its flow (SYN, ACK, then data), as
    BlockTrafficForMTProto's kernel selection wants."""
    for i in itertools.count():
        case = i % 8
        if case < 3:
            opening = obfuscated2_init(f.rng, list(MODES.values())[case])
            opening += bytes(f.rng.getrandbits(8) for _ in range(f.rng.randrange(0, 200)))
        elif case == 3:
            opening = obfuscated2_init(f.rng, MODES["intermediate"])[:63]
        elif case == 4:
            opening = bytes(f.rng.getrandbits(8) for _ in range(64))
        elif case == 5:
            start = f.rng.choice([*sorted(RESERVED_STARTS), b"\xef\x00\x00\x00"])
            opening = start + obfuscated2_init(f.rng, MODES["abridged"])[4:]
        elif case == 6:
            opening = bytes([f.rng.getrandbits(8)]) * 64  # low entropy
        else:
            init = bytearray(obfuscated2_init(f.rng, MODES["padded"]))
            init[4:8] = bytes(4)
            opening = bytes(init)
        sport, seq = f.port(), f.rng.getrandbits(32)
        dport = f.rng.choice((f.t.tls_port, f.t.http_port))
        yield f.tcp(flags=SYN, sport=sport, dport=dport, seq=seq)
        yield f.tcp(flags=ACK, sport=sport, dport=dport, seq=seq + 1)
        yield f.tcp(opening, sport=sport, dport=dport, seq=seq + 1)


def random_payload(f: Forge) -> Iterator[bytes]:
    for _ in itertools.count():
        proto = f.rng.choice((TCP, TCP, UDP, UDP, 1, 0, 47, 50, 132, 255, f.rng.randrange(256)))
        data = bytearray(f.rng.getrandbits(8) for _ in range(f.rng.randrange(0, 1480)))
        if proto in (TCP, UDP) and len(data) >= 4 and f.rng.random() < 0.7:  # toward a port a DPI reads
            port = f.t.tls_port if proto == TCP else f.t.dns_port
            struct.pack_into("!HH", data, 0, f.port(), f.rng.choice((port, f.t.http_port)))
        dst = f.t.dns if proto == UDP else f.t.dst
        yield ipv4(f.t.src, dst, proto, bytes(data), ident=f.ident())


FAMILIES: dict[str, Family] = {
    "tcp_options": tcp_options,
    "tcp_data_offset": tcp_data_offset,
    "ip_lengths": ip_lengths,
    "tcp_flags": tcp_flags,
    "ip_options": ip_options,
    "fragments": fragments,
    "tls_records": tls_records,
    "client_hello": client_hello_lengths,
    "sni_names": sni_names,
    "dns": dns,
    "mtproto": mtproto,
    "random_payload": random_payload,
}


def generate(
    count: int,
    seed: int,
    target: Target,
    families: list[str] | None = None,
    *,
    mtu: int | None = None,
    bad_checksums: float = 0.2,
) -> Iterator[Hostile]:
    """``count`` hostile packets, the families taking turns packet by packet (a family's
    multi-packet case, fragments or a flow's segments, stays together). With ``mtu``, a
    packet longer than it is cut into fragments that fit (each one counts)."""
    names = list(FAMILIES) if families is None else families
    unknown = [n for n in names if n not in FAMILIES]
    if unknown or not names:
        raise ValueError(f"unknown families {unknown} (known: {', '.join(FAMILIES)})")
    streams = [(n, FAMILIES[n](Forge(random.Random(f"{seed}:{n}"), target, bad_checksums))) for n in names]
    produced = 0
    for turn in itertools.count():
        name, stream = streams[turn % len(streams)]
        packet = next(stream)
        assert len(packet) <= MAX_PACKET, f"{name} made {len(packet)} bytes"
        for piece in fragment(packet, mtu - 20) if mtu and len(packet) > mtu else (packet,):
            yield Hostile(name, piece)
            produced += 1
            if produced == count:
                return


# -- sending ----------------------------------------------------------------------------
def lab_addresses() -> frozenset[str]:
    """Every address a node of any lab topology holds (interfaces and loopbacks, so every
    site, resolver, router and subscriber at the topologies' default sizes)."""
    from topologies import registry

    held: set[str] = set()
    for name in registry.TOPOLOGIES:
        model = registry.build(name)
        for node, data in model.graph.nodes(data=True):
            if data["role"] != "segment":
                held |= {str(a) for a in data["loopbacks"]}
                held |= {str(i.ip) for _, i in model.interface_addresses(node)}
    return frozenset(held)


def inside_a_lab() -> bool:
    """Whether this process runs in a lab: started by one (KZLAB_RUN) and in a network
    namespace other than that of PID 1 (the root namespace, outside the lab's PID
    namespace; the lab's outer namespace, inside it)."""
    try:
        return "KZLAB_RUN" in os.environ and os.stat("/proc/self/ns/net").st_ino != os.stat("/proc/1/ns/net").st_ino
    except OSError:
        return False


def source_for(dst: str) -> str:
    """The address the kernel sends from toward ``dst`` (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((dst, 9))
        return s.getsockname()[0]


def send(packets: list[bytes], rate: float | None) -> tuple[int, Counter, float]:
    """Send every packet over one raw socket, at most ``rate`` per second; (sent, errors
    by errno name, seconds)."""
    refused: Counter = Counter()
    sent = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    start = time.monotonic()
    try:
        for n, data in enumerate(packets):
            if rate and n % 32 == 0 and (ahead := n / rate - (time.monotonic() - start)) > 0:
                time.sleep(ahead)
            dst = socket.inet_ntoa(data[16:20]) if len(data) >= 20 else "0.0.0.0"
            try:
                sock.sendto(data, (dst, 0))
                sent += 1
            except OSError as exc:
                refused[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1
    finally:
        sock.close()
    return sent, refused, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.dpi.hostile", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--dst", required=True, help="a lab address: TCP and raw families")
    parser.add_argument("--dns", help="a lab address: the DNS family (default: --dst)")
    parser.add_argument("--family", action="append", choices=list(FAMILIES), help="(repeat) default: every family")
    parser.add_argument("--name", action="append", help="(repeat) names in ClientHellos and queries")
    parser.add_argument("--rate", type=float, help="packets per second at most (default: as fast as possible)")
    parser.add_argument("--mtu", type=int, default=MTU, help="fragment packets longer than this (0: never)")
    parser.add_argument("--bad-checksums", type=float, default=0.2, help="share of packets with bad checksums")
    parser.add_argument("--json", action="store_true", help="print the counts as one JSON line")
    args = parser.parse_args(argv)
    dns_server = args.dns or args.dst
    allowed = lab_addresses()
    for address in (args.dst, dns_server):
        if address not in allowed:
            print(f"kzlab: error: {address!r} is not an address of the lab: refusing to send there", file=sys.stderr)
            return 2
    if not inside_a_lab():
        print("kzlab: error: not inside a lab host: run it in one (e.g. mininet> home2 python -m ...)", file=sys.stderr)
        return 2
    names = tuple(args.name) if args.name else Target.names
    target = Target(source_for(args.dst), args.dst, dns_server, names)
    built = list(generate(args.count, args.seed, target, args.family, mtu=args.mtu or None,
                          bad_checksums=args.bad_checksums))  # fmt: skip
    sent, refused, seconds = send([p.data for p in built], args.rate)
    counts = {
        "sent": sent,
        "refused": dict(refused),
        "seconds": round(seconds, 2),
        "families": dict(Counter(p.family for p in built)),
    }
    if args.json:
        print(json.dumps(counts))
    else:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(refused.items())) or "none"
        print(f"hostile: {sent} packets sent in {seconds:.1f} s; refused by the kernel: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
