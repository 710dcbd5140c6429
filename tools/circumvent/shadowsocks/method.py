"""Shadowsocks as a circumvention method: the host's TCP and DNS through a Shadowsocks
server abroad, with nothing asked of the host's programs.

ss-redir listens on 127.0.0.1 and an iptables REDIRECT in the host's own nat OUTPUT
chain sends it every TCP connection the host opens (except to the server itself and to
loopback); ss-redir reads each one's original destination and relays it through the
server, as the "redirect everything" modes of Shadowsocks clients do. ss-tunnel on
127.0.0.1:53 relays DNS (UDP, and TCP) to a resolver abroad through the server, and the
host's resolv.conf points at it while the method is on. Other UDP (QUIC, say) is not
relayed and goes out directly.

On the wire a flow to the server opens with a random salt and AEAD-sealed chunks: no
fixed byte, no length a DPI can key on, which is the protocol's point. It is on 8388,
the shadowsocks-libev default, not 443: BlockTrafficForMTProto blocks any random-looking
first segment to 443 and 80 unless told to require MTProto's tag.

The method is up once a lookup through ss-tunnel (UDP) and one over TCP to the resolver
abroad, which the REDIRECT sends through ss-redir, are both answered.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from tools.basics.params import ADDRESS, Field, number
from tools.circumvent.hostconf import Resolver, answered, run
from tools.circumvent.method import Method, MethodContext, MethodError
from tools.circumvent.profiles import profile_dir, server_of
from tools.circumvent.shadowsocks.server import PROFILE

REDIR_PORT = 1080
CHAIN = "KZSS"


class Shadowsocks(Method):
    name = "shadowsocks"
    what = "relays the host's TCP (iptables REDIRECT to ss-redir) and DNS (ss-tunnel) through Shadowsocks abroad"
    models = "kazakhstan.md section 7: proxies abroad; Shadowsocks, built to defeat protocol DPI"
    needs: ClassVar[dict[str, str]] = {
        "ss-redir": "shadowsocks-libev",
        "ss-tunnel": "shadowsocks-libev",
        "iptables": "iptables",
        "dig": "bind9-dnsutils",
    }
    fields: ClassVar[dict[str, Field]] = {
        "dns": Field(ADDRESS, "the resolver abroad that DNS is relayed to", "1.1.1.1"),
        "timeout": Field(number(0.5, 120, "s"), "seconds the relays may take to work", 15.0),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.rules: list[list[str]] = []  # iptables arguments that undo what was added, in order
        self.resolver: Resolver | None = None

    def bring_up(self, ctx: MethodContext) -> None:
        server_of(ctx.model, "shadowsocks", MethodError)
        profile = json.loads((profile_dir(ctx.rundir, "shadowsocks") / PROFILE).read_text())
        server, dns = profile["server"], self.params["dns"]
        redir = self._config(ctx, "redir", profile | {"local_address": "127.0.0.1", "local_port": REDIR_PORT})
        tunnel = profile | {"local_address": "127.0.0.1", "local_port": 53, "tunnel_address": f"{dns}:53"}
        tunnel_conf = self._config(ctx, "tunnel", tunnel | {"mode": "tcp_and_udp"})
        relay = ctx.popen(["ss-redir", "-c", redir], "ss-redir.log")
        ctx.popen(["ss-tunnel", "-c", tunnel_conf], "ss-tunnel.log")
        self._redirect(ctx, server)
        self.resolver = Resolver(ctx.host)

        def works() -> bool:
            return answered(ctx.host, "127.0.0.1", tcp=False) and answered(ctx.host, dns, tcp=True)

        ctx.wait(
            works, f"shadowsocks: lookups through {server}:{profile['server_port']}", self.params["timeout"], relay
        )
        self.resolver.point("127.0.0.1")

    def _config(self, ctx: MethodContext, name: str, settings: dict[str, Any]) -> str:
        path = ctx.workdir / f"{name}.json"
        path.write_text(json.dumps(settings))
        path.chmod(0o600)
        return str(path)

    def _redirect(self, ctx: MethodContext, server: str) -> None:
        """The host's TCP to ss-redir, but for the server's and loopback's."""
        nat = ["iptables", "-w", "-t", "nat"]
        run(ctx.host, [*nat, "-N", CHAIN])
        self.rules.append([*nat, "-X", CHAIN])
        self.rules.insert(0, [*nat, "-F", CHAIN])
        for rule in (["-d", server, "-j", "RETURN"], ["-d", "127.0.0.0/8", "-j", "RETURN"]):
            run(ctx.host, [*nat, "-A", CHAIN, *rule])
        run(ctx.host, [*nat, "-A", CHAIN, "-p", "tcp", "-j", "REDIRECT", "--to-ports", str(REDIR_PORT)])
        run(ctx.host, [*nat, "-A", "OUTPUT", "-p", "tcp", "-j", CHAIN])
        self.rules.insert(0, [*nat, "-D", "OUTPUT", "-p", "tcp", "-j", CHAIN])

    def take_down(self, ctx: MethodContext) -> None:
        if self.resolver is not None:
            self.resolver.restore()
            self.resolver = None
        while self.rules:
            run(ctx.host, self.rules.pop(0), check=False)
