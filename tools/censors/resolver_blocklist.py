"""ResolverBlocklist: the ISP's resolver lies about listed names (a response-policy zone).

Attached to a node running a recursive BIND (the ISP resolver), it writes an RPZ zone
(the standard way ISPs implement court-ordered DNS blocking) and reloads named: listed
names and, by default, their subdomains get NXDOMAIN, or the address of a block page
with ``address``. Subscribers who use another resolver (8.8.8.8, 1.1.1.1) are not
affected. One of the mechanisms the lab offers for Facebook (kazakhstan.md section 3,
unconfirmed); as OONI's "dns" blocking with a lying ISP resolver.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any, ClassVar

from tools.basics.params import ADDRESS
from tools.censors.base import Attachment, Censor, CensorError, Decision, Field
from tools.censors.matching import LIST_FIELDS, DomainList
from tools.dpi.dns import first_question
from tools.dpi.ipv4 import Packet
from tools.services.dns import POLICY_OPTIONS, POLICY_ZONES

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.node import Node

ZONE = "rpz.kzlab"
# A name the policy answers and nothing else does: how a reload is seen to take effect
# (a listed name proves nothing: one that does not exist is NXDOMAIN either way).
SENTINEL, SENTINEL_ADDRESS = "rpz-sentinel.kzlab", "192.0.2.53"
RELOAD_TIMEOUT = 15.0


class ResolverBlocklist(Censor):
    fields: ClassVar[dict[str, Field]] = LIST_FIELDS | {
        "address": Field(ADDRESS, "answer this address instead of NXDOMAIN", None)
    }
    models = "kazakhstan.md section 3 (DNS-based blocking at the ISP resolver; mechanism unconfirmed)"
    probe_sees = 'web_connectivity: blocking "dns", dns_nxdomain_error (or the block page address)'
    circumvention = "another resolver (8.8.8.8, 1.1.1.1), DNS over HTTPS/TLS, the site's address by hand"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.listed = DomainList.of(self.params["domains"], self.params["subdomains"])

    def zone(self) -> str:
        action = f"A {self.params['address']}" if self.params["address"] else "CNAME ."
        lines = [
            "$TTL 60",
            "@ IN SOA localhost. root.localhost. 1 3600 600 86400 60",
            "@ IN NS localhost.",
            f"{SENTINEL} A {SENTINEL_ADDRESS}",
        ]
        for name in sorted(self.listed.names):
            lines.append(f"{name} {action}")
            if self.listed.subdomains:
                lines.append(f"*.{name} {action}")
        return "\n".join(lines) + "\n"

    def attach(self, at: Attachment) -> None:
        self.host = at.host
        self.work = at.named_dir / f"{at.host.name}-resolver"
        if not (self.work / POLICY_OPTIONS).exists():
            raise CensorError(f"censor {self.name!r}: {at.host.name} runs no recursive resolver")
        (self.work / "rpz.zone").write_text(self.zone())
        (self.work / POLICY_ZONES).write_text(
            f'zone "{ZONE}" {{ type primary; file "{self.work}/rpz.zone"; allow-query {{ none; }}; }};\n'
        )
        (self.work / POLICY_OPTIONS).write_text(f'response-policy {{ zone "{ZONE}"; }};\n')
        self._reload(at.host, expect_policy=True)

    def detach(self) -> None:
        if self.host is not None:
            for name in (POLICY_OPTIONS, POLICY_ZONES):
                (self.work / name).write_text("")
            self._reload(self.host, expect_policy=False)
            self.host = None

    def _reload(self, host: Node, expect_policy: bool) -> None:
        """SIGHUP named and wait until the policy is (or is no longer) in force."""
        os.kill(int((self.work / "named.pid").read_text().split()[0]), signal.SIGHUP)
        server = host.cmd("awk '/listen-on /{gsub(/[{};]/,\"\"); print $2; exit}' " + f"{self.work}/named.conf")
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            out = host.cmd(f"dig +short +time=1 +tries=1 @{server.strip()} {SENTINEL} A")
            if (SENTINEL_ADDRESS in out) == expect_policy and "timed out" not in out:
                return
            time.sleep(0.2)
        raise RuntimeError(f"censor {self.name}: named on {host.name} did not reload its policy")

    def selects(self, pkt: Packet) -> bool:
        return pkt.udp and pkt.dport == 53

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        question = first_question(pkt.payload)
        if question is not None and self.listed.covers(question.name):
            name = question.name
            return Decision(note=f"resolver answers {self.params['address'] or 'NXDOMAIN'} for {name}")
        return Decision()
