"""DropTrafficForEncryptedDNS: the censor's answer to encrypted DNS, its endpoints blocked
by address and by name.

- Every TCP packet to a listed resolver address on port 443 (DoH) or 853 (DoT) is
  dropped by the kernel (by default the lab's public resolvers 8.8.8.8, 8.8.4.4, 1.1.1.1,
  1.0.0.1), established connections included;
- with ``dot_port`` (the default), every TCP packet to port 853 whatever its address:
  DoT's own port (RFC 7858) carries nothing else;
- the first data segment of every other flow to 443 or 853 goes to the engine, which
  drops the flow if its ClientHello's SNI names a listed DoH/DoT server (dns.google,
  cloudflare-dns.com, ..., their subdomains too), so a known resolver met at another
  address is caught by its name.

Connections time out: a stub resolver's health checks fail and it answers SERVFAIL, and a
method that waits for its resolver to answer does not come up. Plain DNS (port 53) is
left alone: the censor pushes users back to the DNS the other censors read and answer.
The address rules sit in the engine's own chain ahead of its queue rules, so they go
with it, as every queue censor's rules do (and when it dies failing open).

An assumption for Kazakhstan: kazakhstan.md reports no blocking of encrypted DNS there.
Elsewhere it was measured: OONI's dnscheck campaign (S. Basso, 2021-22, in Kazakhstan's
AS48716, Iran and China) found most DoT/DoH endpoints reachable outside Iran; the ones
blocked were most often Cloudflare's and Google's, by SNI or by endpoint, mostly failing
with timeouts, which is what this censor does. DNEye (Hoang et al., 2022) reports DoT/DoH
blocking in China, Russia and Saudi Arabia (there by SNI).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import BOOLEAN, DOMAINS, PREFIXES
from tools.censors.base import Decision, Field
from tools.censors.matching import LIST_FIELDS, AddressList, ListsNames
from tools.censors.queue import QueueCensor
from tools.censors.tls_sni import FIRST_DATA, selects_first_data, sni_decision
from tools.dpi.ipv4 import Packet
from topologies.internet import CLOUDFLARE_DNS, GOOGLE_DNS

DOH_PORT, DOT_PORT = 443, 853
DOT_FIRST_DATA = FIRST_DATA.replace(f"--dport {DOH_PORT} ", f"--dport {DOT_PORT} ")
RESOLVER_ADDRESSES = PREFIXES.normalise([*GOOGLE_DNS, *CLOUDFLARE_DNS])
RESOLVER_NAMES = (
    "dns.google",
    "dns.google.com",
    "cloudflare-dns.com",
    "one.one.one.one",
    "dns.quad9.net",
    "doh.opendns.com",
)


class DropTrafficForEncryptedDNS(ListsNames, QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {
        "domains": Field(DOMAINS, "the DoH/DoT servers' names it drops by SNI", RESOLVER_NAMES),
        "subdomains": LIST_FIELDS["subdomains"],
        "addresses": Field(PREFIXES, "the resolvers' addresses, dropped on 443 and 853", RESOLVER_ADDRESSES),
        "dot_port": Field(BOOLEAN, "drop TCP to port 853 whatever the address", True),
    }
    models = (
        "assumption: no blocking of encrypted DNS is published for Kazakhstan (kazakhstan.md); "
        "OONI's dnscheck (2021-22) saw Cloudflare's and Google's DoT/DoH blocked elsewhere, by SNI or endpoint"
    )
    probe_sees = (
        "the doh/dot method does not come up (tunnel-failure); switched on before, lookups fail "
        "(dns: dns_server_misbehaving, the stub's SERVFAIL); the resolvers' own names: generic_timeout_error"
    )
    circumvention = (
        "a resolver at an unlisted address and name (a private DoH server, DoH through a CDN front), "
        "a VPN or proxy that resolves beyond the border"
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.networks = AddressList(self.params["addresses"])

    def selection(self) -> list[str]:
        return [FIRST_DATA, DOT_FIRST_DATA]

    def rules(self, index: int) -> list[list[str]]:
        """The queue censor's rules with the endpoint drops first in its chain, right after
        the chain is made."""
        rules, chain = super().rules(index), self.chain(index)
        drops = [
            f"-A {chain} -p tcp -d {net} -m multiport --dports {DOH_PORT},{DOT_PORT} -j DROP" for net in self.networks
        ]
        if self.params["dot_port"]:
            drops.append(f"-A {chain} -p tcp --dport {DOT_PORT} -j DROP")
        made = rules.index(["-N", chain]) + 1
        return [*rules[:made], *(d.split() for d in drops), *rules[made:]]

    def endpoint(self, pkt: Packet) -> bool:
        """Whether the kernel rules drop ``pkt``: TCP to a listed resolver's 443 or 853,
        or to 853 anywhere with ``dot_port``."""
        if not pkt.tcp or pkt.dport not in (DOH_PORT, DOT_PORT):
            return False
        return (pkt.dport == DOT_PORT and self.params["dot_port"]) or self.networks.covers(pkt.dst)

    def selects(self, pkt: Packet) -> bool:
        return self.endpoint(pkt) or selects_first_data(pkt, DOH_PORT) or selects_first_data(pkt, DOT_PORT)

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        if self.endpoint(pkt):
            return Decision("drop", note=f"drop: encrypted DNS endpoint {pkt.dst}:{pkt.dport}")
        return sni_decision(
            pkt, flows, self.listed, lambda sni: Decision("drop", flow="block", note=f"drop: SNI {sni}")
        )
