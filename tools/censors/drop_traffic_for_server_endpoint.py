"""DropTrafficForServerEndpoint: address blocking, all in the kernel.

Packets to the listed addresses or prefixes (optionally only some ports and a protocol)
are dropped where the censor sits (an nftables set: one lookup per packet, whatever
the list's length); connections time out. This is what IP blocking of
Telegram targets (its published data-centre blocks, 149.154.160.0/20, 91.108.4.0/22,
91.108.56.0/22, ..., as Russia did in 2018) and what blocking Facebook's AS32934
prefixes looks like (kazakhstan.md section 3); as ooni/netem's
DPIDropTrafficForServerEndpoint. No packet reaches Python.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import SOME_PREFIXES, choice, ports
from tools.censors.base import Attachment, Decision, Field
from tools.censors.matching import AddressList
from tools.censors.shutdown import NftCensor, address_set
from tools.dpi.ipv4 import PROTO_TCP, PROTO_UDP, Packet

PROTOCOLS = {"tcp": PROTO_TCP, "udp": PROTO_UDP}


class DropTrafficForServerEndpoint(NftCensor):
    fields: ClassVar[dict[str, Field]] = {
        "prefixes": Field(SOME_PREFIXES, "the blocked addresses or prefixes"),
        "ports": Field(ports(64, least=0), "only these destination ports (default: every port)", ()),
        "protocol": Field(choice("tcp", "udp", "all"), "only this protocol", "tcp"),
    }
    models = "kazakhstan.md section 3 (Telegram's data-centre blocks; Facebook's AS32934 prefixes)"
    probe_sees = 'web_connectivity: blocking "tcp_ip", generic_timeout_error at connect; telegram_tcp_blocking'
    circumvention = "other addresses (Telegram's own countermeasure, CDNs), a proxy or VPN outside"
    table_prefix = "kzlab_drop"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.networks = AddressList(self.params["prefixes"])
        self.ports = list(self.params["ports"])
        self.protocol = self.params["protocol"]

    def ruleset(self, at: Attachment, table: str) -> str:
        """One interval set of the blocked prefixes, matched by a single rule, so 1,000
        prefixes cost a lookup, not 1,000 rules."""
        match = "" if self.protocol == "all" else f"meta l4proto {self.protocol} "
        if self.ports:
            match += f"{self.protocol} dport {{ {', '.join(map(str, self.ports))} }} "
        return (
            f"table ip {table} {{\n"
            + address_set("blocked", self.networks)
            + f"  chain forward {{ type filter hook forward priority -5; ip daddr @blocked {match}counter drop; }}\n"
            + "}\n"
        )

    def selects(self, pkt: Packet) -> bool:
        return True

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        if not self.networks.covers(pkt.dst):
            return Decision()
        if self.protocol != "all" and pkt.proto != PROTOCOLS[self.protocol]:
            return Decision()
        if self.ports and (not (pkt.tcp or pkt.udp) or pkt.dport not in self.ports):
            return Decision()
        return Decision("drop", note=f"drop: {pkt.dst}")
