"""What the shutdown censors share (kazakhstan.md section 4, January 2022).

A shutdown cuts or slows whole paths, not named sites, so besides acting in the node it
can say from the topology model alone what it does to the traffic between a client and
an address (``effect``): tools/play/predict.py builds a scenario's expected outcome matrix
from it. The censors that cut links work all in the kernel: ``NftCensor`` loads a table
of the node's own with ``nft -f`` and deletes it on detach (DropTrafficForServerEndpoint
uses it too), and ``CutLinks`` drops every forwarded packet that enters or leaves by the
node's interfaces on some of its links.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from abc import abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from tools.basics.params import PREFIXES
from tools.censors.base import Attachment, Censor, Field
from tools.censors.matching import AddressList

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.node import Node

    from topologies.model import TopologyModel


class ShutdownCensor(Censor):
    """A censor whose effect on a client's traffic the model predicts."""

    @abstractmethod
    def effect(self, model: TopologyModel, node: str, client: str, address: str, now: dt.datetime | None) -> str | None:
        """Attached at ``node``: "blocked" if traffic between ``client`` and ``address``
        would not get through (either way: a connection needs both), "unreachable" if a
        router on the client's way out has no route and says so (ICMP), "throttled" if it
        gets through slowly, None if this censor does not touch it."""


def sides(model: TopologyModel, node: str, client: str, address: str) -> tuple[set[str], set[str]]:
    """The devices next to ``node`` on the way from ``client`` to ``address`` and on the
    way back (paths may differ): (those on the client's side, those on the address's
    side); both empty when neither way crosses ``node``."""
    client_side: set[str] = set()
    address_side: set[str] = set()
    there = [h.node for h in model.path(client, address)]
    back = [h.node for h in model.path(model.owner(address), client)][::-1]
    for way in (there, back):  # each from the client to the address
        if node in way[1:-1]:
            i = way.index(node)
            client_side.add(way[i - 1])
            address_side.add(way[i + 1])
    return client_side, address_side


def access_segments(model: TopologyModel, node: str) -> list[str]:
    """The segments ``node`` is the gateway of that hold subscribers: its access network."""
    graph = model.graph
    return [
        s
        for s in graph[node]
        if model.role(s) == "segment"
        and graph.nodes[s]["gateway"] == node
        and any(model.role(h) == "subscriber" for h in graph[s])
    ]


def link(model: TopologyModel, node: str, device: str) -> str:
    """The neighbour of ``node`` (the device itself, or a segment they share) by which
    it reaches the adjacent ``device``."""
    if model.graph.has_edge(node, device):
        return device
    return next(s for s in model.graph[node] if model.role(s) == "segment" and device in model.graph[s])


def interfaces_toward(host: Node, model: TopologyModel, node: str, links: Iterable[str]) -> list[str]:
    """The node's interfaces on its links to ``links`` (devices or segments): the one
    holding the model's address of each link, as ``ip -o -4 addr show`` lists them."""
    by_address = {}
    for line in host.cmd("ip -o -4 addr show").splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet":
            by_address[fields[3].split("/")[0]] = fields[1].split("@")[0]
    out = []
    for neighbour in links:
        address = str(model.graph.edges[node, neighbour]["addrs"][node])
        if address not in by_address:
            raise RuntimeError(f"{node}: no interface holds {address}, its address toward {neighbour}")
        out.append(by_address[address])
    return out


def address_set(name: str, nets: Iterable[ipaddress.IPv4Network]) -> str:
    """An nftables interval set of prefixes: one lookup per packet, however many."""
    elements = ", ".join(str(n) for n in nets)
    return f"  set {name} {{ type ipv4_addr; flags interval; auto-merge; elements = {{ {elements} }} }}\n"


class NftCensor(Censor):
    """A censor all in the node's kernel: a table ``<table_prefix><index>`` of its own,
    loaded at once with ``nft -f`` (nothing is left of a table that fails) and deleted on
    detach. No packet reaches Python."""

    table_prefix: ClassVar[str]

    @abstractmethod
    def ruleset(self, at: Attachment, table: str) -> str:
        """The nftables text of ``table`` for the node of ``at``."""

    def attach(self, at: Attachment) -> None:
        table = f"{self.table_prefix}{at.index}"
        path = at.workdir / "ruleset.nft"
        path.write_text(self.ruleset(at, table))
        out = at.host.cmd(f"nft -f {path} 2>&1; echo rc=$?").strip()
        if not out.endswith("rc=0"):
            raise RuntimeError(f"censor {self.name} on {at.host.name}: nft: {out}")
        self.host, self.table = at.host, table

    def detach(self) -> None:
        if self.host is not None:
            self.host.cmd(f"nft delete table ip {self.table}")
            self.host = None


class CutLinks(NftCensor, ShutdownCensor):
    """Drops every forwarded packet entering or leaving the node by its interfaces on the
    links ``links`` names, but for what ``allow`` (prefixes) lets through; the node's own
    traffic (input and output hooks: its BGP sessions, say) is untouched."""

    fields: ClassVar[dict[str, Field]] = {"allow": Field(PREFIXES, "prefixes still reachable across the cut links", ())}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.allow = AddressList(self.params["allow"])

    @abstractmethod
    def links(self, model: TopologyModel, node: str) -> list[str]:
        """The neighbours (devices or segments) of ``node`` whose links are cut."""

    @abstractmethod
    def allow_rules(self, interfaces: str) -> list[str]:
        """nftables rules accepting the packets ``allow`` lets through (``interfaces``: the
        cut ones, as an nftables set) before the cut drops the rest."""

    def cut(self, model: TopologyModel, node: str, client: str, address: str) -> tuple[bool, bool]:
        """Whether the traffic between ``client`` and ``address`` meets a cut link of
        ``node`` on the client's side of it, and on the address's side."""
        cut = set(self.links(model, node))
        near, far = sides(model, node, client, address)
        return any(link(model, node, d) in cut for d in near), any(link(model, node, d) in cut for d in far)

    def table_text(self, table: str, interfaces: list[str]) -> str:
        """The nftables table cutting ``interfaces`` (the node's interfaces on its cut links)."""
        names = "{ " + ", ".join(f'"{i}"' for i in interfaces) + " }"
        rules = self.allow_rules(names) if self.allow else []
        rules += [f"iifname {names} counter drop", f"oifname {names} counter drop"]
        return (
            f"table ip {table} {{\n"
            + (address_set("allow", self.allow) if self.allow else "")
            + "  chain forward {\n    type filter hook forward priority -5; policy accept;\n"
            + "".join(f"    {r}\n" for r in rules)
            + "  }\n}\n"
        )

    def ruleset(self, at: Attachment, table: str) -> str:
        node = at.host.name
        links = self.links(at.model, node)
        if not links:
            raise RuntimeError(f"censor {self.name} on {node}: {node} has no link this censor cuts")
        return self.table_text(table, interfaces_toward(at.host, at.model, node, links))
