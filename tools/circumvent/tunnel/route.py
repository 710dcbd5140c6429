"""Route a whole host through a tunnel, as a VPN client's "send all traffic" mode does.

Three routes in the host's main table: the tunnel server's address via the host's own
gateway (the tunnel's packets must not enter the tunnel), and 0.0.0.0/1 and 128.0.0.0/1
into the tunnel's device, which together cover everything and win over the default route
without replacing it (OpenVPN's ``redirect-gateway def1``). The host's resolver is
pointed at one reached through the tunnel, so that its lookups do not cross the ISP's
resolver or an on-path DNS injector in the clear. ``release`` removes exactly what
``engage`` added, in reverse, and restores the resolver; routes through a device that is
already gone went with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from tools.basics.params import ADDRESS, Field, number
from tools.circumvent.hostconf import Resolver, answered, run
from tools.circumvent.method import Method, MethodContext, MethodError

HALVES = ("0.0.0.0/1", "128.0.0.0/1")


@dataclass
class FullTunnel:
    """The host of ``ctx`` routed through ``device`` to the tunnel server ``server``, its
    lookups sent to ``dns``."""

    ctx: MethodContext
    device: str
    server: str
    dns: str
    added: list[list[str]] = field(default_factory=list)  # `ip route` arguments, in order
    resolver: Resolver | None = None

    def engage(self) -> None:
        host = self.ctx.host
        gateway = self.ctx.model.default_gateway(host.name)
        if gateway is None:
            raise MethodError(f"host {host.name} has no default gateway to reach {self.server} by")
        self.resolver = Resolver(host)
        for route in ([f"{self.server}/32", "via", str(gateway)], *([half, "dev", self.device] for half in HALVES)):
            run(host, ["ip", "route", "add", *route])
            self.added.append(route)
        self.resolver.point(self.dns)

    def release(self) -> None:
        if self.resolver is not None:
            self.resolver.restore()
        while self.added:
            run(self.ctx.host, ["ip", "route", "del", *self.added.pop()], check=False)


class TunnelMethod(Method):
    """A VPN client that routes its whole host through its tunnel (WireGuard, OpenVPN):
    ``bring_up`` starts the tunnel, waits until it is up, and calls ``route``."""

    fields: ClassVar[dict[str, Field]] = {
        "dns": Field(ADDRESS, "the resolver the host uses while on, reached through the tunnel", "1.1.1.1"),
        "timeout": Field(number(0.5, 120, "s"), "seconds the tunnel may take to come up", 15.0),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.tunnel: FullTunnel | None = None

    def route(self, ctx: MethodContext, device: str, server: str) -> None:
        """Route the host through the tunnel, then wait until a lookup through it answers:
        up means usable, not only handshaken."""
        self.tunnel = FullTunnel(ctx, device, server, self.params["dns"])
        self.tunnel.engage()
        dns = self.params["dns"]
        ctx.wait(
            lambda: answered(ctx.host, dns, tcp=False),
            f"{self.name}: lookups through the tunnel to {dns}",
            self.params["timeout"],
        )

    def take_down(self, ctx: MethodContext) -> None:
        if self.tunnel is not None:
            self.tunnel.release()
            self.tunnel = None
