"""ShutdownAccessNetwork: an operator cuts its subscribers off (mobile data off).

At an operator's router, an nftables forward chain drops every forwarded packet that
enters or leaves by its interfaces on its access segments (the segments it is the
gateway of that hold subscribers). ``allow`` (prefixes) stays reachable: packets from
the access side to an allowed address pass, and packets from one toward it. The
subscribers' resolver is cut too unless allowed, so names stop resolving as well.

Models the fall of mobile traffic from ~14:30 UTC on 2022-01-04 (mobile is ~75% of the
country's traffic), before the nationwide shutdown (kazakhstan.md section 4).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from tools.censors.shutdown import CutLinks, access_segments

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from topologies.model import TopologyModel


class ShutdownAccessNetwork(CutLinks):
    models = "kazakhstan.md section 4 (2022-01-04 ~14:30 UTC: mobile traffic falls)"
    probe_sees = "the operator's subscribers: dns generic_timeout_error (their resolver cut off), else tcp_ip timeouts"
    circumvention = "another operator's network (a fixed line, a second SIM); an allowed address"
    table_prefix = "kzlab_access"

    def links(self, model: TopologyModel, node: str) -> list[str]:
        return access_segments(model, node)

    def allow_rules(self, interfaces: str) -> list[str]:
        return [f"iifname {interfaces} ip daddr @allow accept", f"oifname {interfaces} ip saddr @allow accept"]

    def effect(self, model: TopologyModel, node: str, client: str, address: str, now: dt.datetime | None) -> str | None:
        near, far = self.cut(model, node, client, address)
        if not (near or far):
            return None
        beyond = [address] if near else []  # the end away from the access side must be allowed
        beyond += [str(model.primary_address(client))] if far else []
        return None if any(self.allow.covers(a) for a in beyond) else "blocked"
