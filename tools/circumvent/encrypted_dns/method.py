"""The methods ``doh`` and ``dot``: a stub resolver in the subscriber's host (stub.py)
sends every lookup encrypted to a public resolver abroad, and the host's resolv.conf
points at the stub while the method is on.

The host's resolv.conf is its own file of the lab (tools/circumvent/hostconf.py
Resolver), pointed at the stub once a lookup through the stub is answered and restored on
stop: a resolver the censor keeps the stub from reaching is a MethodError after
``wait_s`` seconds, with nothing left running and resolv.conf unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import Field, choice, number
from tools.circumvent.encrypted_dns import stub
from tools.circumvent.hostconf import Resolver
from tools.circumvent.method import Method, MethodContext, MethodError
from tools.services.dns import DOH_PORT, DOT_PORT
from tools.services.readiness import DnsAnswers
from topologies import kernel
from topologies.circumvention import ENCRYPTED_DNS
from topologies.model import TopologyModel

CHECK_NAME = "a.root-servers.net"  # a name every resolver abroad answers


class EncryptedDNS(Method):
    """What DoH and DoT share; ``protocol`` is stub.config's."""

    protocol: ClassVar[str]
    port: ClassVar[int]
    needs: ClassVar[dict[str, str]] = {"dnsdist": "dnsdist"}
    models = "kazakhstan.md section 7 (encrypted DNS to resolvers abroad defeats resolver blocklists and DNS injection)"
    fields: ClassVar[dict[str, Field]] = {
        "resolver": Field(choice(*ENCRYPTED_DNS), "the public resolver abroad", "google"),
        "wait_s": Field(number(1, 60, "seconds"), "how long to wait for a first answer through the stub", 8.0),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.resolv_conf: Resolver | None = None

    def resolver(self, model: TopologyModel) -> tuple[list[str], str]:
        """The resolver's addresses and the name its certificate is checked for."""
        node, name, _ = ENCRYPTED_DNS[self.params["resolver"]]
        services = model.graph.nodes[node]["services"] if node in model.graph else ()
        if not any(s.kind == "dns_recursive" and s.params.get("tls_names") for s in services):
            raise MethodError(f"method {self.name!r}: this lab has no encrypted DNS (kz_isp with circumvention=True)")
        return [str(a) for a in model.graph.nodes[node]["loopbacks"]], name

    def bring_up(self, ctx: MethodContext) -> None:
        addresses, name = self.resolver(ctx.model)
        self.resolv_conf = Resolver(ctx.host)  # refuses a host without its own resolv.conf
        conf = ctx.workdir / "dnsdist.conf"
        conf.write_text(stub.config(self.protocol, addresses, name))
        proc = ctx.popen(["dnsdist", "--supervised", "--disable-syslog", "-C", str(conf)], "dnsdist.log")
        answers = DnsAnswers(stub.LISTEN, CHECK_NAME)
        what = f"{self.name}: no answer from {name} at {', '.join(addresses)} port {self.port} through the stub"
        ctx.wait(lambda: kernel.inside(ctx.host.pid, answers), what, self.params["wait_s"], proc)
        self.resolv_conf.point(stub.LISTEN)

    def take_down(self, ctx: MethodContext) -> None:
        if self.resolv_conf is not None:
            self.resolv_conf.restore()
            self.resolv_conf = None


class DnsOverHttps(EncryptedDNS):
    name = "doh"
    protocol = "doh"
    port = DOH_PORT
    what = "the host's lookups go over HTTPS (DoH, RFC 8484) to a public resolver abroad, through a local stub"


class DnsOverTls(EncryptedDNS):
    name = "dot"
    protocol = "dot"
    port = DOT_PORT
    what = "the host's lookups go over TLS (DoT, RFC 7858, port 853) to a public resolver abroad, through a local stub"
