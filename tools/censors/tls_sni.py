"""What the SNI-based censors share: reading the name from a flow's first data segment."""

from __future__ import annotations

from collections.abc import Callable

from tools.censors.base import Decision
from tools.censors.matching import DomainList
from tools.dpi.ipv4 import Packet
from tools.dpi.tls import parse_client_hello

FIRST_DATA = "-p tcp --dport 443 -m length --length 81:65535"  # segments with data, not bare ACKs


def first_segment_sni(pkt: Packet) -> tuple[bool, str | None]:
    """(is a TLS ClientHello, its SNI) from one segment, as a single-packet DPI reads it:
    a ClientHello split over several segments shows no SNI here."""
    hello = parse_client_hello(pkt.payload)
    return hello.is_tls, hello.sni if hello.complete else None


def selects_first_data(pkt: Packet, port: int, flows: dict[tuple, str] | None = None) -> bool:
    """The offline twin of the kernel selection: a data segment to ``port`` of an undecided flow."""
    if not pkt.tcp or pkt.dport != port or pkt.length <= 80:
        return False
    return flows is None or pkt.key not in flows


def sni_decision(
    pkt: Packet, flows: dict[tuple, str], names: DomainList, listed: Callable[[str], Decision]
) -> Decision:
    """The SNI censors' shared step: an unlisted (or unreadable) SNI passes the flow for
    good; a listed one gets ``listed(sni)``, recorded as the flow's fate."""
    _, sni = first_segment_sni(pkt)
    if sni is None or not names.covers(sni):
        flows[pkt.key] = "pass"
        return Decision(flow="pass")
    decision = listed(sni)
    flows[pkt.key] = decision.flow or "pass"
    return decision
