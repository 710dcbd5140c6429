"""DropTrafficForServerEndpoint: address blocking, all in the kernel.

Packets to the listed addresses or prefixes (optionally only some ports and a protocol)
are dropped where the censor sits; connections time out. This is what IP blocking of
Telegram targets (its published data-centre blocks, 149.154.160.0/20, 91.108.4.0/22,
91.108.56.0/22, ..., as Russia did in 2018) and what blocking Facebook's AS32934
prefixes looks like (kazakhstan.md section 3); as ooni/netem's
DPIDropTrafficForServerEndpoint. No packet reaches Python.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from scapy.layers.inet import TCP, UDP

from tools.censors.base import Attachment, Censor, CensorError, Decision


class DropTrafficForServerEndpoint(Censor):
    name = "DropTrafficForServerEndpoint"
    params_allowed = frozenset({"prefixes", "ports", "protocol"})
    models = "kazakhstan.md section 3 (Telegram's data-centre blocks; Facebook's AS32934 prefixes)"
    probe_sees = 'web_connectivity: blocking "tcp_ip", generic_timeout_error at connect; telegram_tcp_blocking'
    circumvention = "other addresses (Telegram's own countermeasure, CDNs), a proxy or VPN outside"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        try:
            self.networks = [ipaddress.IPv4Network(p) for p in params.get("prefixes", ())]
        except ValueError as exc:
            raise CensorError(f"censor {self.name!r}: prefixes: {exc}") from None
        if not self.networks:
            raise CensorError(f"censor {self.name!r}: needs prefixes")
        self.ports = [int(p) for p in params.get("ports", ())]
        self.protocol = params.get("protocol", "tcp")
        if self.protocol not in ("tcp", "udp", "all"):
            raise CensorError(f"censor {self.name!r}: protocol must be tcp, udp or all")

    def _rules(self) -> list[list[str]]:
        rules = []
        for net in self.networks:
            base = ["-d", str(net)] + ([] if self.protocol == "all" else ["-p", self.protocol])
            for port in self.ports or [None]:
                rules.append(base + (["--dport", str(port)] if port else []) + ["-j", "DROP"])
        return rules

    def attach(self, at: Attachment) -> None:
        self.host, self.chain = at.host, f"KZD{at.index}"
        commands = [["-N", self.chain]] + [["-A", self.chain, *r] for r in self._rules()]
        commands.append(["-I", "FORWARD", "-j", self.chain])
        for args in commands:
            at.host.cmd("iptables -w " + " ".join(args))

    def detach(self) -> None:
        if self.host is not None:
            self.host.cmd(
                f"iptables -w -D FORWARD -j {self.chain}; iptables -w -F {self.chain}; iptables -w -X {self.chain}"
            )
            self.host = None

    def selects(self, ip: Any) -> bool:
        return True

    def decide(self, ip: Any, flows: dict[tuple, str]) -> Decision:
        address = ipaddress.IPv4Address(ip.dst)
        if not any(address in net for net in self.networks):
            return Decision()
        layer = ip[TCP] if TCP in ip else ip.getlayer(UDP)
        if self.protocol != "all" and (layer is None or layer.name.lower() != self.protocol):
            return Decision()
        if self.ports and (layer is None or layer.dport not in self.ports):
            return Decision()
        return Decision("drop", note=f"drop: {ip.dst}")
