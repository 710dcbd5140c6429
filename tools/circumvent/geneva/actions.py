"""Running a strategy on one packet: which trees fire, and what their actions make of it.

As in Geneva's engine: every tree of the packet's direction whose trigger matches runs
on a fresh copy of the packet, and the packets they make go out in tree order; a packet
no trigger matches goes out unchanged (``apply`` returns None). Down a tree, duplicate
hands the packet to its left child and a copy to its right one, tamper changes a field
and hands it on, fragment hands each child a piece, drop ends the branch, and an empty
child or ``send`` sends what reaches it.

A tamper on a packet without that header (TCP fields of an IP fragment) leaves it as it
is; a fragment of a packet it cannot cut (no TCP payload; an IP payload of 8 bytes or
less) hands both children the packet, as Geneva does.
"""

from __future__ import annotations

import random

from scapy.layers.inet import IP, TCP
from scapy.packet import Raw

from tools.circumvent.geneva import fields
from tools.circumvent.geneva.packet import Packet
from tools.circumvent.geneva.syntax import Drop, Duplicate, Fragment, Node, Send, Strategy, Tamper, Trigger
from tools.dpi.tls import parse_client_hello

MF = 1  # IP's more-fragments flag


def apply(strategy: Strategy, data: bytes, direction: str, rng: random.Random) -> list[bytes] | None:
    """The packets (bytes) ``strategy`` makes of the IPv4 packet ``data`` travelling in
    ``direction`` ("out" or "in"); None when no tree fires (send it unchanged)."""
    trees = strategy.outbound if direction == "out" else strategy.inbound
    if not trees:
        return None
    original = Packet.read(data)
    fired = [tree for tree in trees if matches(tree.trigger, original)]
    if not fired:
        return None
    return [made.wire(rng) for tree in fired for made in run(tree.action, original.copy(), rng)]


def matches(trigger: Trigger, pkt: Packet) -> bool:
    spec = fields.field(trigger.proto, trigger.field)
    return pkt.has(trigger.proto) and spec.get(pkt.ip) == spec.parse(trigger.value)


def run(node: Node | None, pkt: Packet, rng: random.Random) -> list[Packet]:
    """The packets the (sub)tree at ``node`` makes of ``pkt``, in order."""
    if node is None or isinstance(node, Send):
        return [pkt]
    if isinstance(node, Drop):
        return []
    if isinstance(node, Tamper):
        tamper(node, pkt, rng)
        return run(node.left, pkt, rng)
    if isinstance(node, Duplicate):
        copy = pkt.copy()
        return run(node.left, pkt, rng) + run(node.right, copy, rng)
    first, second = segments(node, pkt) if node.proto == "tcp" else ip_fragments(node, pkt, rng)
    if not node.in_order:
        first, second = second, first
    return run(node.left, first, rng) + run(node.right, second, rng)


def tamper(node: Tamper, pkt: Packet, rng: random.Random) -> None:
    if not pkt.has(node.proto):
        return
    spec = fields.field(node.proto, node.field)
    if spec.set is None:  # a length or checksum: written when the packet goes out
        value = spec.parse(node.value or "") if node.mode == "replace" else None
        pkt.fixed[spec.key] = value if isinstance(value, int) else None
    elif node.mode == "corrupt":
        spec.set(pkt.ip, spec.corrupt(pkt.ip, rng))
    else:
        spec.set(pkt.ip, spec.parse(node.value or ""))


def sni_cut(payload: bytes) -> int | None:
    """One byte into the server name of the whole ClientHello ``payload`` holds (a DPI
    matching the name in either piece sees neither whole), or None."""
    hello = parse_client_hello(payload)
    if not hello.complete or not hello.sni:
        return None
    name = hello.sni.encode()
    prefix = b"\x00" + len(name).to_bytes(2, "big")  # a server_name entry: host_name type, length
    lowered, at = payload.lower(), 0
    while (at := lowered.find(name, at)) >= 0:
        if payload[at - 3 : at] == prefix:
            return at + 1
        at += 1
    return None


def segments(node: Fragment, pkt: Packet) -> tuple[Packet, Packet]:
    """Two TCP segments with the payload cut at the offset (in half where it does not fit)."""
    payload = bytes(pkt.ip[TCP].payload) if pkt.has("TCP") else b""
    if not payload:
        return pkt, pkt.copy()
    cut = (sni_cut(payload) or -1) if node.offset == "sni" else node.offset
    if cut == -1 or cut > len(payload) - 1:
        cut = len(payload) // 2
    first, second = pkt.copy(), pkt.copy()
    fields.set_load(first.ip, payload[: cut + node.overlap])
    fields.set_load(second.ip, payload[cut:])
    second.ip[TCP].seq = (pkt.ip[TCP].seq + cut) % (1 << 32)
    first.fixed.clear()  # each piece gets its own lengths and checksums
    second.fixed.clear()
    return first, second


def ip_fragments(node: Fragment, pkt: Packet, rng: random.Random) -> tuple[Packet, Packet]:
    """Two IP fragments of the packet as it would go out, cut at offset x 8 bytes (half,
    rounded down to 8 bytes, where it does not fit)."""
    data = pkt.wire(rng)
    ihl = (data[0] & 0x0F) * 4
    body = data[ihl:]
    size = node.offset * 8 if isinstance(node.offset, int) else -1  # the parser allows sni for tcp only
    if size < 0 or size >= len(body):
        size = len(body) // 2 // 8 * 8
    if size == 0:
        return pkt, pkt.copy()
    header = IP(data[:ihl])
    first, second = header.copy(), header.copy()
    first.flags = int(header.flags) | MF
    first.add_payload(Raw(body[:size]))
    second.frag = header.frag + size // 8
    second.add_payload(Raw(body[size:]))
    return Packet(first), Packet(second)
