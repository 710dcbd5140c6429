"""Every circumvention method by name: what a scenario's ``circumvent`` step and the CLI
can switch on in a subscriber host (tools/circumvent/method.py)."""

from __future__ import annotations

from tools.circumvent.encrypted_dns.method import DnsOverHttps, DnsOverTls
from tools.circumvent.fronting.method import DomainFronting
from tools.circumvent.geneva.method import GenevaStrategy
from tools.circumvent.method import Method
from tools.circumvent.mtproxy.method import MTProxy
from tools.circumvent.shadowsocks.method import Shadowsocks
from tools.circumvent.tor.method import Tor
from tools.circumvent.tunnel.openvpn import OpenVPN
from tools.circumvent.tunnel.wireguard import WireGuard

METHODS: dict[str, type[Method]] = {
    method.name: method
    for method in (
        GenevaStrategy,
        DnsOverHttps,
        DnsOverTls,
        DomainFronting,
        WireGuard,
        OpenVPN,
        Shadowsocks,
        MTProxy,
        Tor,
    )
}
