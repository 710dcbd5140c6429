"""Which implementation starts each kind of service named in a topology."""

from __future__ import annotations

from tools.services import dns, web
from tools.services.base import Readiness, ServiceContext, StartFunction, tcp_ready
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
    return [tcp_ready(node, "control helper", address, 80)]


def start_telegram_dc(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    dcs: dict[int, str] = service.params["dcs"]
    args = [arg for address in dcs.values() for arg in ("--listen", address)]
    ctx.python(node, "telegram", "tools.services.telegram_dc", *args)
    return [tcp_ready(node, f"Telegram DC{n}", a, 443) for n, a in sorted(dcs.items())]


STARTERS: dict[str, StartFunction] = {
    "web": web.start,
    "dns_authoritative": dns.start_authoritative,
    "dns_recursive": dns.start_recursive,
    "control_helper": start_control_helper,
    "telegram_dc": start_telegram_dc,
}
