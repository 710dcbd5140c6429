"""The method ``fronting``: the host's probes reach each fronted name through a domain
front, an allowed name the same CDN edge serves.

A fronted fetch resolves the front's name (not the blocked one), connects to the front's
address and sends the front's name as SNI; the blocked name goes only in the Host header,
inside TLS. This needs the client's cooperation, as real fronting clients (meek, Signal's
2016-2018 fronting, Snowflake's broker) build it in: the method tells the host's probes
(probe option ``fronts``: blocked name -> front) and starts nothing. Its parameters are
checked against the lab's CDN edges (service ``cdn_edge``): the front must be one of an
edge's allowed names, and the edge must serve every fronted name.

It beats what reads the blocked name in the clear (the SNI censors, the resolver's
blocklist, DNS injection) and address blocking of the blocked site's own servers. It
falls to address blocking of the CDN (every customer goes with it), to a Host censor on
plain http:// URLs (the Host header is in the clear there), and to a device that decrypts
(kazakhstan.md section 7, last line): the 2019 device intercepts by SNI, so it passes a
front off its list untouched, and decrypts one on it, reading the Host header.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import DOMAINS, Field, Kind, domain_name
from tools.circumvent.method import Method, MethodContext, MethodError
from topologies.circumvention import CDN_FRONTS
from topologies.model import TopologyModel


def _some_domains(value: object) -> tuple[str, ...]:
    names: tuple[str, ...] = DOMAINS.normalise(value)
    if not names:
        raise ValueError("no name")
    return names


SOME_DOMAINS = Kind('a list of one or more domain names (e.g. ["facebook.com"])', _some_domains)


def edge_sites(model: TopologyModel, front: str) -> set[str] | None:
    """Every name served by the CDN edge that holds ``front`` as an allowed front, or None
    when no edge of the lab does."""
    for _, service in model.services("cdn_edge"):
        if front in {site.domain for site in service.params["fronts"]}:
            return {site.domain for site in (*service.params["fronts"], *service.params["customers"])}
    return None


class DomainFronting(Method):
    name = "fronting"
    what = "reaches a blocked name at a CDN edge with an allowed name's address and SNI, itself only in the Host header"
    models = "kazakhstan.md section 7 (domain fronting defeats SNI filtering, not a device that decrypts the traffic)"
    fields: ClassVar[dict[str, Field]] = {
        "front": Field(Kind("a DNS name", domain_name), "the allowed name the connection shows", CDN_FRONTS[0].domain),
        "fronted": Field(SOME_DOMAINS, "the blocked names reached through the front"),
    }

    def bring_up(self, ctx: MethodContext) -> None:
        front, fronted = self.params["front"], self.params["fronted"]
        served = edge_sites(ctx.model, front)
        if served is None:
            raise MethodError(f"method 'fronting': {front} is not a front of any CDN edge in this lab")
        if missing := [name for name in fronted if name not in served]:
            raise MethodError(f"method 'fronting': the CDN edge behind {front} does not serve {', '.join(missing)}")

    def probe_options(self) -> dict[str, Any]:
        return {"fronts": {name: self.params["front"] for name in self.params["fronted"]}}
