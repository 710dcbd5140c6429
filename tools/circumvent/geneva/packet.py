"""A packet as a strategy's actions change it, and the bytes it goes out as.

Lengths and checksums are computed when the packet is written out, so every action
leaves a correct packet, except where a tamper set one of them on purpose: that value is
kept (``replace``), or a random value other than the right one is written (``corrupt``).

A lying IP total length is kept as set, and the TCP checksum (unless tampered too) is
computed over what that length keeps: a router on the way trims the packet to its total
length, so the receiver checks and keeps exactly those bytes (kazakhstan.md section 6:
with ``tamper{IP:len:replace:78}`` the server keeps the first bytes of the ClientHello).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from scapy.layers.inet import IP, TCP

from tools.dpi.ipv4 import checksum

TCP_PROTO = 6


def tcp_checksum(src_dst: bytes, segment: bytes) -> int:
    """The checksum of a TCP ``segment`` (its checksum field zero) between the 8 bytes of
    source and destination address."""
    return checksum(src_dst + struct.pack("!BBH", 0, TCP_PROTO, len(segment)) + segment)


@dataclass
class Packet:
    """A scapy IPv4 packet, and the derived fields a tamper set on purpose: the key
    (``IP:len``, ``IP:chksum``, ``TCP:dataofs``, ``TCP:chksum``) to a value, or to None
    for ``corrupt`` (any value but the right one, drawn when written out)."""

    ip: IP
    fixed: dict[str, int | None] = field(default_factory=dict)

    @classmethod
    def read(cls, data: bytes) -> Packet:
        return cls(IP(data))

    def copy(self) -> Packet:
        return Packet(self.ip.copy(), dict(self.fixed))

    def has(self, proto: str) -> bool:
        """Whether the packet carries ``proto``'s header (an IP fragment carries raw bytes)."""
        return proto == "IP" or bool(self.ip.haslayer(TCP))

    def _value(self, key: str, right: int, bits: int, rng: random.Random) -> int:
        if key not in self.fixed:
            return right
        value = self.fixed[key]
        if value is not None:
            return value
        return (right + rng.randrange(1, 1 << bits)) % (1 << bits)  # never the right one

    def wire(self, rng: random.Random) -> bytes:
        """The packet's bytes: lengths and checksums right unless tampered on purpose."""
        ip = self.ip.copy()
        ip.len = ip.chksum = None
        tcp = ip.getlayer(TCP)
        if tcp is not None:
            tcp.chksum = tcp.dataofs = None
        data = bytearray(bytes(ip))
        ihl = (data[0] & 0x0F) * 4
        if tcp is not None:
            flags_at = ihl + 12
            dataofs = self._value("TCP:dataofs", data[flags_at] >> 4, 4, rng)
            data[flags_at] = dataofs << 4 | data[flags_at] & 0x0F
        struct.pack_into("!H", data, 2, self._value("IP:len", len(data), 16, rng))
        if tcp is not None:
            kept = min(len(data), struct.unpack_from("!H", data, 2)[0])  # what a router's trim leaves
            struct.pack_into("!H", data, ihl + 16, 0)
            right = tcp_checksum(bytes(data[12:20]), bytes(data[ihl:kept]))
            struct.pack_into("!H", data, ihl + 16, self._value("TCP:chksum", right, 16, rng))
        struct.pack_into("!H", data, 10, 0)
        struct.pack_into("!H", data, 10, self._value("IP:chksum", checksum(bytes(data[:ihl])), 16, rng))
        return bytes(data)
