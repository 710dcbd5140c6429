"""The first question of a DNS query, read from raw bytes, and a forged answer to it.

Censors on the DNS path (SpoofDNSResponse, the offline ResolverBlocklist) need only the
query's id, flags and first question. Reading them with explicit bounds checks instead of
scapy's full DNS parser means no packet, however malformed (bad counts, compression
loops, truncated names, thousands of records), costs more than a few comparisons or
raises anything: what cannot be read is not a query (issue 9).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount
QR, OPCODE, RD = 0x8000, 0x7800, 0x0100
TYPE_A, CLASS_IN = 1, 1
MAX_NAME = 255  # wire length of a name, RFC 1035 3.1


@dataclass(frozen=True)
class Question:
    id: int
    flags: int
    name: str  # lower case, no trailing dot ("" for the root)
    qtype: int
    qclass: int
    wire: bytes  # the question as sent (name, type, class), to repeat in an answer


def first_question(payload: bytes) -> Question | None:
    """The first question of a standard query (QR 0, opcode 0, at least one question),
    or None for anything else or anything unreadable. Names must be plain labels (a
    compression pointer in a query's first question is not something clients send)."""
    if len(payload) < HEADER.size:
        return None
    ident, flags, qdcount, *_ = HEADER.unpack_from(payload)
    if flags & (QR | OPCODE) or qdcount == 0:
        return None
    labels, pos = [], HEADER.size
    while True:
        if pos >= len(payload) or pos - HEADER.size >= MAX_NAME:
            return None
        length = payload[pos]
        if length == 0:
            pos += 1
            break
        if length > 63 or pos + 1 + length > len(payload):
            return None  # a pointer (0xC0..) or another label type, or cut short
        labels.append(payload[pos + 1 : pos + 1 + length])
        pos += 1 + length
    if pos + 4 > len(payload):
        return None
    qtype, qclass = struct.unpack_from("!HH", payload, pos)
    name = b".".join(labels).decode("ascii", "replace").lower()
    return Question(ident, flags, name, qtype, qclass, payload[HEADER.size : pos + 4])


def forged_answer(question: Question, address: str, ttl: int = 300) -> bytes:
    """A recursive resolver's answer to ``question``: the question repeated (only it, as
    RFC 9619 wants one question per message) and one A record with ``address``."""
    flags = QR | (question.flags & RD) | 0x0080  # response, recursion desired as asked, recursion available
    record = b"\xc0\x0c" + struct.pack("!HHIH", TYPE_A, CLASS_IN, ttl, 4) + ipaddress.IPv4Address(address).packed
    return HEADER.pack(question.id, flags, 1, 1, 0, 0) + question.wire + record
