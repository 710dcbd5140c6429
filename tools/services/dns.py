"""DNS by BIND 9 (named): the lab's root, and recursive resolvers that really recurse.

The ``dns_authoritative`` node is a.root-servers.net: it serves the root zone, which
holds the address of every site of the simulated internet (no delegation: the lab has
one authoritative server). Each ``dns_recursive`` node (the ISP resolver, 8.8.8.8,
1.1.1.1, the control resolver abroad) is a real recursive BIND whose root hints name that
server, so a lookup crosses the network the way a real one does and can be censored on
the way (issue 4 adds a response-policy zone to the ISP resolver: RPZ). A resolver with
``root_copy`` holds a copy of the root zone instead (RFC 8806, transferred from the root
at start), so it answers without leaving its country. A resolver with ``tls_names`` also
answers DNS over TLS (port 853, RFC 7858) and over HTTPS (port 443, path /dns-query, RFC
8484) with a certificate for those names from the lab's web PKI, as 8.8.8.8 (dns.google)
and 1.1.1.1 (cloudflare-dns.com) do: BIND 9.18 serves both itself.

named's files live under /var/cache/bind/<run>/, the one tree its AppArmor profile
(Debian and Ubuntu ship one) lets it write.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tools.services.readiness import Readiness, dns_ready, tcp_ready

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from tools.services.base import ServiceContext
    from topologies.model import Service, TopologyModel

PROBE_NAME = "facebook.com"  # a name every resolver must resolve to be ready
POLICY_OPTIONS, POLICY_ZONES = "policy-options.conf", "policy-zones.conf"  # a resolver's RPZ hooks
DOT_PORT, DOH_PORT, DOH_PATH = 853, 443, "/dns-query"


def root_server(model: TopologyModel) -> str:
    """The address of the lab's root server (the node with dns_authoritative)."""
    for node, _ in model.services("dns_authoritative"):
        return str(model.primary_address(node))
    raise LookupError(f"topology {model.name} has no dns_authoritative service")


def root_ready(model: TopologyModel) -> Readiness:
    """The root server's check: it answers for PROBE_NAME."""
    for node, _ in model.services("dns_authoritative"):
        return dns_ready(node, "root zone", root_server(model), PROBE_NAME)
    raise LookupError(f"topology {model.name} has no dns_authoritative service")


def root_zone(model: TopologyModel) -> str:
    lines = [
        "$TTL 300",
        ". IN SOA a.root-servers.net. nstld.verisign-grs.com. 1 1800 900 604800 300",
        ". IN NS a.root-servers.net.",
    ]
    for name, addresses in sorted(model.zone_records().items()):
        lines += [f"{name}. IN A {a}" for a in sorted(addresses)]
    return "\n".join(lines) + "\n"


def _named_conf(work: Path, listen: list[str], body: str) -> str:
    return f"""options {{
  directory "{work}";
  pid-file "{work}/named.pid";
  session-keyfile "{work}/session.key";
  managed-keys-directory "{work}";
  listen-on {{ {"; ".join(listen)}; }};
  listen-on-v6 {{ none; }};
  allow-query {{ any; }};
  dnssec-validation no;
  minimal-responses yes;
  {body}
}};
controls {{ }};
logging {{
  channel queries {{ file "{work}/queries.log"; print-time yes; }};
  category queries {{ queries; }};
  category lame-servers {{ null; }};
}};
"""


def _start_named(
    ctx: ServiceContext, node: str, kind: str, listen: list[str], options: str, zones: str, *, early: bool = True
) -> None:
    """Early by default: named's automatic interface scan listens on each address as it comes."""
    work = ctx.named_dir / f"{node}-{kind}"
    conf = work / "named.conf"
    conf.write_text(_named_conf(work, listen, options) + zones)
    ctx.spawn(node, kind, ["named", "-f", "-4", "-n", "1", "-c", str(conf)], early=early)


def start_authoritative(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    work = ctx.named_dir / f"{node}-dns"
    work.mkdir(parents=True, exist_ok=True)
    (work / "root.zone").write_text(root_zone(ctx.model))
    zones = f'zone "." {{ type primary; file "{work}/root.zone"; }};\n'
    _start_named(ctx, node, "dns", [root_server(ctx.model)], "recursion no; allow-transfer { any; };", zones)
    return [root_ready(ctx.model)]


def start_recursive(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    root = root_server(ctx.model)
    work = ctx.named_dir / f"{node}-resolver"
    work.mkdir(parents=True, exist_ok=True)
    (work / "root.hints").write_text(f". 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A {root}\n")
    # Empty until a censor (ResolverBlocklist) writes a response policy there and reloads.
    for name in (POLICY_OPTIONS, POLICY_ZONES):
        (work / name).write_text("")
    root_copy = bool(service.params.get("root_copy"))
    if root_copy:  # RFC 8806: a local copy of the root zone
        root_source = f'zone "." {{ type secondary; primaries {{ {root}; }}; file "{work}/root.copy"; }};\n'
    else:
        root_source = f'zone "." {{ type hint; file "{work}/root.hints"; }};\n'
    zones = f'{root_source}include "{work}/{POLICY_ZONES}";\n'
    # No per-query client limit: a phase's probes all ask for the same names at once.
    options = (
        "recursion yes; allow-recursion { any; }; max-ncache-ttl 10; clients-per-query 0; max-clients-per-query 0;\n"
        f'  include "{work}/{POLICY_OPTIONS}";'
    )
    listen = service.params.get("listen") or [str(a) for a in ctx.model.graph.nodes[node]["loopbacks"]]
    checks = [dns_ready(node, f"resolver {a}", a, PROBE_NAME, after=root_ready(ctx.model)) for a in listen]
    if names := service.params.get("tls_names"):  # DNS over TLS and over HTTPS on the same addresses
        ctx.web_ca.write_leaf(work, "tls", tuple(names))
        zones += f'tls public {{ cert-file "{work}/tls.crt"; key-file "{work}/tls.key"; }};\n'
        zones += f'http public {{ endpoints {{ "{DOH_PATH}"; }}; }};\n'
        addresses = "; ".join(listen)
        options += f"\n  listen-on port {DOT_PORT} tls public {{ {addresses}; }};"
        options += f"\n  listen-on port {DOH_PORT} tls public http public {{ {addresses}; }};"
        checks += [
            tcp_ready(node, f"{p} on {a}", a, port)
            for a in listen
            for p, port in (("DoT", DOT_PORT), ("DoH", DOH_PORT))
        ]
    # A copy of the root zone is transferred at start: that one starts with its network up
    # (started before, named puts the failed transfer's retry off beyond the lab's wait).
    _start_named(ctx, node, "resolver", listen, options, zones, early=not root_copy)
    return checks
