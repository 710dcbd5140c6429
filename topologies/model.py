"""The lab's source of truth: a networkx model of nodes, segments and links.

A topology is a graph. Every device is a node with a ``role``; a LAN is a ``segment``
node (built as a Linux bridge); an edge joins a device to a segment or two devices
point to point, and carries each end's interface address. Service addresses (the
public addresses of web sites, resolvers, Telegram's data centres) sit on a node's
loopback, and ``prefixes`` are the blocks a node announces (Facebook's AS32934 ranges,
say), so that routing and address blocking look like the real internet.

Routing is derived, never written by hand: for every destination, a breadth-first
tree rooted at its owner gives each router its next hop, and ``path()`` walks the same
tree, so what the path analysis says is what the kernel does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

ROLES = frozenset(
    {
        "subscriber",  # a client inside the country (home or mobile access)
        "vantage",  # a client outside the country (Censored Planet / OONI style)
        "router",  # forwards; may be a censor point
        "server",  # hosts services at its loopback addresses
        "segment",  # a LAN, built as a Linux bridge
    }
)
FORWARDING_ROLES = frozenset({"router"})
CLIENT_ROLES = frozenset({"subscriber", "vantage"})
MAX_NODE_NAME = 10  # Mininet names interfaces "<node>-eth<N>", at most 15 characters


class TopologyError(ValueError):
    """A topology that cannot be built; the message names the node or link at fault."""


@dataclass(frozen=True)
class Service:
    """A service a node runs: ``kind`` selects the implementation in tools/services."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hop:
    """One node on a path, with whether a censor can attach there."""

    node: str
    role: str
    censor_point: bool


class TopologyModel:
    """A named lab topology: build it with the add_* methods, then ``validate()``."""

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self.graph = nx.Graph(name=name)

    # -- construction -----------------------------------------------------------------
    def add_segment(self, name: str, subnet: str, gateway: str, **attrs: Any) -> None:
        """A LAN; ``gateway`` is the router whose address on it is the hosts' default."""
        self._add(name, "segment", subnet=_network(name, subnet), gateway=gateway, **attrs)

    def add_node(
        self,
        name: str,
        role: str,
        *,
        loopbacks: Iterable[str] = (),
        prefixes: Iterable[str] = (),
        services: Iterable[Service] = (),
        censor_point: bool = False,
        **attrs: Any,
    ) -> None:
        """A device. ``loopbacks``: its service addresses; ``prefixes``: blocks it owns."""
        if role == "segment":
            raise TopologyError(f"node {name!r}: use add_segment for segments")
        self._add(
            name,
            role,
            loopbacks=tuple(_address(name, a) for a in loopbacks),
            prefixes=tuple(_network(name, p) for p in prefixes),
            services=tuple(services),
            censor_point=censor_point,
            **attrs,
        )

    def attach(self, node: str, segment: str, address: str) -> None:
        """Connect ``node`` to ``segment`` with ``address`` (inside the segment's subnet)."""
        self._require(node, segment)
        subnet = self.graph.nodes[segment]["subnet"]
        ip = _address(node, address)
        if ip not in subnet:
            raise TopologyError(f"node {node!r}: address {ip} is outside {segment}'s {subnet}")
        self.graph.add_edge(node, segment, addrs={node: ip}, subnet=subnet)

    def connect(self, a: str, b: str, subnet: str) -> None:
        """A point-to-point link; the two ends take the first two host addresses."""
        self._require(a, b)
        net = _network(f"{a}-{b}", subnet)
        hosts = list(net.hosts()) if net.prefixlen < 31 else list(net)
        if len(hosts) < 2:
            raise TopologyError(f"link {a}-{b}: {net} has room for fewer than two ends")
        self.graph.add_edge(a, b, addrs={a: hosts[0], b: hosts[1]}, subnet=net)

    def _add(self, name: str, role: str, **attrs: Any) -> None:
        if role not in ROLES:
            raise TopologyError(f"node {name!r}: unknown role {role!r} (one of {sorted(ROLES)})")
        if not name or not name.replace("_", "").isalnum() or not name[0].isalpha():
            raise TopologyError(f"node {name!r}: names are letters, digits and _, from a letter")
        if len(name) > MAX_NODE_NAME:
            raise TopologyError(f"node {name!r}: longer than {MAX_NODE_NAME} characters")
        if name in self.graph:
            raise TopologyError(f"node {name!r}: defined twice")
        self.graph.add_node(name, role=role, **attrs)

    def _require(self, *names: str) -> None:
        for n in names:
            if n not in self.graph:
                raise TopologyError(f"link to unknown node {n!r}")

    # -- queries ----------------------------------------------------------------------
    def role(self, node: str) -> str:
        return self.graph.nodes[node]["role"]

    def nodes(self, *roles: str) -> list[str]:
        """Node names with one of ``roles`` (all devices if none), in insertion order."""
        return [n for n, d in self.graph.nodes(data=True) if (d["role"] in roles if roles else d["role"] != "segment")]

    def clients(self) -> list[str]:
        return self.nodes(*CLIENT_ROLES)

    def interface_addresses(self, node: str) -> list[tuple[str, ipaddress.IPv4Interface]]:
        """(neighbour, address/prefix) for each link of ``node``, in a stable order."""
        out = []
        for nbr in sorted(self.graph[node]):
            edge = self.graph.edges[node, nbr]
            out.append((nbr, ipaddress.IPv4Interface(f"{edge['addrs'][node]}/{edge['subnet'].prefixlen}")))
        return out

    def primary_address(self, node: str) -> ipaddress.IPv4Address:
        """The address others reach ``node`` at: its first loopback, else its first link."""
        d = self.graph.nodes[node]
        if d.get("loopbacks"):
            return d["loopbacks"][0]
        return self.interface_addresses(node)[0][1].ip

    def default_gateway(self, node: str) -> ipaddress.IPv4Address | None:
        """For a host on one segment: the segment gateway's address on that segment."""
        for nbr in self.graph[node]:
            if self.role(nbr) == "segment":
                gw = self.graph.nodes[nbr]["gateway"]
                return self.graph.edges[gw, nbr]["addrs"][gw]
        return None

    def services(self, kind: str | None = None) -> Iterator[tuple[str, Service]]:
        """(node, service) for every service, or those of one ``kind``."""
        for n, d in self.graph.nodes(data=True):
            for s in d.get("services", ()):
                if kind is None or s.kind == kind:
                    yield n, s

    def zone_records(self) -> dict[str, set[str]]:
        """name -> addresses, as the root zone publishes them: every site of every web
        service, and the extra records of the authoritative DNS service."""
        records: dict[str, set[str]] = {}
        for _, svc in self.services("web"):
            for site in svc.params["sites"]:
                records.setdefault(site.domain, set()).add(site.address)
        for _, svc in self.services("dns_authoritative"):
            for name, address in svc.params.get("records", {}).items():
                records.setdefault(name, set()).add(address)
        return records

    def destinations(self) -> list[tuple[ipaddress.IPv4Network, str]]:
        """Every routable block and the node that owns it (segments own their subnets)."""
        out: list[tuple[ipaddress.IPv4Network, str]] = []
        for n, d in self.graph.nodes(data=True):
            if d["role"] == "segment":
                out.append((d["subnet"], n))
            else:
                out += [(ipaddress.IPv4Network(a), n) for a in d["loopbacks"]]
                out += [(p, n) for p in d["prefixes"]]
        for a, b, e in self.graph.edges(data=True):
            if self.role(a) != "segment" and self.role(b) != "segment":
                out.append((e["subnet"], f"{a}|{b}"))
        return out

    def owner(self, address: str | ipaddress.IPv4Address) -> str:
        """The node that holds ``address``: the device it is configured on, else the
        longest-prefix match over the routable blocks."""
        ip = ipaddress.IPv4Address(str(address))
        for node, data in self.graph.nodes(data=True):
            if data["role"] != "segment" and (
                ip in data["loopbacks"] or any(i.ip == ip for _, i in self.interface_addresses(node))
            ):
                return node
        best: tuple[int, str] | None = None
        for net, node in self.destinations():
            if ip in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, node)
        if best is None:
            raise TopologyError(f"address {ip} belongs to no node of {self.name}")
        return best[1].split("|")[0]

    def next_hops(self, owner: str) -> dict[str, str]:
        """Each node's next node toward ``owner``: the parent in a BFS tree rooted there.

        Only routers forward, so the tree never passes through a host or a server."""
        parent: dict[str, str] = {}
        frontier = [owner]
        seen = {owner}
        while frontier:
            nxt = []
            for u in frontier:
                for v in sorted(self.graph[u]):
                    if v in seen:
                        continue
                    seen.add(v)
                    parent[v] = u
                    if self.role(v) in FORWARDING_ROLES or self.role(v) == "segment":
                        nxt.append(v)
            frontier = nxt
        return parent

    def path(self, src: str, dst: str | ipaddress.IPv4Address) -> list[Hop]:
        """The devices a packet from ``src`` to ``dst`` (node or address) crosses, in order."""
        owner = dst if isinstance(dst, str) and dst in self.graph else self.owner(dst)
        parent = self.next_hops(owner)
        if src != owner and src not in parent:
            raise TopologyError(f"no path from {src} to {dst}")
        hops, node = [], src
        gateway = self._gateway_node(src)
        if gateway and src != owner and not self._shares_segment(src, owner):
            # A host sends everything off its LAN to its default gateway, whatever the tree says.
            hops.append(Hop(src, self.role(src), bool(self.graph.nodes[src].get("censor_point"))))
            node = gateway
        while True:
            d = self.graph.nodes[node]
            if d["role"] != "segment":
                hops.append(Hop(node, d["role"], bool(d.get("censor_point"))))
            if node == owner:
                return hops
            node = parent[node]

    def _gateway_node(self, node: str) -> str | None:
        """The router a host on a segment uses as its default gateway."""
        if self.role(node) in FORWARDING_ROLES:
            return None
        for nbr in self.graph[node]:
            if self.role(nbr) == "segment":
                return self.graph.nodes[nbr]["gateway"]
        return None

    def _shares_segment(self, a: str, b: str) -> bool:
        return any(self.role(s) == "segment" and b in self.graph[s] for s in self.graph[a])

    def censor_points_on_path(self, src: str, dst: str | ipaddress.IPv4Address) -> list[str]:
        """The censor points (gateway, border, ...) that traffic from src to dst crosses."""
        return [h.node for h in self.path(src, dst) if h.censor_point]

    def speaks_bgp(self, node: str) -> bool:
        return any(s.kind == "bgp" for s in self.graph.nodes[node].get("services", ()))

    def local_destinations(self, router: str) -> list[tuple[ipaddress.IPv4Network, str]]:
        """The blocks a router originates in BGP: its own, the segments it is the gateway
        of, and those of the hosts and servers on them."""
        local = {router} | {
            s for s in self.graph[router] if self.role(s) == "segment" and self.graph.nodes[s]["gateway"] == router
        }
        local |= {
            h
            for s in list(local)
            if self.role(s) == "segment"
            for h in self.graph[s]
            if self.role(h) not in FORWARDING_ROLES
        }
        return [(net, owner) for net, owner in self.destinations() if owner in local]

    def bgp_neighbours(self, router: str) -> list[tuple[str, ipaddress.IPv4Address, ipaddress.IPv4Address]]:
        """(neighbour, its address, this router's address) for every BGP speaker one link or
        one shared segment away."""
        out = []
        for nbr in sorted(self.graph[router]):
            edge = self.graph.edges[router, nbr]
            if self.role(nbr) == "segment":
                for peer in sorted(self.graph[nbr]):
                    if peer != router and self.role(peer) in FORWARDING_ROLES and self.speaks_bgp(peer):
                        out.append((peer, self.graph.edges[peer, nbr]["addrs"][peer], edge["addrs"][router]))
            elif self.role(nbr) in FORWARDING_ROLES and self.speaks_bgp(nbr):
                out.append((nbr, edge["addrs"][nbr], edge["addrs"][router]))
        return out

    def routing_tables(self) -> dict[str, list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]]]:
        """For every router, (destination, next-hop address) for each block it does not
        hold or touch directly; hosts use their segment's gateway instead. A BGP speaker
        gets static routes only to the blocks behind it: BGP brings it the rest."""
        tables: dict[str, list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]]] = {
            r: [] for r in self.nodes(*FORWARDING_ROLES)
        }
        for net, owner in self.destinations():
            ends = owner.split("|")
            parent = self.next_hops(ends[0])
            for router, table in tables.items():
                if router in ends or self.graph.has_edge(router, owner):
                    continue  # its own block, or a segment it is attached to
                nxt = parent.get(router)
                if nxt is None:
                    continue
                if self.role(nxt) == "segment":
                    nxt_dev = parent[nxt]
                    table.append((net, self.graph.edges[nxt_dev, nxt]["addrs"][nxt_dev]))
                else:
                    table.append((net, self.graph.edges[router, nxt]["addrs"][nxt]))
        for router in tables:
            if self.speaks_bgp(router):
                local = {net for net, _ in self.local_destinations(router)}
                tables[router] = [(net, via) for net, via in tables[router] if net in local]
        return tables

    # -- validation -------------------------------------------------------------------
    def validate(self) -> TopologyModel:
        """Check the model can be built and routed; raise TopologyError naming the fault."""
        g = self.graph
        if g.number_of_nodes() == 0:
            raise TopologyError(f"topology {self.name!r} has no nodes")
        for n, d in g.nodes(data=True):
            if g.degree(n) == 0:
                raise TopologyError(f"node {n!r} has no links")
            if d["role"] == "segment":
                gw = d["gateway"]
                if gw not in g or not g.has_edge(gw, n) or self.role(gw) not in FORWARDING_ROLES:
                    raise TopologyError(f"segment {n!r}: gateway {gw!r} is not a router on it")
            elif d["role"] not in FORWARDING_ROLES and g.degree(n) != 1:
                raise TopologyError(f"node {n!r}: a {d['role']} has exactly one link")
        for a, b in g.edges():
            if self.role(a) == "segment" and self.role(b) == "segment":
                raise TopologyError(f"link {a}-{b}: two segments cannot be linked directly")
        if not nx.is_connected(g):
            parts = sorted(sorted(c)[0] for c in nx.connected_components(g))
            raise TopologyError(f"topology {self.name!r} is split; parts start at {parts}")
        seen: dict[ipaddress.IPv4Address, str] = {}
        for n, d in g.nodes(data=True):
            mine = list(d.get("loopbacks", ()))
            if d["role"] != "segment":
                mine += [i.ip for _, i in self.interface_addresses(n)]
            for ip in mine:
                if ip in seen and seen[ip] != n:
                    raise TopologyError(f"address {ip} is used by both {seen[ip]!r} and {n!r}")
                seen[ip] = n
        owners: dict[ipaddress.IPv4Network, str] = {}
        for net, owner in self.destinations():
            if owners.setdefault(net, owner) != owner:
                raise TopologyError(f"block {net} is held by both {owners[net]!r} and {owner!r}")
        return self


def _address(where: str, text: str | ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(text))
    except ValueError:
        raise TopologyError(f"node {where!r}: {text!r} is not an IPv4 address") from None


def _network(where: str, text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError:
        raise TopologyError(f"{where!r}: {text!r} is not an IPv4 network") from None
