"""The hidden captures a student's censor is graded on: labelled flows, made for the variant.

Each flow is what subscribers of kz_isp send and receive (a TLS connection, a DNS
lookup, an HTTP request, a ping...), built as raw IPv4 packets with tools/dpi's builders,
and labelled with what the variant's rule does with it (block or pass) and why, in
words a hint can quote. The flows are plain cases the rule's text decides: the names it
lists and the names below them, the same names in capitals, names that only look like
them, other sites, other ports and protocols, the answers coming back. Malformed
packets are graded apart (tools/dpi/hostile.py, evaluate.py).

The seed in the variant makes a student's captures the same at every check.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from build_a_censor.rules import ALLOWED, BLOCKABLE
from tools.dpi import hostile
from tools.dpi.dns import first_question, forged_answer
from tools.dpi.ipv4 import ACK, FIN, PSH, SYN, tcp_segment, udp_datagram
from tools.dpi.mtproto_codec import MODES
from tools.dpi.tls import client_hello as openssl_client_hello
from topologies import registry
from topologies.internet import DOMESTIC, INTERNATIONAL, KTHOSTING, TELEGRAM_DCS, all_sites

SITES = all_sites((*INTERNATIONAL, *DOMESTIC, KTHOSTING))
OTHER_NETWORK = ipaddress.IPv4Network("198.51.100.0/24")  # names the lab does not host (TEST-NET-2)
ICMP, ECHO_REQUEST, ECHO_REPLY = 1, 8, 0
A, AAAA = 1, 28
MDNS = "224.0.0.251"
REPEATS = 3  # connections to each listed name (from several subscribers)
SERVER_HELLO = b"\x16\x03\x03" + struct.pack("!H", 1200) + b"\x02" + bytes(1199)


@dataclass(frozen=True)
class Flow:
    """One labelled flow: what it is, whether the rule blocks it, and its packets in order."""

    what: str
    block: bool
    packets: tuple[bytes, ...]


@dataclass(frozen=True)
class Addresses:
    """kz_isp's subscribers and the resolvers they ask: the ISP's and Google's public one."""

    subscribers: tuple[str, ...]
    isp_resolver: str
    public_resolver: str

    @classmethod
    def of_lab(cls) -> Addresses:
        model = registry.build("kz_isp")
        clients = tuple(str(model.primary_address(c)) for c in model.clients() if model.role(c) == "subscriber")
        return cls(clients, str(model.primary_address("resolver")), str(model.primary_address("googledns")))


def address_of(name: str) -> str:
    """Where ``name`` is in the lab (its own site, or the site it is under), else an address
    outside every organisation of the lab."""
    parts = name.lower().split(".")
    for i in range(len(parts) - 1):
        site = SITES.get(".".join(parts[i:]))
        if site is not None:
            return site.address
    return str(OTHER_NETWORK[1 + sum(name.encode()) % 250])


@functools.cache
def hello_without_sni() -> bytes:
    """What OpenSSL sends when no name is given (made once: a context costs 0.2 s)."""
    return openssl_client_hello(None)


class Builder:
    """Packets of flows between the lab's subscribers and servers: fresh ports and
    sequence numbers for each flow, drawn from the variant's seed."""

    def __init__(self, rng: random.Random, lab: Addresses) -> None:
        self.rng, self.lab = rng, lab
        self.ports: set[int] = set()

    def client(self) -> tuple[str, int]:
        while (port := self.rng.randrange(20000, 61000)) in self.ports:
            pass
        self.ports.add(port)
        return self.rng.choice(self.lab.subscribers), port

    def hello(self, name: str) -> bytes:
        """A well-formed ClientHello naming ``name`` (tools/dpi/hostile.py builds it byte by byte)."""
        return hostile.client_hello(name.encode(), rng=self.rng)

    def inside(self, network: ipaddress.IPv4Network) -> str:
        """An address of ``network`` (neither its first nor its last)."""
        return str(network[self.rng.randrange(1, network.num_addresses - 1)])

    def tcp(self, server: str, dport: int, data: bytes, reply: bytes | None) -> tuple[bytes, ...]:
        """A TCP connection whose client sends ``data`` first. ``reply``: the server's
        answer, then the close; None: nothing comes back (the flow is blocked), so the
        client sends its data again, or with no data its SYN."""
        client, sport = self.client()
        c, s = self.rng.getrandbits(32), self.rng.getrandbits(32)
        syn = tcp_segment(client, sport, server, dport, c, 0, SYN, window=64240)
        if reply is None and not data:
            return (syn.data, syn.data)
        out = [
            syn,
            tcp_segment(server, dport, client, sport, s, c + 1, SYN | ACK, window=65160),
            tcp_segment(client, sport, server, dport, c + 1, s + 1, ACK, window=502),
            tcp_segment(client, sport, server, dport, c + 1, s + 1, PSH | ACK, data, window=502),
        ]
        if reply is None:
            return tuple(p.data for p in (*out, out[-1]))
        c, s = c + 1 + len(data), s + 1
        out += [
            tcp_segment(server, dport, client, sport, s, c, PSH | ACK, reply, window=509),
            tcp_segment(client, sport, server, dport, c, s + len(reply), ACK, window=501),
            tcp_segment(client, sport, server, dport, c, s + len(reply), FIN | ACK, window=501),
            tcp_segment(server, dport, client, sport, s + len(reply), c + 1, FIN | ACK, window=509),
            tcp_segment(client, sport, server, dport, c + 1, s + len(reply) + 1, ACK, window=501),
        ]
        return tuple(p.data for p in out)

    def dns(self, name: str, qtype: int, server: str, answer: str | None, port: int = 53) -> tuple[bytes, ...]:
        """A query, then the answer (``answer``: its address) or, unanswered, the query again."""
        client, sport = self.client()
        query = _query(name, qtype, self.rng.getrandbits(16))
        sent = udp_datagram(client, sport, server, port, query).data
        question = first_question(query)
        if answer is None or question is None:
            return (sent, sent)
        return (sent, udp_datagram(server, port, client, sport, forged_answer(question, answer)).data)

    def dns_answer_alone(self, name: str) -> tuple[bytes, ...]:
        """An answer from the public resolver crossing the gateway, its query not in the capture."""
        client, sport = self.client()
        question = first_question(_query(name, A, self.rng.getrandbits(16)))
        assert question is not None
        answer = forged_answer(question, address_of(name))
        return (udp_datagram(self.lab.public_resolver, 53, client, sport, answer).data,)

    def udp(self, server: str, dport: int, payload: bytes, blocked: bool) -> tuple[bytes, ...]:
        client, sport = self.client()
        sent = udp_datagram(client, sport, server, dport, payload).data
        return (sent, sent) if blocked else (sent, udp_datagram(server, dport, client, sport, payload[:64]).data)

    def ping(self, server: str, blocked: bool) -> tuple[bytes, ...]:
        """An echo request, then its reply, or unanswered, the next request."""
        client, _ = self.client()
        ident, payload = self.rng.getrandbits(16), bytes(range(48))
        request = _icmp(client, server, ECHO_REQUEST, ident, 1, payload)
        if blocked:
            return (request, _icmp(client, server, ECHO_REQUEST, ident, 2, payload))
        return (request, _icmp(server, client, ECHO_REPLY, ident, 1, payload))


def _query(name: str, qtype: int, ident: int) -> bytes:
    return hostile.dns_message([hostile.question(hostile.dns_name(hostile.dns_labels(name)), qtype)], ident=ident)


def _icmp(src: str, dst: str, kind: int, ident: int, seq: int, payload: bytes) -> bytes:
    body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + payload
    body = body[:2] + struct.pack("!H", hostile.checksum(body)) + body[4:]
    return hostile.ipv4(src, dst, ICMP, body, ident=ident)


def http_request(host: str, method: str = "GET", path: str = "/", header: str = "Host") -> bytes:
    body = b"q=1" if method == "POST" else b""
    extra = f"Content-Length: {len(body)}\r\n" if body else ""
    return (
        f"{method} {path} HTTP/1.1\r\n{header}: {host}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n{extra}\r\n"
    ).encode() + body


def http_page(title: str) -> bytes:
    page = f"<!doctype html><html><head><title>{title}</title></head><body>{title}</body></html>".encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(page), page)


# -- what every variant sees: subscribers using sites the rule does not touch ----------------
def background(b: Builder, spared: Callable[[str], bool]) -> Iterator[Flow]:
    """Ordinary traffic to the allowed sites (``spared``: whether a site's address is left
    alone by the rule, for rules on addresses)."""
    for name in ALLOWED:
        if not spared(name):
            continue
        server = address_of(name)
        yield Flow(f"TLS to {name} (an unlisted site)", False, b.tcp(server, 443, b.hello(name), SERVER_HELLO))
        yield Flow(f"HTTP to {name} (an unlisted site)", False, b.tcp(server, 80, http_request(name), http_page(name)))
        yield Flow(f"DNS query for {name} (an unlisted name)", False, b.dns(name, A, b.lab.public_resolver, server))
    yield Flow(f"a ping to {b.lab.public_resolver}", False, b.ping(b.lab.public_resolver, False))


# -- rules on names ---------------------------------------------------------------------------
def capitals(name: str) -> str:
    """``name`` in mixed case (vLaSt.kZ), as a resolver's 0x20 randomisation or a typed URL gives it."""
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))


def lookalikes(name: str) -> list[str]:
    """Names that only look like ``name``: a prefix glued on, a label added after, another TLD."""
    first, _, tld = name.partition(".")
    return [f"my{name}", f"{name}.kz", f"{first}.{'net' if tld != 'net' else 'org'}"]


def names_under_test(params: dict[str, Any], with_capitals: bool) -> Iterator[tuple[str, bool, str]]:
    """(name, blocked, why) for a rule on ``params``' list."""
    listed, covers = params["domains"], params["subdomains"]
    for name in listed:
        for _ in range(REPEATS):
            yield name, True, "a listed name"
        if with_capitals:
            yield capitals(name), True, "a listed name in other case: names compare case-insensitively"
        for sub in ("www", "m", "static.cdn"):
            yield f"{sub}.{name}", covers, "a name below a listed one" + ("" if covers else ": exact names only")
        for other in lookalikes(name):
            yield other, False, f"not a listed name, it only looks like {name}"
    for name in BLOCKABLE:
        if name not in listed:
            yield name, False, "a name that is not on your list"


def tls_sni_reset(b: Builder, params: dict[str, Any]) -> Iterator[Flow]:
    for name, blocked, why in names_under_test(params, with_capitals=False):
        flow = b.tcp(address_of(name), 443, b.hello(name), None if blocked else SERVER_HELLO)
        yield Flow(f"TLS to {name} ({why})", blocked, flow)
    listed = params["domains"][0]
    server = address_of(listed)
    yield Flow(
        "TLS without SNI to a listed site's address", False, b.tcp(server, 443, hello_without_sni(), SERVER_HELLO)
    )
    yield Flow(f"plain HTTP to {listed} (not TLS)", False, b.tcp(server, 80, http_request(listed), http_page(listed)))
    flow = b.tcp(server, 8443, b.hello(listed), SERVER_HELLO)
    yield Flow(f"TLS to {listed} on port 8443 (not 443)", False, flow)


def dns_rule(b: Builder, params: dict[str, Any], drop: bool) -> Iterator[Flow]:
    """Both DNS rules: drop the listed names' queries (any type), or answer their A queries."""
    resolvers = (b.lab.public_resolver, b.lab.isp_resolver)
    for i, (name, blocked, why) in enumerate(names_under_test(params, with_capitals=True)):
        flow = b.dns(name, A, resolvers[i % 2], None if blocked else address_of(name))
        yield Flow(f"DNS query (A) for {name} ({why})", blocked, flow)
    why = "a listed name: any record type" if drop else "a listed name, but not an A query"
    for name in params["domains"]:
        yield Flow(f"DNS query (AAAA) for {name} ({why})", drop, b.dns(name, AAAA, b.lab.public_resolver, None))
    listed = params["domains"][0]
    yield Flow(f"DNS answer about {listed} (an answer, not a query)", False, b.dns_answer_alone(listed))
    flow = b.dns(listed, A, MDNS, None, port=5353)[:1]
    yield Flow(f"mDNS query for {listed} (port 5353, not 53)", False, flow)
    flow = b.tcp(address_of(listed), 443, b.hello(listed), SERVER_HELLO)
    yield Flow(f"TLS to {listed} (not DNS)", False, flow)


def http_blockpage(b: Builder, params: dict[str, Any]) -> Iterator[Flow]:
    for name, blocked, why in names_under_test(params, with_capitals=True):
        flow = b.tcp(address_of(name), 80, http_request(name), None if blocked else http_page(name))
        yield Flow(f"HTTP to {name} ({why})", blocked, flow)
    listed = params["domains"][0]
    server = address_of(listed)
    for what, request in (
        ("a POST with a listed Host", http_request(listed, "POST")),
        ("a listed Host with a port", http_request(f"{listed}:80")),
        ("a listed Host, its header name in lower case", http_request(listed, header="host")),
    ):
        yield Flow(f"HTTP to {listed} ({what})", True, b.tcp(server, 80, request, None))
    other = ALLOWED[0]
    request = http_request(other, path=f"/{listed}")
    flow = b.tcp(address_of(other), 80, request, http_page(other))
    yield Flow(f"HTTP to {other} with {listed} in the path (the Host is not listed)", False, flow)
    flow = b.tcp(server, 8080, http_request(listed), http_page(listed))
    yield Flow(f"HTTP to {listed} on port 8080 (not 80)", False, flow)
    yield Flow(f"TLS to {listed} (not plain HTTP)", False, b.tcp(server, 443, b.hello(listed), SERVER_HELLO))


# -- rules on addresses and protocols -----------------------------------------------------------
def drop_prefixes(b: Builder, params: dict[str, Any]) -> Iterator[Flow]:
    listed = [ipaddress.IPv4Network(p) for p in params["prefixes"]]
    for prefix, net in zip(params["prefixes"], listed, strict=True):
        for port in (443, 5222):
            address = b.inside(net)
            yield Flow(f"TCP to {address}:{port} (in {prefix})", True, b.tcp(address, port, b"", None))
        address = b.inside(net)
        yield Flow(f"UDP to {address}:443 (in {prefix})", True, b.udp(address, 443, bytes(1200), blocked=True))
        address = b.inside(net)
        yield Flow(f"a ping to {address} (in {prefix})", True, b.ping(address, blocked=True))
        for edge in (net.network_address - 1, net.broadcast_address + 1):
            if any(edge in other for other in listed):
                continue  # the next listed prefix starts there
            flow = b.tcp(str(edge), 443, b.hello("example.org"), SERVER_HELLO)
            yield Flow(f"TLS to {edge} (just outside {prefix})", False, flow)
    name = next(n for n, s in sorted(SITES.items()) if any(ipaddress.IPv4Address(s.address) in net for net in listed))
    other = ALLOWED[0]
    flow = b.tcp(address_of(other), 443, b.hello(name), SERVER_HELLO)
    yield Flow(f"TLS to {other}'s address with SNI {name} (the address is what counts)", False, flow)


def mtproto(b: Builder, params: dict[str, Any]) -> Iterator[Flow]:
    ports = params["ports"]
    dcs = sorted(TELEGRAM_DCS.values())
    for port in ports:
        for mode, tag in MODES.items():
            data = hostile.obfuscated2_init(b.rng, tag) + b.rng.randbytes(40)
            dc = b.rng.choice(dcs)
            yield Flow(f"MTProto ({mode}) to {dc}:{port}", True, b.tcp(dc, port, data, None))
    unlisted = next(p for p in (5222, 8888) if p not in ports)
    init = hostile.obfuscated2_init(b.rng, MODES["intermediate"])
    yield Flow(
        f"MTProto to {dcs[0]}:{unlisted} (a port not on your list)", False, b.tcp(dcs[0], unlisted, init, bytes(80))
    )
    noise = b.rng.randbytes(96)
    yield Flow(
        f"96 random bytes to {dcs[1]}:443 (their tag does not decrypt)", False, b.tcp(dcs[1], 443, noise, bytes(80))
    )
    short = hostile.obfuscated2_init(b.rng, MODES["abridged"])[:40]
    yield Flow(f"40 bytes of an init to {dcs[2]}:443 (fewer than 64)", False, b.tcp(dcs[2], 443, short, bytes(80)))
    telegram = address_of("telegram.org")
    flow = b.tcp(telegram, 443, b.hello("telegram.org"), SERVER_HELLO)
    yield Flow("TLS to telegram.org (TLS, not MTProto)", False, flow)
    flow = b.tcp(telegram, 80, http_request("telegram.org"), http_page("telegram.org"))
    yield Flow("HTTP to telegram.org (HTTP, not MTProto)", False, flow)


MAKERS: dict[str, Callable[[Builder, dict[str, Any]], Iterator[Flow]]] = {
    "tls_sni_reset": tls_sni_reset,
    "dns_drop": lambda b, params: dns_rule(b, params, drop=True),
    "dns_answer": lambda b, params: dns_rule(b, params, drop=False),
    "http_blockpage": http_blockpage,
    "drop_prefixes": drop_prefixes,
    "mtproto": mtproto,
}


def hidden(variant: dict[str, Any], lab: Addresses | None = None) -> list[Flow]:
    """The labelled flows of ``variant``'s hidden captures, in capture order."""
    b = Builder(random.Random(variant["seed"]), lab or Addresses.of_lab())
    blocked = [ipaddress.IPv4Network(p) for p in variant["params"].get("prefixes", ())]

    def spared(name: str) -> bool:
        return not any(ipaddress.IPv4Address(address_of(name)) in net for net in blocked)

    flows = [*MAKERS[variant["rule"]](b, variant["params"]), *background(b, spared)]
    b.rng.shuffle(flows)
    return flows
