"""``kz_isp``: one Kazakhtelecom-like ISP (AS9198), its subscribers, and the internet.

    home1..N  --[home_lan]--+
    mob1..N   --[mob_lan]---+-- core --- gw --- border --- transit --[intl_ix]-- facebook,
    resolver, kthost -[ktdc]+            |        |          |                   google, ...
                                  (censor point)  +-[kz_ix]-- govkz, kaspi, kzmedia
                                                             +-[hetzner]-- control, abroad

``gw`` is the ISP gateway where censors and the interception device attach. Like the 2019
device, it sits between two AS9198 routers (``core`` and ``border``), a few hops before
the servers (kazakhstan.md 1.5), so the subscribers' domestic and international traffic
crosses it, and so does traffic from the ``abroad`` vantage point to servers hosted
inside Kazakhtelecom such as iqala.kz (1.4). ``border`` is a censor point too (data-plane
shutdowns, issue 5). The ISP's resolver sits in Kazakhtelecom's data centre on the
subscriber side of the gateway: subscribers reach it directly, its own recursion crosses
the gateway.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from topologies.circumvention import add_circumvention
from topologies.internet import (
    CLOUDFLARE_DNS,
    DOMESTIC,
    GOOGLE_DNS,
    INTERNATIONAL,
    KTHOSTING,
    TELEGRAM,
    TELEGRAM_ALTERNATIVE,
    TELEGRAM_DCS,
    Organisation,
)
from topologies.model import Service, TopologyError, TopologyModel

ROOT_SERVER = "198.41.0.4"  # a.root-servers.net
ISP_RESOLVER = "92.46.0.53"  # plausible Kazakhtelecom address, not verified
PORTAL = "92.46.49.80"  # qca.kz, the certificate portal; plausible address, not verified
CONTROL_HELPER = "5.9.10.10"  # the OONI-like test helper, outside the country
CONTROL_RESOLVER = "5.9.10.53"

# Names the authoritative server answers besides the web sites.
EXTRA_RECORDS = {
    "a.root-servers.net": ROOT_SERVER,
    "dns.google": GOOGLE_DNS[0],
    "one.one.one.one": CLOUDFLARE_DNS[0],
    "th.kzlab.ooni.org": CONTROL_HELPER,
    "qca.kz": PORTAL,
}


def build(
    home: int = 2, mobile: int = 2, public_dns: tuple[str, ...] = (), circumvention: bool = False
) -> TopologyModel:
    """The default ISP with ``home`` home and ``mobile`` mobile subscribers; those named in
    ``public_dns`` changed their resolver to Google's 8.8.8.8 (so their lookups cross the
    gateway and skip the ISP resolver). ``circumvention`` adds the servers of
    topologies/circumvention.py (VPNs, Tor, proxies, a CDN, encrypted DNS)."""
    if home < 1 or mobile < 1 or home + mobile > 500:
        raise TopologyError(f"kz_isp: home={home}, mobile={mobile}: needs 1..500 subscribers, at least one of each")
    m = TopologyModel("kz_isp", "A Kazakhtelecom-like ISP (AS9198) and the internet")
    for name in ("core", "border"):
        m.add_node(name, "router", asn=9198, cc="KZ")
    m.add_node("gw", "router", asn=9198, cc="KZ", censor_point=True, label="ISP gateway (DPI)")
    m.graph.nodes["border"]["censor_point"] = True
    m.add_node("transit", "router", asn=None, label="international transit")
    m.connect("core", "gw", "92.47.255.0/30")
    m.connect("gw", "border", "92.47.255.4/30")
    m.connect("border", "transit", "92.47.255.8/30")

    _subscribers(m, "home_lan", "95.56.0.0/16", "home", home)
    _subscribers(m, "mob_lan", "2.132.0.0/16", "mob", mobile)
    for name in public_dns:
        if name not in m.graph or m.role(name) != "subscriber":
            raise TopologyError(f"kz_isp: public_dns: {name!r} is not a subscriber")
        m.graph.nodes[name]["resolver"] = GOOGLE_DNS[0]

    m.add_segment("ktdc", "92.46.0.0/24", gateway="core", label="Kazakhtelecom data centre")
    m.attach("core", "ktdc", "92.46.0.1")
    m.add_node(
        "resolver",
        "server",
        asn=9198,
        cc="KZ",
        loopbacks=[ISP_RESOLVER],
        services=[Service("dns_recursive", {"label": "ISP resolver", "isp": True})],
    )
    m.attach("resolver", "ktdc", "92.46.0.10")
    add_organisation(m, KTHOSTING, "ktdc", "92.46.0.20", cc="KZ")
    m.add_node(
        "portal",
        "server",
        asn=9198,
        cc="KZ",
        loopbacks=[PORTAL],
        label="qca.kz certificate portal",
        services=[Service("install_portal")],
    )
    m.attach("portal", "ktdc", "92.46.0.30")

    m.add_segment("kz_ix", "185.1.114.0/24", gateway="border", label="domestic exchange")
    m.attach("border", "kz_ix", "185.1.114.1")
    for i, org in enumerate(DOMESTIC):
        add_organisation(m, org, "kz_ix", f"185.1.114.{10 + i}", cc="KZ")

    m.add_segment("intl_ix", "80.81.192.0/24", gateway="transit", label="international IXP")
    m.attach("transit", "intl_ix", "80.81.192.1")
    for i, org in enumerate(INTERNATIONAL):
        add_organisation(m, org, "intl_ix", f"80.81.192.{10 + i}")
    resolvers = [
        ("googledns", GOOGLE_DNS, ("8.8.8.0/24", "8.8.4.0/24"), 15169, "Google Public DNS"),
        ("cfdns", CLOUDFLARE_DNS, ("1.1.1.0/24", "1.0.0.0/24"), 13335, "Cloudflare 1.1.1.1"),
    ]
    for i, (node, addrs, prefixes, asn, label) in enumerate(resolvers):
        m.add_node(
            node,
            "server",
            asn=asn,
            loopbacks=addrs,
            prefixes=prefixes,
            services=[Service("dns_recursive", {"label": label})],
        )
        m.attach(node, "intl_ix", f"80.81.192.{50 + i}")
    add_root(m, "intl_ix", "80.81.192.53")
    add_hosting_abroad(m, "transit")
    if circumvention:
        add_circumvention(m)
    return m.validate()


def _subscribers(m: TopologyModel, segment: str, block: str, prefix: str, count: int) -> None:
    """``count`` subscribers on a new access segment behind ``core``."""
    m.add_segment(segment, block, gateway="core", label=f"{prefix} access")
    base = int(m.graph.nodes[segment]["subnet"].network_address)
    m.attach("core", segment, _ip(base + 1))
    access = "home" if prefix == "home" else "mobile"
    for i in range(1, count + 1):
        name = f"{prefix}{i}"
        m.add_node(name, "subscriber", access=access, asn=9198, cc="KZ", resolver=ISP_RESOLVER)
        m.attach(name, segment, _ip(base + 256 + i))


def add_organisation(m: TopologyModel, org: Organisation, segment: str, link_address: str, **attrs: Any) -> None:
    """A node for ``org`` on ``segment``: its site addresses on loopback, its blocks, and
    ``attrs`` (cc="KZ" for one inside the country, say)."""
    addresses = sorted({s.address for s in org.sites})
    services = [Service("web", {"sites": org.sites})] if org.sites else []
    if org is TELEGRAM:  # its data centres speak MTProto
        addresses += [*sorted(TELEGRAM_DCS.values()), TELEGRAM_ALTERNATIVE]
        services.append(Service("telegram_dc", {"dcs": TELEGRAM_DCS, "alternatives": (TELEGRAM_ALTERNATIVE,)}))
    m.add_node(
        org.node,
        "server",
        asn=org.asn,
        label=org.label,
        loopbacks=addresses,
        prefixes=org.prefixes,
        services=services,
        **attrs,
    )
    m.attach(org.node, segment, link_address)


def _ip(n: int) -> str:
    return str(ipaddress.IPv4Address(n))


def add_root(m: TopologyModel, segment: str, link_address: str) -> None:
    """a.root-servers.net, the lab's one authoritative server, on ``segment``."""
    m.add_node(
        "root",
        "server",
        loopbacks=[ROOT_SERVER],
        prefixes=["198.41.0.0/24"],
        services=[Service("dns_authoritative", {"records": EXTRA_RECORDS})],
    )
    m.attach("root", segment, link_address)


def add_hosting_abroad(m: TopologyModel, router: str) -> None:
    """Hetzner's segment behind ``router``: the control helper and its resolver, and the
    vantage point abroad."""
    m.add_segment("hetzner", "5.9.10.0/24", gateway=router, label="hosting abroad")
    m.attach(router, "hetzner", "5.9.10.1")
    m.add_node(
        "control",
        "server",
        loopbacks=[CONTROL_HELPER, CONTROL_RESOLVER],
        services=[
            Service("control_helper", {"resolver": CONTROL_RESOLVER}),
            Service("dns_recursive", {"label": "control resolver", "listen": [CONTROL_RESOLVER]}),
        ],
    )
    m.attach("control", "hetzner", "5.9.10.2")
    m.add_node("abroad", "vantage", cc="DE", asn=24940, resolver=CONTROL_RESOLVER, label="vantage point abroad")
    m.attach("abroad", "hetzner", "5.9.10.20")
