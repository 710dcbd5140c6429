"""DropTrafficAtBorder: the country cut off in the data plane at its international gateway.

At the node it is attached to (the border), an nftables forward chain drops every
forwarded packet that enters or leaves by an interface toward a neighbour outside the
country: a device without ``cc`` "KZ", or a segment none of whose other members is in
the country. The node's own traffic is untouched, so its BGP sessions stay up and the
country's prefixes stay announced to the world while nothing crosses. ``allow``
(prefixes) is let through both ways: a packet from or to an allowed address passes.

Models the nationwide shutdown of 2022-01-05 (~10:30-11:15 UTC, connectivity down to
~2%), which RIPE saw as data-plane blocking: the networks stayed visible in BGP, not a
route withdrawal (kazakhstan.md section 4; WithdrawRoutes is the other way, for
comparison). Domestic traffic, which never reaches the border, goes on.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from tools.censors.shutdown import CutLinks

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from topologies.model import TopologyModel

COUNTRY = "KZ"


class DropTrafficAtBorder(CutLinks):
    models = "kazakhstan.md section 4 (2022-01-05 nationwide shutdown; RIPE: prefixes stayed in BGP)"
    probe_sees = "sites abroad: tcp_ip generic_timeout_error at connect; domestic sites accessible"
    circumvention = "none through the gateway; a path around it (satellite, a foreign mobile network); an allowed host"
    table_prefix = "kzlab_border"

    def links(self, model: TopologyModel, node: str) -> list[str]:
        def foreign(n: str) -> bool:
            return model.graph.nodes[n].get("cc") != COUNTRY

        return [
            n
            for n in model.graph[node]
            if (all(foreign(m) for m in model.graph[n] if m != node) if model.role(n) == "segment" else foreign(n))
        ]

    def allow_rules(self, interfaces: str) -> list[str]:
        return ["ip saddr @allow accept", "ip daddr @allow accept"]

    def effect(self, model: TopologyModel, node: str, client: str, address: str, now: dt.datetime | None) -> str | None:
        if not any(self.cut(model, node, client, address)):
            return None
        return None if self.allow.covers(address) or self.allow.covers(model.primary_address(client)) else "blocked"
