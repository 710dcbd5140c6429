"""Look at a topology without building it: its devices, and the path between two points.

    python -m topologies show [kz_isp]
    python -m topologies path CLIENT TARGET [--topology kz_isp]

TARGET is a node, an address, or a site's domain name. The path lists every device a
packet crosses and marks the censor points (where censors and the interception device
can attach), from the same routing the lab installs.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from topologies import registry
from topologies.model import TopologyError, TopologyModel


def show(model: TopologyModel) -> str:
    lines = [f"{model.name}: {model.description}"]
    for node in model.nodes():
        d = model.graph.nodes[node]
        addrs = ", ".join(str(i.ip) for _, i in model.interface_addresses(node))
        extra = f"; serves {len(d['loopbacks'])} address(es)" if d["loopbacks"] else ""
        mark = " [censor point]" if d.get("censor_point") else ""
        lines.append(f"  {node:10} {d['role']:10} {addrs}{extra}{mark}  {d.get('label', '')}".rstrip())
    for seg in model.nodes("segment"):
        d = model.graph.nodes[seg]
        lines.append(f"  segment {seg:10} {d['subnet']} via {d['gateway']}  {d.get('label', '')}".rstrip())
    return "\n".join(lines)


def path(model: TopologyModel, client: str, target: str) -> str:
    names = model.zone_records()
    destination = sorted(names[target])[0] if target in names else target
    if destination not in model.graph:
        try:
            ipaddress.IPv4Address(destination)
        except ValueError:
            raise TopologyError(f"target {target!r} is neither a node, an address nor a site") from None
    hops = model.path(client, destination)
    shown = " -> ".join(f"{h.node}{'*' if h.censor_point else ''}" for h in hops)
    points = [h.node for h in hops if h.censor_point]
    return f"{client} -> {target} ({destination}): {shown}\ncensor points crossed: {', '.join(points) or 'none'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m topologies", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_show = sub.add_parser("show")
    p_show.add_argument("topology", nargs="?", default="kz_isp")
    p_path = sub.add_parser("path")
    p_path.add_argument("client")
    p_path.add_argument("target")
    p_path.add_argument("--topology", default="kz_isp")
    args = parser.parse_args(argv)
    try:
        model = registry.build(args.topology)
        print(show(model) if args.command == "show" else path(model, args.client, args.target))
    except (TopologyError, ValueError) as exc:
        print(f"kzlab: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
