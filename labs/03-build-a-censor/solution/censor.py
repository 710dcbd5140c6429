"""Lab 3's reference censors: one class for each rule a variant can draw.

A student's ``censor.py`` defines the one class its starter file names; this file
defines all six, so it is a full-marks submission for any student id. Each class reads
packets with tools/dpi's codecs and decides as its rule says (build_a_censor/rules.py);
what it cannot read it lets pass (fail open), and it keeps no state the kernel does not
keep live (a decided flow is recorded in ``flows`` for offline grading, and marked by
the engine through ``Decision.flow`` live).
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from tools.basics.params import ADDRESS, BOOLEAN, DOMAINS, SOME_PREFIXES, Field, ports
from tools.censors.base import Decision
from tools.censors.queue import QueueCensor
from tools.dpi.dns import TYPE_A, first_question, forged_answer
from tools.dpi.ipv4 import ACK, FIN, PSH, RST, Packet, tcp_segment, udp_datagram
from tools.dpi.mtproto import decrypted_tag
from tools.dpi.tls import parse_client_hello

DATA = "-m length --length 81:65535"  # segments that carry data: more than the IP and TCP headers
MAX_NAME = 253
PAGE = (
    b"<!doctype html><html><head><title>Access restricted</title></head><body><h1>Access restricted</h1>"
    b"<p>Access to this resource is restricted by the legislation of the Republic of Kazakhstan.</p></body></html>"
)


def covered(name: str | None, listed: tuple[str, ...], subdomains: bool) -> bool:
    """Whether ``name`` is a listed name (or below one, with ``subdomains``), in any case."""
    if not name or len(name) > MAX_NAME:
        return False
    name = name.lower().rstrip(".")
    if name in listed:
        return True
    return subdomains and any(name.endswith("." + entry) for entry in listed)


def settle(pkt: Packet, flows: dict[tuple, str], decision: Decision) -> Decision:
    """Record the flow's fate (offline) and hand the decision back (live: the engine marks it)."""
    flows[pkt.key] = decision.flow or "pass"
    return decision


class ListsNames(QueueCensor):
    """What the rules on names share: the list and whether it covers names below."""

    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "domains": Field(DOMAINS, "the listed names"),
        "subdomains": Field(BOOLEAN, "whether a listed name covers the names below it", True),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.listed: tuple[str, ...] = self.params["domains"]

    def covers(self, name: str | None) -> bool:
        return covered(name, self.listed, self.params["subdomains"])


class ResetTLSBySNI(ListsNames):
    def selection(self) -> list[str]:
        return [f"-p tcp --dport 443 {DATA}"]

    def selects(self, pkt: Packet) -> bool:
        return pkt.tcp and pkt.dport == 443 and len(pkt.payload) > 0

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        hello = parse_client_hello(pkt.payload)
        if not self.covers(hello.sni if hello.complete else None):
            return settle(pkt, flows, Decision(flow="pass"))
        reset = tcp_segment(pkt.dst, pkt.dport, pkt.src, pkt.sport, pkt.ack, pkt.seq + len(pkt.payload), RST | ACK)
        return settle(pkt, flows, Decision("drop", [reset], flow="block", note=f"reset: SNI {hello.sni}"))


class DropDNSQueries(ListsNames):
    def selection(self) -> list[str]:
        return ["-p udp --dport 53"]

    def selects(self, pkt: Packet) -> bool:
        return pkt.udp and pkt.dport == 53

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        question = first_question(pkt.payload)
        if question is None or not self.covers(question.name):
            return Decision()
        return Decision("drop", note=f"drop: DNS {question.name}")


class AnswerDNSQueries(ListsNames):
    fields: ClassVar[dict[str, Field]] = ListsNames.fields | {
        "address": Field(ADDRESS, "the address the answers point at"),
    }

    def selection(self) -> list[str]:
        return ["-p udp --dport 53"]

    def selects(self, pkt: Packet) -> bool:
        return pkt.udp and pkt.dport == 53

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        question = first_question(pkt.payload)
        if question is None or question.qtype != TYPE_A or not self.covers(question.name):
            return Decision()
        answer = udp_datagram(pkt.dst, 53, pkt.src, pkt.sport, forged_answer(question, self.params["address"]))
        return Decision("drop", [answer], note=f"answer: DNS {question.name}")


def request_host(payload: bytes) -> str | None:
    """The Host of the HTTP/1.x request head at the start of ``payload``, without its port."""
    head = payload.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    words = head[0].split(b" ")
    if len(words) != 3 or not words[2].startswith(b"HTTP/1."):
        return None
    for line in head[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() == b"host":
            return value.strip().rsplit(b":", 1)[0].decode("ascii", "replace")
    return None


class BlockpageByHTTPHost(ListsNames):
    def selection(self) -> list[str]:
        return [f"-p tcp --dport 80 {DATA}"]

    def selects(self, pkt: Packet) -> bool:
        return pkt.tcp and pkt.dport == 80 and len(pkt.payload) > 0

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        host = request_host(pkt.payload)
        if not self.covers(host):
            return settle(pkt, flows, Decision(flow="pass"))
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
        page = tcp_segment(
            pkt.dst, pkt.dport, pkt.src, pkt.sport, pkt.ack, pkt.seq + len(pkt.payload), FIN | PSH | ACK,
            head % len(PAGE) + PAGE, window=8192,
        )  # fmt: skip
        return settle(pkt, flows, Decision("drop", [page], flow="block", note=f"block page: Host {host}"))


class DropTrafficToPrefixes(QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "prefixes": Field(SOME_PREFIXES, "the blocked address prefixes"),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.networks = [ipaddress.IPv4Network(p) for p in self.params["prefixes"]]

    def selection(self) -> list[str]:
        return [f"-d {prefix}" for prefix in self.params["prefixes"]]

    def selects(self, pkt: Packet) -> bool:
        address = ipaddress.IPv4Address(pkt.dst)
        return any(address in net for net in self.networks)

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        return settle(pkt, flows, Decision("drop", flow="block", note=f"drop: to {pkt.dst}"))


class DropMTProtoFlows(QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "ports": Field(ports(15), "the destination ports whose flows it reads"),
    }

    def selection(self) -> list[str]:
        listed = ",".join(map(str, self.params["ports"]))
        return [f"-p tcp -m multiport --dports {listed} {DATA}"]

    def selects(self, pkt: Packet) -> bool:
        return pkt.tcp and pkt.dport in self.params["ports"] and len(pkt.payload) > 0

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        tag = decrypted_tag(pkt.payload) if len(pkt.payload) >= 64 else None
        if tag is None:
            return settle(pkt, flows, Decision(flow="pass"))
        return settle(pkt, flows, Decision("drop", flow="block", note=f"drop: MTProto ({tag})"))
