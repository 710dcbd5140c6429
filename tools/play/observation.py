"""The outside view of a phase, as IODA and Cloudflare Radar show a shutdown.

Three signals, each a share: BGP visibility (how many of the country's blocks the
collector abroad still has a route to: the routers' own tables, tools/observe/bgp_view),
active probing (how many of the country's addresses answer a ping sweep from the vantage
point abroad: tools/observe/sweep) and, from inside, how many (subscriber, service) pairs
work, each by operator. A data-plane shutdown leaves the first at 100 % and takes the
other two down; a withdrawal takes all three.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.basics.paths import REPO
from tools.lab.lab import Lab, LabError
from tools.observe import bgp_view, timeline
from tools.play.spec import Observation, Phase
from tools.routing import bird
from topologies.model import TopologyModel

SWEEP_TIMEOUT_S = 0.5  # lab round trips take well under a millisecond


def group(model: TopologyModel, node: str) -> str:
    """The operator a node of the country belongs to (its own name if none)."""
    return model.graph.nodes[node].get("operator") or node


def country_prefixes(model: TopologyModel) -> dict[str, str]:
    """Every block the country's BGP routers originate -> its operator."""
    return {
        str(net): group(model, router)
        for router in model.nodes("router")
        if model.speaks_bgp(router) and model.graph.nodes[router].get("cc") == "KZ"
        for net, _ in model.local_destinations(router)
    }


def country_addresses(model: TopologyModel) -> dict[str, str]:
    """The addresses in use in the country (subscribers', servers') -> operator: the
    addresses an IODA-like sweep expects an answer from."""
    out: dict[str, str] = {}
    for node in model.nodes("subscriber", "server"):
        if model.graph.nodes[node].get("cc") != "KZ":
            continue
        addresses = list(model.graph.nodes[node]["loopbacks"]) or [i.ip for _, i in model.interface_addresses(node)]
        out |= {str(a): group(model, node) for a in addresses}
    return out


def sweep(lab: Lab, vantage: str, targets: dict[str, str], workdir: Path) -> dict[str, Any]:
    """Run the ping sweep inside the vantage point; its result."""
    plan, out = workdir / "sweep-plan.json", workdir / "sweep.json"
    plan.write_text(json.dumps({"targets": targets, "timeout": SWEEP_TIMEOUT_S, "retries": 1}))
    proc = lab.host(vantage).popen(
        [sys.executable, "-m", "tools.observe.sweep", str(plan), str(out)],
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise LabError(f"sweep from {vantage} failed: {err.decode(errors='replace').strip()[-300:]}")
    return json.loads(out.read_text())


def observe(lab: Lab, spec: Observation, phase: Phase, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The three signals at this phase."""
    model = lab.model
    workdir = lab.rundir / "observe" / phase.name
    workdir.mkdir(parents=True, exist_ok=True)
    routes = bgp_view.collector_routes(lab.host(spec.collector), bird.control_socket(lab.rundir, spec.collector))
    inside = [c for c in cells if model.graph.nodes[c["client"]].get("cc") == "KZ"]
    return {
        "phase": phase.name,
        "time": phase.time or None,
        "bgp": bgp_view.visibility(routes, country_prefixes(model)),
        "probing": sweep(lab, spec.vantage, country_addresses(model), workdir),
        "inside": timeline.inside_share(inside, {c["client"]: group(model, c["client"]) for c in inside}),
    }


def summary_line(entry: dict[str, Any]) -> str:
    return (
        f"outside view: {entry['bgp']['share']:.0%} of the country's blocks visible in BGP at the collector, "
        f"{entry['probing']['share']:.0%} of its addresses answer pings from abroad; "
        f"inside: {entry['inside']['share']:.0%} of (client, service) pairs work"
    )
