"""IPv4 packets read from, and built as, raw bytes: what every packet path of the lab uses.

The interception device and the censors' engines see packets students make malformed on
purpose (DESIGN principle 8). So they read the IPv4, TCP and UDP headers and the TCP
options here, with an explicit bounds check before every read, instead of building a
scapy packet per packet (which is also some ten times slower): ``parse`` returns None for
anything that is not a whole, unfragmented IPv4 packet carrying TCP or UDP, and the
options a SYN carries are read only when their kind and length are exactly the RFC's
(RFC 9293 3.2, RFC 7323): a malformed option ends the reading of options, and what was
read so far stands. Nothing here raises on any input. The builders make the packets a
censor injects (resets, block pages, forged DNS answers), checksummed, in microseconds.
"""

from __future__ import annotations

import array
import socket
import struct
import sys
from dataclasses import dataclass

PROTO_TCP, PROTO_UDP = 6, 17
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
OPT_END, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_PERM, OPT_TIMESTAMP = 0, 1, 2, 3, 4, 8
MAX_WSCALE = 14  # RFC 7323 2.3: a larger shift is used as 14
_IP = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
# What an NFQUEUE reader asks the kernel to copy of a packet at most. netfilterqueue reads
# each message into 4 KiB, and Linux adds up to 144 bytes of metadata for an IPv4 queue
# without the conntrack, uid/gid or secctx flags (nfqnl_build_packet_message): a longer
# message is skipped unread and its packet never gets a verdict. The kernel's receive
# buffer is sized for a full queue of such copies.
COPY_BYTES = 4096 - 144
QUEUE_LENGTH = 4096
QUEUE_SOCKET_BYTES = QUEUE_LENGTH * (COPY_BYTES + 800)


@dataclass(frozen=True, slots=True)
class Options:
    """The TCP options of a SYN or SYN-ACK that a takeover needs; None where absent."""

    mss: int | None = None
    wscale: int | None = None
    sack: bool = False
    ts_val: int | None = None
    ts_ecr: int | None = None


@dataclass(frozen=True, slots=True)
class Packet:
    """One IPv4 packet; ports are 0 unless it carries TCP or UDP (``proto``), the other TCP
    fields 0 unless TCP. ``payload``: the transport's payload (the IP payload for others)."""

    src: str
    dst: str
    proto: int
    length: int  # the IP total length
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    options: bytes  # raw TCP option bytes, read with ``tcp_options`` when needed
    payload: bytes  # the transport's payload

    @property
    def tcp(self) -> bool:
        return self.proto == PROTO_TCP

    @property
    def udp(self) -> bool:
        return self.proto == PROTO_UDP

    @property
    def key(self) -> tuple[str, int, str, int]:
        """The flow as its sender sees it: (source, source port, destination, destination port)."""
        return (self.src, self.sport, self.dst, self.dport)

    @property
    def reverse_key(self) -> tuple[str, int, str, int]:
        return (self.dst, self.dport, self.src, self.sport)


def parse(data: bytes, partial: bool = False) -> Packet | None:
    """An unfragmented IPv4 packet from its bytes (TCP and UDP read too; ports 0 for other
    protocols), or None for anything else or anything malformed. ``partial``: ``data`` may
    be a copy cut short (NFQUEUE copies at most COPY_BYTES of a packet); the payload is then
    what was copied, as a DPI box that reads a packet's first kilobytes sees it."""
    if len(data) < _IP.size:
        return None
    ver_ihl, _, total, _, frag, _, proto, _, src, dst = _IP.unpack_from(data)
    ihl = (ver_ihl & 0x0F) * 4
    if ver_ihl >> 4 != 4 or ihl < _IP.size or frag & 0x3FFF or total < ihl:
        return None  # not IPv4, or a fragment (a DPI reads only whole packets)
    if total <= len(data):
        end = total
    elif partial and len(data) >= COPY_BYTES:
        end = len(data)  # the copy is all there is
    else:
        return None  # a total length that lies about the bytes that came
    src_text, dst_text = socket.inet_ntoa(src), socket.inet_ntoa(dst)
    if proto == PROTO_UDP:
        if ihl + _UDP.size > end:
            return None
        sport, dport, _, _ = _UDP.unpack_from(data, ihl)
        return Packet(src_text, dst_text, proto, total, sport, dport, 0, 0, 0, 0, b"", data[ihl + _UDP.size : end])
    if proto != PROTO_TCP:
        return Packet(src_text, dst_text, proto, total, 0, 0, 0, 0, 0, 0, b"", data[ihl:end])
    if ihl + _TCP.size > end:
        return None
    sport, dport, seq, ack, offset, flags, window, _, _ = _TCP.unpack_from(data, ihl)
    doff = (offset >> 4) * 4
    if doff < _TCP.size or ihl + doff > end:
        return None
    options, payload = data[ihl + _TCP.size : ihl + doff], data[ihl + doff : end]
    return Packet(src_text, dst_text, proto, total, sport, dport, seq, ack, flags, window, options, payload)


def tcp_options(raw: bytes) -> Options:
    """The MSS, window scale, SACK-permitted and timestamp options in ``raw``; a kind with a
    length other than its RFC length, or a length running past the end, stops the reading."""
    mss = wscale = ts_val = ts_ecr = None
    sack = False
    i, end = 0, len(raw)
    while i < end:
        kind = raw[i]
        if kind == OPT_END:
            break
        if kind == OPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            break
        length = raw[i + 1]
        if length < 2 or i + length > end:
            break
        body = raw[i + 2 : i + length]
        if kind == OPT_MSS:
            if length != 4:
                break
            mss = int.from_bytes(body, "big")
        elif kind == OPT_WSCALE:
            if length != 3:
                break
            wscale = min(body[0], MAX_WSCALE)
        elif kind == OPT_SACK_PERM:
            if length != 2:
                break
            sack = True
        elif kind == OPT_TIMESTAMP:
            if length != 10:
                break
            ts_val, ts_ecr = struct.unpack("!II", body)
        i += length
    return Options(mss, wscale, sack, ts_val, ts_ecr)


@dataclass(frozen=True, slots=True)
class Built:
    """An IPv4 packet built here, in the form the injector sends (bytes and destination)."""

    dst: str
    data: bytes

    def __bytes__(self) -> bytes:
        return self.data


def tcp_segment(
    src: str, sport: int, dst: str, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"", window: int = 0
) -> Built:
    """A TCP segment without options from ``src``:``sport``, checksummed: what a censor
    injects (a reset, a block page) as if the other end sent it."""
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = bytearray(_TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, window, 0, 0))
    tcp += payload
    tcp[16:18] = struct.pack("!H", checksum(s + d + struct.pack("!BBH", 0, PROTO_TCP, len(tcp)) + tcp))
    return _ip(s, d, PROTO_TCP, bytes(tcp))


def tcp_reset(src: str, sport: int, dst: str, dport: int, seq: int) -> Built:
    """A bare RST from ``src``:``sport`` at sequence number ``seq`` (scapy takes
    milliseconds to build one; the device sends it on an intercepted handshake's path)."""
    return tcp_segment(src, sport, dst, dport, seq, 0, RST)


def udp_datagram(src: str, sport: int, dst: str, dport: int, payload: bytes) -> Built:
    """A UDP datagram from ``src``:``sport``, checksummed (a forged DNS answer)."""
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    udp = bytearray(_UDP.pack(sport, dport, _UDP.size + len(payload), 0)) + payload
    value = checksum(s + d + struct.pack("!BBH", 0, PROTO_UDP, len(udp)) + udp) or 0xFFFF
    udp[6:8] = struct.pack("!H", value)
    return _ip(s, d, PROTO_UDP, bytes(udp))


def _ip(src: bytes, dst: bytes, proto: int, body: bytes) -> Built:
    ip = bytearray(_IP.pack(0x45, 0, _IP.size + len(body), 0, 0, 64, proto, 0, src, dst))
    ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
    return Built(socket.inet_ntoa(dst), bytes(ip) + body)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071), as IP, TCP and UDP carry it; an odd length is
    padded with a zero byte."""
    if len(data) % 2:
        data += b"\0"
    words = array.array("H", data)
    if sys.byteorder == "little":
        words.byteswap()
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
