"""The networkx topology model: kz_isp's shape and paths, routing tables, and validation.

Nothing here builds a network; the model is pure data, so every test is a graph query.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Callable

import pytest

from topologies import kz_isp
from topologies.internet import (
    DOMESTIC,
    FACEBOOK,
    INTERNATIONAL,
    KASPI,
    KTHOSTING,
    TELEGRAM_DCS,
    all_sites,
)
from topologies.model import TopologyError, TopologyModel

IPv4 = ipaddress.IPv4Address

KASPI_ADDRESS = all_sites((KASPI,))["kaspi.kz"].address
FACEBOOK_ADDRESS = all_sites((FACEBOOK,))["facebook.com"].address
IQALA_ADDRESS = "92.46.49.10"


@pytest.fixture(scope="module")
def model() -> TopologyModel:
    return kz_isp.build()


# -- kz_isp: shape and censor points on paths ---------------------------------------------


def test_kz_isp_builds_and_validates(model: TopologyModel) -> None:
    """build() returns a validated model with the documented routers and clients."""
    assert model.validate() is model
    assert set(model.nodes("router")) == {"core", "gw", "border", "transit"}
    assert model.nodes("vantage") == ["abroad"]
    assert {n for n in model.nodes() if model.graph.nodes[n].get("censor_point")} == {"gw", "border"}


def test_iqala_is_hosted_inside_kazakhtelecom(model: TopologyModel) -> None:
    """iqala.kz's address is held by the KT hosting node on the data-centre segment."""
    assert KTHOSTING.sites[0].address == IQALA_ADDRESS
    assert model.owner(IQALA_ADDRESS) == "kthost"
    assert "ktdc" in model.graph["kthost"]


@pytest.mark.parametrize("destination", [KASPI_ADDRESS, FACEBOOK_ADDRESS])
def test_every_subscriber_crosses_the_gateway(model: TopologyModel, destination: str) -> None:
    """Domestic (kaspi.kz) and international (facebook.com) traffic of every subscriber
    crosses gw, and the path ends at the server that holds the address."""
    subscribers = model.nodes("subscriber")
    assert len(subscribers) == 4
    for sub in subscribers:
        assert "gw" in model.censor_points_on_path(sub, destination), sub
        hops = model.path(sub, destination)
        assert hops[0].node == sub
        assert hops[-1].node == model.owner(destination)
        assert hops[-1].role == "server"


def test_abroad_to_iqala_crosses_gateway_but_not_to_facebook(model: TopologyModel) -> None:
    """Inbound traffic to a server inside KT crosses gw; abroad -> facebook stays abroad."""
    assert "gw" in model.censor_points_on_path("abroad", IQALA_ADDRESS)
    assert [h.node for h in model.path("abroad", IQALA_ADDRESS)][-1] == "kthost"
    assert model.censor_points_on_path("abroad", FACEBOOK_ADDRESS) == []
    assert "gw" not in [h.node for h in model.path("abroad", FACEBOOK_ADDRESS)]


def test_isp_resolver_is_on_the_subscriber_side(model: TopologyModel) -> None:
    """Subscribers reach the ISP resolver without crossing any censor point; its own
    recursion toward the root server does cross gw."""
    for sub in model.nodes("subscriber"):
        assert model.graph.nodes[sub]["resolver"] == kz_isp.ISP_RESOLVER
        assert model.censor_points_on_path(sub, kz_isp.ISP_RESOLVER) == []
        assert model.path(sub, kz_isp.ISP_RESOLVER)[-1].node == "resolver"
    assert "gw" in model.censor_points_on_path("resolver", kz_isp.ROOT_SERVER)


def test_path_hops_are_adjacent_devices(model: TopologyModel) -> None:
    """Consecutive hops are linked directly or through one shared segment."""
    hops = [h.node for h in model.path("mob2", FACEBOOK_ADDRESS)]
    g = model.graph
    for a, b in itertools.pairwise(hops):
        shared_segment = any(model.role(s) == "segment" and b in g[s] for s in g[a])
        assert g.has_edge(a, b) or shared_segment, (a, b)


# -- owner(): longest-prefix match ----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "node"),
    [
        ("157.240.1.1", "facebook"),  # only inside the announced 157.240.0.0/16
        (FACEBOOK_ADDRESS, "facebook"),  # a site address on its loopback
        ("31.13.127.255", "facebook"),  # last address of 31.13.64.0/18
        ("92.46.0.53", "resolver"),  # a /32 loopback inside ktdc's /24: the /32 wins
        ("92.46.0.99", "ktdc"),  # the rest of the /24 is the segment's
        ("5.9.10.10", "control"),  # control helper /32 inside hetzner's /24
        ("8.8.4.4", "googledns"),
    ],
)
def test_owner_longest_prefix(model: TopologyModel, address: str, node: str) -> None:
    """owner() returns the node holding the most specific block containing the address."""
    assert model.owner(address) == node


def test_owner_of_link_addresses_is_the_end_that_holds_them(model: TopologyModel) -> None:
    """owner() is "the node that holds address": each end of a point-to-point link holds
    its own address (core-gw: core .1, gw .2), so owner() must name that end."""
    wrong = []
    for a, b, edge in model.graph.edges(data=True):
        if "segment" in (model.role(a), model.role(b)):
            continue
        for end in (a, b):
            ip = edge["addrs"][end]
            if model.owner(ip) != end:
                wrong.append(f"{ip} is {end}'s, owner() says {model.owner(ip)}")
    assert wrong == []


def test_owner_of_lan_addresses_is_the_device(model: TopologyModel) -> None:
    """A device's address on a LAN is held by the device, not by the bridge."""
    wrong = []
    for seg in model.nodes("segment"):
        for dev in model.graph[seg]:
            ip = model.graph.edges[dev, seg]["addrs"][dev]
            if model.owner(ip) != dev:
                wrong.append(f"{ip} is {dev}'s, owner() says {model.owner(ip)}")
    assert wrong == []


@pytest.mark.parametrize(
    ("src", "address", "holder"),
    [
        ("abroad", "92.47.255.2", "gw"),  # gw's end of the core-gw link
        ("home1", "5.9.10.20", "abroad"),  # abroad's address on the hetzner LAN
    ],
)
def test_path_to_an_interface_address_ends_at_its_holder(
    model: TopologyModel, src: str, address: str, holder: str
) -> None:
    """A packet to a device's interface address is delivered to that device, so the path
    ends there (as the path to the node by name does)."""
    assert [h.node for h in model.path(src, address)] == [h.node for h in model.path(src, holder)]


@pytest.mark.parametrize("address", ["10.1.2.3", "31.13.128.0", "157.241.0.1"])
def test_owner_of_unowned_address_raises(model: TopologyModel, address: str) -> None:
    """An address outside every block raises TopologyError naming it."""
    with pytest.raises(TopologyError, match=re.escape(address)):
        model.owner(address)


# -- routing tables: a hop-by-hop walk -------------------------------------------------------


def _next_device(model: TopologyModel, router: str, address: IPv4) -> str | None:
    """The device that holds ``address`` on a link or segment ``router`` is attached to."""
    g = model.graph
    for nbr in g[router]:
        if model.role(nbr) == "segment":
            for dev in g[nbr]:
                if dev != router and g.edges[dev, nbr]["addrs"][dev] == address:
                    return dev
        elif g.edges[router, nbr]["addrs"][nbr] == address:
            return nbr
    return None


def _lookup(table: list[tuple[ipaddress.IPv4Network, IPv4]], ip: IPv4) -> IPv4 | None:
    matches = [(net.prefixlen, hop) for net, hop in table if ip in net]
    return max(matches, key=lambda m: m[0])[1] if matches else None


def _walk(model: TopologyModel, tables: dict, start: str, ip: IPv4) -> list[str]:
    """Follow next hops from ``start`` until a device holds ``ip`` on its loopback."""
    node, visited = start, [start]
    while ip not in model.graph.nodes[node].get("loopbacks", ()):
        assert model.role(node) == "router", f"{visited}: {node} does not forward"
        hop = _lookup(tables[node], ip)
        assert hop is not None, f"{node} has no route to {ip}"
        nxt = _next_device(model, node, hop)
        assert nxt is not None, f"{node}: next hop {hop} is not on a directly attached link"
        assert nxt not in visited, f"routing loop toward {ip}: {[*visited, nxt]}"
        visited.append(nxt)
        node = nxt
    return visited


def test_routing_tables_reach_every_server_loopback(model: TopologyModel) -> None:
    """From every router, the next hops toward every server loopback reach its owner
    without loops, over the same devices path() reports."""
    tables = model.routing_tables()
    assert set(tables) == set(model.nodes("router"))
    walked: set[IPv4] = set()
    for server in model.nodes("server"):
        for ip in model.graph.nodes[server]["loopbacks"]:
            for router in tables:
                hops = _walk(model, tables, router, ip)
                assert hops[-1] == server
                assert hops == [h.node for h in model.path(router, ip)]
            walked.add(ip)
    sites = all_sites((*INTERNATIONAL, *DOMESTIC, KTHOSTING)).values()
    assert {IPv4(s.address) for s in sites} | {IPv4(a) for a in TELEGRAM_DCS.values()} <= walked


def test_routing_tables_skip_directly_attached_blocks(model: TopologyModel) -> None:
    """A router has no route for a segment it is on or a link it ends, but does for others."""
    tables = model.routing_tables()
    core = {net for net, _ in tables["core"]}
    assert ipaddress.IPv4Network("95.56.0.0/16") not in core  # home_lan, attached
    assert ipaddress.IPv4Network("92.47.255.0/30") not in core  # core-gw link
    assert ipaddress.IPv4Network("92.47.255.8/30") in core  # border-transit link
    assert ipaddress.IPv4Network("157.240.0.0/16") in core


# -- build parameters -------------------------------------------------------------------


@pytest.mark.parametrize(("home", "mobile"), [(1, 1), (3, 5), (7, 2)])
def test_build_subscriber_counts(home: int, mobile: int) -> None:
    """build(home=N, mobile=M) gives N home and M mobile subscribers, each on its LAN."""
    m = kz_isp.build(home=home, mobile=mobile)
    subs = m.nodes("subscriber")
    assert len(subs) == home + mobile
    homes = [s for s in subs if m.graph.nodes[s]["access"] == "home"]
    mobiles = [s for s in subs if m.graph.nodes[s]["access"] == "mobile"]
    assert homes == [f"home{i}" for i in range(1, home + 1)]
    assert mobiles == [f"mob{i}" for i in range(1, mobile + 1)]
    for s in homes:
        assert list(m.graph[s]) == ["home_lan"]
        assert m.default_gateway(s) == IPv4("95.56.0.1")
    for s in mobiles:
        assert list(m.graph[s]) == ["mob_lan"]
        assert m.default_gateway(s) == IPv4("2.132.0.1")


@pytest.mark.parametrize(("home", "mobile"), [(0, 2), (2, 0), (250, 251)])
def test_build_rejects_bad_counts(home: int, mobile: int) -> None:
    """Zero of either kind, or more than 500 subscribers, is a TopologyError."""
    with pytest.raises(TopologyError, match=f"home={home}, mobile={mobile}"):
        kz_isp.build(home=home, mobile=mobile)


def test_every_site_has_a_server_loopback(model: TopologyModel) -> None:
    """Each site of the simulated internet is served at an address its organisation holds."""
    for org in (*INTERNATIONAL, *DOMESTIC, KTHOSTING):
        for site in org.sites:
            assert model.owner(site.address) == org.node, site.domain
            assert IPv4(site.address) in model.graph.nodes[org.node]["loopbacks"]


# -- validation errors ------------------------------------------------------------------


def tiny() -> TopologyModel:
    """A minimal valid topology: a router, a LAN with one subscriber, one server."""
    m = TopologyModel("tiny")
    m.add_node("r1", "router")
    m.add_segment("lan", "10.0.0.0/24", gateway="r1")
    m.attach("r1", "lan", "10.0.0.1")
    m.add_node("h1", "subscriber")
    m.attach("h1", "lan", "10.0.0.10")
    m.add_segment("dc", "10.2.0.0/24", gateway="r1")
    m.attach("r1", "dc", "10.2.0.1")
    m.add_node("srv", "server", loopbacks=["192.0.2.1"], prefixes=["198.51.100.0/24"])
    m.attach("srv", "dc", "10.2.0.10")
    return m


def test_tiny_is_valid() -> None:
    """The base of the error cases below is itself valid (so each error is the mutation's)."""
    m = tiny().validate()
    assert [h.node for h in m.path("h1", "198.51.100.7")] == ["h1", "r1", "srv"]
    assert m.default_gateway("srv") == IPv4("10.2.0.1")


def test_connect_gives_the_ends_the_first_two_hosts() -> None:
    """A point-to-point link: the first node named gets the first host address."""
    m = tiny()
    m.add_node("r2", "router")
    m.connect("r1", "r2", "10.9.0.0/30")
    assert m.graph.edges["r1", "r2"]["addrs"] == {"r1": IPv4("10.9.0.1"), "r2": IPv4("10.9.0.2")}
    m.add_node("r3", "router")
    m.connect("r3", "r2", "10.9.1.0/31")  # RFC 3021: both addresses of a /31 are usable
    assert m.graph.edges["r2", "r3"]["addrs"] == {"r3": IPv4("10.9.1.0"), "r2": IPv4("10.9.1.1")}
    m.validate()


def _second_lan(m: TopologyModel, gateway: str = "r1") -> None:
    m.add_segment("lan2", "10.0.1.0/24", gateway=gateway)
    m.attach("r1", "lan2", "10.0.1.1")


def _two_owners(m: TopologyModel) -> None:
    m.add_node("srv2", "server", prefixes=["198.51.100.0/24"])
    m.connect("r1", "srv2", "10.9.0.4/30")


def _split(m: TopologyModel) -> None:
    m.add_node("r2", "router")
    m.add_segment("far", "10.7.0.0/24", gateway="r2")
    m.attach("r2", "far", "10.7.0.1")


def _gateway_not_router(m: TopologyModel) -> None:
    m.add_segment("lan2", "10.0.1.0/24", gateway="h2")
    m.attach("r1", "lan2", "10.0.1.1")
    m.add_node("h2", "subscriber")
    m.attach("h2", "lan2", "10.0.1.10")


def _gateway_not_on_segment(m: TopologyModel) -> None:
    m.add_node("r2", "router")
    m.connect("r1", "r2", "10.9.0.8/30")
    m.add_segment("lan2", "10.0.1.0/24", gateway="r2")
    m.attach("r1", "lan2", "10.0.1.1")


def _host_two_links(m: TopologyModel) -> None:
    _second_lan(m)
    m.attach("h1", "lan2", "10.0.1.10")


def _segments_linked(m: TopologyModel) -> None:
    _second_lan(m)
    m.connect("lan", "lan2", "10.8.0.0/30")


def _add(*args: object, **kw: object) -> Callable[[TopologyModel], None]:
    return lambda m: m.add_node(*args, **kw)


ERRORS: list[tuple[str, Callable[[TopologyModel], None], str]] = [
    ("unknown role", _add("x1", "switch"), "node 'x1': unknown role 'switch'"),
    ("segment via add_node", _add("x1", "segment"), "node 'x1': use add_segment"),
    ("name with a dash", _add("bad-name", "router"), "node 'bad-name': names are letters"),
    ("name from a digit", _add("1r", "router"), "node '1r': names are letters"),
    ("empty name", _add("", "router"), "node '': names are letters"),
    ("name of 11 characters", _add("abcdefghijk", "router"), "node 'abcdefghijk': longer than 10"),
    ("node defined twice", _add("h1", "subscriber"), "node 'h1': defined twice"),
    (
        "segment defined over a node",
        lambda m: m.add_segment("r1", "10.5.0.0/24", gateway="r1"),
        "node 'r1': defined twice",
    ),
    (
        "address outside the segment",
        lambda m: (m.add_node("h2", "subscriber"), m.attach("h2", "lan", "10.0.1.5")),
        "node 'h2': address 10.0.1.5 is outside lan's 10.0.0.0/24",
    ),
    (
        "same address on two nodes",
        lambda m: (m.add_node("h2", "subscriber"), m.attach("h2", "lan", "10.0.0.10")),
        "address 10.0.0.10 is used by both 'h1' and 'h2'",
    ),
    (
        "loopback equal to another node's link address",
        lambda m: (
            m.add_node("srv2", "server", loopbacks=["10.0.0.10"]),
            m.connect("r1", "srv2", "10.9.0.4/30"),
        ),
        "address 10.0.0.10 is used by both",
    ),
    ("same block held by two owners", _two_owners, "block 198.51.100.0/24 is held by both 'srv' and 'srv2'"),
    ("split topology", _split, "topology 'tiny' is split; parts start at ['dc', 'far']"),
    ("gateway is a host", _gateway_not_router, "segment 'lan2': gateway 'h2' is not a router on it"),
    ("gateway not on the segment", _gateway_not_on_segment, "segment 'lan2': gateway 'r2' is not a router"),
    ("unknown gateway", lambda m: _second_lan(m, "ghost"), "segment 'lan2': gateway 'ghost' is not"),
    ("host with two links", _host_two_links, "node 'h1': a subscriber has exactly one link"),
    ("node without links", _add("lonely", "server"), "node 'lonely' has no links"),
    ("link to unknown node", lambda m: m.connect("r1", "ghost", "10.9.0.4/30"), "unknown node 'ghost'"),
    ("attach unknown node", lambda m: m.attach("ghost", "lan", "10.0.0.20"), "unknown node 'ghost'"),
    ("attach to unknown segment", lambda m: m.attach("h1", "nolan", "10.0.0.20"), "unknown node 'nolan'"),
    ("two segments linked", _segments_linked, "two segments cannot be linked directly"),
    (
        "non-IPv4 link address",
        lambda m: (m.add_node("h2", "subscriber"), m.attach("h2", "lan", "10.0.0.300")),
        "node 'h2': '10.0.0.300' is not an IPv4 address",
    ),
    ("IPv6 loopback", _add("srv2", "server", loopbacks=["2001:db8::1"]), "'2001:db8::1' is not an IPv4"),
    ("bad prefix", _add("srv2", "server", prefixes=["198.51.100.1/24"]), "'198.51.100.1/24' is not an IPv4"),
    (
        "bad segment subnet",
        lambda m: m.add_segment("lan2", "10.0.1.0/33", gateway="r1"),
        "'lan2': '10.0.1.0/33' is not an IPv4 network",
    ),
    ("link too small", lambda m: m.connect("r1", "srv", "10.9.0.9/32"), "link r1-srv: 10.9.0.9/32 has room"),
]


@pytest.mark.parametrize(("mutate", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_validation_errors_name_the_culprit(mutate: Callable[[TopologyModel], None], message: str) -> None:
    """Each fault raises TopologyError (at construction or in validate()) naming the culprit."""
    m = tiny()
    with pytest.raises(TopologyError, match=re.escape(message)):
        mutate(m)
        m.validate()


def test_two_segments_linked_names_the_link() -> None:
    """The segment-to-segment error names both segments of the link."""
    m = tiny()
    _segments_linked(m)
    with pytest.raises(TopologyError, match=r"link (lan-lan2|lan2-lan):"):
        m.validate()


def test_name_of_ten_characters_is_allowed() -> None:
    """The length limit is inclusive: exactly MAX_NODE_NAME characters is fine."""
    m = tiny()
    m.add_node("abcdefghij", "subscriber")
    m.attach("abcdefghij", "lan", "10.0.0.11")
    m.validate()


def test_empty_topology_is_rejected() -> None:
    with pytest.raises(TopologyError, match="topology 'void' has no nodes"):
        TopologyModel("void").validate()


def test_unknown_topology_in_registry() -> None:
    """The registry names the unknown topology and the known ones."""
    from topologies import registry

    with pytest.raises(TopologyError, match="unknown topology 'nope' \\(known: kz_isp, kz_national\\)"):
        registry.build("nope")
    assert registry.build("kz_isp", home=1, mobile=1).nodes("subscriber") == ["home1", "mob1"]
