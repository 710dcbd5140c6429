"""The VPS's side of the VPNs: start functions for the lab's services (tools/lab/services.py).

``vpn_nat``: the VPS forwards its tunnels' traffic to the internet under its own address
(MASQUERADE for each tunnel subnet it serves, and IPv4 forwarding on), all inside the
VPS node's own namespace. ``wireguard``: wireguard-go with every client as a peer
(wgdevice.py). ``openvpn``: one openvpn server per transport (UDP or TCP). Each returns
readiness checks the lab waits on: forwarding on (set after the NAT rules), the server's
UDP port bound, or its TCP port accepting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tools.circumvent.tunnel import openvpn, wgdevice, wireguard
from tools.services.base import ServiceContext
from tools.services.readiness import Readiness, tcp_ready
from topologies.model import Service


@dataclass(frozen=True)
class UdpBound:
    """A socket of this network namespace is bound to UDP ``port`` (its /proc table, read
    by the checking thread, which is in the node's namespace)."""

    port: int

    def __call__(self) -> bool:
        rows = Path("/proc/thread-self/net/udp").read_text().splitlines()[1:]
        return any(row.split()[1].endswith(f":{self.port:04X}") for row in rows)


@dataclass(frozen=True)
class ForwardingOn:
    """IPv4 forwarding is on in this network namespace."""

    def __call__(self) -> bool:
        return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"


def start_vpn_nat(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    subnets = [s.params["subnet"] for n, s in ctx.model.services() if n == node and "subnet" in s.params]
    rules = [f"iptables -w -t nat -A POSTROUTING -s {net} ! -d {net} -j MASQUERADE" for net in subnets]
    ctx.spawn(node, "vpn-nat", ["sh", "-ec", "; ".join([*rules, "echo 1 > /proc/sys/net/ipv4/ip_forward"])])
    return [Readiness(node, "VPS forwarding and NAT", ForwardingOn())]


def start_wireguard(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    workdir = ctx.workdir(node, "wireguard")
    profile = wireguard.server_files(ctx.rundir, ctx.model, node, service, workdir)
    ctx.spawn(node, "wireguard", wgdevice.argv(wireguard.INTERFACE, profile, handshake=False))
    return [Readiness(node, "WireGuard server", UdpBound(service.params["port"]))]


def start_openvpn(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    proto, port = service.params["proto"], service.params["port"]
    conf = openvpn.server_files(ctx.rundir, ctx.model, node, service, ctx.workdir(node, f"openvpn-{proto}"))
    ctx.spawn(node, f"openvpn-{proto}", ["openvpn", "--config", str(conf)])
    what = f"OpenVPN server ({proto} {port})"
    if proto == "udp":
        return [Readiness(node, what, UdpBound(port))]
    return [tcp_ready(node, what, str(ctx.model.primary_address(node)), port)]
