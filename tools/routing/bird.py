"""BGP by BIRD 2: each router of a BGP topology runs a real ``bird`` inside its node.

The configuration comes from the model. A router originates the blocks behind it
(``TopologyModel.local_destinations``) and holds one BGP session with every BGP speaker
one link or one shared segment away, eBGP between autonomous systems and iBGP inside
one. Export policy is the textbook one (Gao and Rexford): every route is tagged on
import with what its neighbour is to this AS (a BGP large community (ASN, 1, relation));
customers get every route, peers and providers only the AS's own routes and its
customers'. So operators peer at the domestic exchange, the border sells them transit,
and the transit provider sees the country's blocks through the border, as on the real
internet (kazakhstan.md section 4: RIPE watched those announcements in January 2022).

Withdrawal is the real thing: ``set_withdrawn`` rewrites the function the export filter
toward providers asks (``withdrawn()``) and has BIRD reload it, so the router sends BGP
withdrawals and the blocks leave its providers' tables. Only BGP routes go to the
kernel; the routes to the router's own segments and hosts stay static.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING

from tools.services.readiness import KernelRoutes, Readiness

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.node import Node

    from tools.services.base import ServiceContext
    from topologies.model import Service, TopologyModel

RELATIONS = {"own": 0, "customer": 1, "peer": 2, "provider": 3, "ibgp": 4}
RTPROT_BIRD = 12  # the routes BIRD puts in the kernel carry this protocol number
TIMERS = "hold time 6; keepalive time 2; connect retry time 1; error wait time 1, 4;"


def directory(rundir: Path, node: str) -> Path:
    return rundir / "bird" / node


def control_socket(rundir: Path, node: str) -> Path:
    return directory(rundir, node) / "bird.ctl"


def withdrawn_function(prefixes: list[ipaddress.IPv4Network] | None) -> str:
    """The BIRD function the export filter toward providers asks: none, the given blocks
    (and what they cover), or everything (``prefixes`` empty)."""
    if prefixes is None:
        body = "return false;"
    elif not prefixes:
        body = "return true;"
    else:
        body = f"return net ~ [ {', '.join(f'{p}+' for p in prefixes)} ];"
    return f"function withdrawn() {{ {body} }}\n"


def relations(model: TopologyModel, node: str) -> dict[str, str]:
    """What each BGP neighbour is to ``node``: the service's ``relations``, default peer
    (iBGP for a neighbour in the same AS)."""
    service = next(s for s in model.graph.nodes[node]["services"] if s.kind == "bgp")
    asn = model.graph.nodes[node]["asn"]
    out = {}
    for peer, _, _ in model.bgp_neighbours(node):
        same_as = model.graph.nodes[peer]["asn"] == asn
        out[peer] = "ibgp" if same_as else service.params.get("relations", {}).get(peer, "peer")
    return out


def config(model: TopologyModel, node: str, rundir: Path) -> str:
    """bird.conf for ``node``, from the model alone."""
    d = model.graph.nodes[node]
    asn = d["asn"]
    router_id = model.interface_addresses(node)[0][1].ip
    tag = f"({asn}, 1, {{}})"
    own = "\n".join(f"  route {net} blackhole;" for net, _ in model.local_destinations(node))
    lines = [
        f"router id {router_id};",
        "log stderr { info, warning, error, fatal };",
        f'include "{directory(rundir, node) / "withdrawn.conf"}";',
        f"function exportable() {{ return {tag.format(0)} ~ bgp_large_community"
        f" || {tag.format(1)} ~ bgp_large_community; }}",
        "protocol device { scan time 5; }",
        "protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }",
        "protocol static own {",
        f"  ipv4 {{ import filter {{ bgp_large_community.add({tag.format(0)}); accept; }}; }};",
        own,
        "}",
    ]
    neighbours = {peer: (addr, local) for peer, addr, local in model.bgp_neighbours(node)}
    for peer, relation in relations(model, node).items():
        addr, local = neighbours[peer]
        export = {
            "customer": "export all;",
            "ibgp": "export all;",  # BIRD itself never passes iBGP routes on to iBGP
            "peer": "export where exportable();",
            "provider": "export where exportable() && !withdrawn();",
        }[relation]
        ibgp = " direct;" if relation == "ibgp" else ""
        gateway = " gateway direct;" if relation == "ibgp" else ""
        lines += [
            f"protocol bgp {peer} {{",
            f"  local {local} as {asn}; neighbor {addr} as {model.graph.nodes[peer]['asn']};{ibgp}",
            f"  {TIMERS}",
            "  ipv4 {",
            f"    next hop self;{gateway}",
            f"    import filter {{ bgp_large_community.add({tag.format(RELATIONS[relation])}); accept; }};",
            f"    {export}",
            "  };",
            "}",
        ]
    return "\n".join(lines) + "\n"


def expected_routes(model: TopologyModel, node: str) -> int:
    """How many BGP routes ``node`` holds once converged: every block another speaker
    originates (in the lab's topologies providers give their customers everything and
    every speaker reaches every other through one)."""
    own = {net for net, _ in model.local_destinations(node)}
    theirs = {
        net
        for r in model.nodes("router")
        if r != node and model.speaks_bgp(r)
        for net, _ in model.local_destinations(r)
    }
    return len(theirs - own)


def start(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    """bird in ``node``; ready once the kernel holds every route BGP should bring."""
    work = directory(ctx.rundir, node)
    work.mkdir(parents=True, exist_ok=True)
    (work / "withdrawn.conf").write_text(withdrawn_function(None))
    conf = work / "bird.conf"
    conf.write_text(config(ctx.model, node, ctx.rundir))
    sock = control_socket(ctx.rundir, node)
    ctx.spawn(node, "bird", ["bird", "-f", "-c", str(conf), "-s", str(sock), "-P", str(work / "bird.pid")])
    count = expected_routes(ctx.model, node)
    return [Readiness(node, f"BGP ({count} routes)", KernelRoutes(RTPROT_BIRD, count))]


def birdc(host: Node, rundir: Path, command: str) -> str:
    """Run one birdc command against the BIRD of ``host``; returns its output."""
    return host.cmd(f"birdc -s {control_socket(rundir, host.name)} {command}")


def set_withdrawn(host: Node, rundir: Path, prefixes: list[ipaddress.IPv4Network] | None) -> None:
    """Withdraw ``prefixes`` (all if empty; none: announce again) toward the providers of
    ``host`` and have BIRD apply it at once."""
    (directory(rundir, host.name) / "withdrawn.conf").write_text(withdrawn_function(prefixes))
    out = birdc(host, rundir, "configure")
    if "Reconfigured" not in out and "Reconfiguration in progress" not in out:
        raise RuntimeError(f"{host.name}: bird did not take the new export policy: {out.strip()}")
    birdc(host, rundir, "reload out all")  # re-export every route through the new filter, whatever BIRD diffed
