"""What starts each service of the model, by kind: the starters of tools/services, the
national CA portal (tools/gateway) and BIRD (tools/routing), so it lives above all three."""

from __future__ import annotations

from tools.circumvent.fronting import server as cdn_edge
from tools.circumvent.mtproxy import server as mtproxy
from tools.circumvent.shadowsocks import server as shadowsocks
from tools.circumvent.tor import server as tor
from tools.circumvent.tunnel import server as vpn
from tools.gateway.national_ca import ca_dir
from tools.routing import bird
from tools.services import control_helper, dns, web
from tools.services.base import ServiceContext, StartFunction
from tools.services.readiness import Readiness, tcp_ready
from topologies.model import Service


def start_control_helper(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    address = str(ctx.model.primary_address(node))
    ctx.python(
        node,
        "control",
        "tools.services.control_helper",
        "--listen",
        address,
        "--resolver",
        service.params["resolver"],
    )
    return [tcp_ready(node, "control helper", address, control_helper.PORT)]


def start_telegram_dc(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    """DC1-DC5 at their published addresses, and any ``alternatives`` (addresses outside them)."""
    dcs: dict[int, str] = service.params["dcs"]
    alternatives: tuple[str, ...] = service.params.get("alternatives", ())
    args = [arg for address in [*dcs.values(), *alternatives] for arg in ("--listen", address)]
    ctx.python(node, "telegram", "tools.services.telegram_dc", *args)
    return [tcp_ready(node, f"Telegram DC{n}", a, 443) for n, a in sorted(dcs.items())] + [
        tcp_ready(node, "Telegram alternative address", a, 443) for a in alternatives
    ]


def start_install_portal(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    """qca.kz; it also makes the national CA into the run's private directory."""
    address = str(ctx.model.primary_address(node))
    ctx.python(node, "portal", "tools.gateway.portal", "--listen", address, "--ca-dir", str(ca_dir(ctx.rundir)))
    return [tcp_ready(node, "certificate portal", address, 80)]


STARTERS: dict[str, StartFunction] = {
    "web": web.start,
    "dns_authoritative": dns.start_authoritative,
    "dns_recursive": dns.start_recursive,
    "control_helper": start_control_helper,
    "telegram_dc": start_telegram_dc,
    "install_portal": start_install_portal,
    "bgp": bird.start,
    "tor_network": tor.start_network,
    "tor_bridge": tor.start_bridge,
    "cdn_edge": cdn_edge.start,
    "vpn_nat": vpn.start_vpn_nat,
    "wireguard": vpn.start_wireguard,
    "openvpn": vpn.start_openvpn,
    "shadowsocks": shadowsocks.start,
    "mtproxy": mtproxy.start,
}
