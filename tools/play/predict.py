"""Prediction beside emulation: each cell's outcome from the networkx model alone.

For a phase, the censors attached so far each say, from the model's paths (their
``effect``), whether they cut or slow the traffic between a client and an address. A
cell is predicted as the probe would see it: the lookup first (the client's resolver
cut off: ``dns:generic_timeout_error``), then the site (no route on the way out: the
router says ``tcp_ip:network_unreachable``; cut: a connect that times out,
``tcp_ip:generic_timeout_error``; slowed: ``throttled``), else ``accessible``. The
runner compares this matrix with the emulated one and reports every difference: where
they differ, either the model or the emulation is wrong, and the student sees which.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from tools.censors.base import Censor
from tools.play.spec import Target
from topologies.model import TopologyModel

DNS_CUT = "dns:generic_timeout_error"
CONNECT_CUT = "tcp_ip:generic_timeout_error"
NO_ROUTE = "tcp_ip:network_unreachable"


def effects(
    model: TopologyModel, placed: list[tuple[Censor, str]], client: str, address: str, now: dt.datetime | None
) -> set[str]:
    return {e for censor, node in placed if (e := censor.effect(model, node, client, address, now))}  # type: ignore[attr-defined]


def cell(
    model: TopologyModel, placed: list[tuple[Censor, str]], client: str, target: Target, now: dt.datetime | None
) -> str:
    """The predicted outcome of ``client`` fetching ``target`` with ``placed`` censors."""
    resolver = model.graph.nodes[client].get("resolver")
    if resolver and "blocked" in effects(model, placed, client, resolver, now):
        return DNS_CUT
    host = urlsplit(target.url or "").hostname or ""
    address = sorted(model.zone_records()[host])[0]
    seen = effects(model, placed, client, address, now)
    if "unreachable" in seen:  # the first router without a route answers before anything else bites
        return NO_ROUTE
    if "blocked" in seen:
        return CONNECT_CUT
    return "throttled" if "throttled" in seen else "accessible"


def matrix(
    model: TopologyModel,
    placed: list[tuple[Censor, str]],
    clients: list[str],
    targets: list[Target],
    now: dt.datetime | None,
) -> dict[tuple[str, str], str]:
    return {(c, t.name): cell(model, placed, c, t, now) for c in clients for t in targets}
