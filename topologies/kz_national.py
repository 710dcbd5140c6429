"""``kz_national``: Kazakhstan's operators, their exchange, the border and the internet,
with real BGP (BIRD 2) between them; the stage of the January 2022 shutdowns.

    kt_1..N  -[kt_acc]- kt (AS9198) -[kz_dc]- resolver, gov.kz, kaspi.kz, media
    kc_1..N  -[kc_acc]- kcell (AS29355) --+
    bl_1..N  -[bl_acc]- beeline (AS21299) -+-[kz_ix]- border (AS9198) --- transit -[intl_ix]- facebook,
    t2_1..N  -[t2_acc]- tele2 (AS48503) ---+       (censor point)    (AS1299)  google, telegram, root
    ttc_1..N -[ttc_acc]- ttc (AS41798) ----+                                   -[hetzner]- control, abroad

Operators peer with each other at the domestic exchange ``kz_ix`` (eBGP, each announces
its own blocks) and buy international transit from ``border``, the country's
international gateway (Kazakhtelecom's, AS9198, iBGP with ``kt``), which announces the
country's blocks to ``transit``; domestic traffic never leaves the country. ASNs were
checked against public registrations (not in kazakhstan.md): Kazakhtelecom AS9198,
Kcell AS29355, Beeline Kazakhstan (KaR-Tel) AS21299, Tele2/Altel (Mobile Telecom-Service)
AS48503, Transtelecom AS41798. The operators' address blocks are plausible, not verified;
the transit provider (AS1299, Arelion) stands in for the several the country buys from.

Domestic services (government, Kaspi, media) and the subscribers' resolver sit in a
Kazakhtelecom data centre. The resolver holds a copy of the root zone (RFC 8806), so
names keep resolving when the border is shut: the lab assumes, as the real resolvers'
caches and the .kz servers inside the country made it, that DNS answered during the
shutdown and the cut showed at connect (kazakhstan.md section 4 says nothing of DNS).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from topologies.internet import DOMESTIC, FACEBOOK, GOOGLE, TELEGRAM
from topologies.kz_isp import ISP_RESOLVER, add_hosting_abroad, add_organisation, add_root
from topologies.model import Service, TopologyError, TopologyModel


@dataclass(frozen=True)
class Operator:
    key: str  # the router's name
    short: str  # its subscribers are <short>_1..N
    label: str
    asn: int
    access: str  # "home" (fixed line) or "mobile"
    block: str


OPERATORS = (
    Operator("kt", "kt", "Kazakhtelecom", 9198, "home", "95.56.0.0/16"),
    Operator("kcell", "kc", "Kcell", 29355, "mobile", "2.76.0.0/16"),
    Operator("beeline", "bl", "Beeline Kazakhstan (KaR-Tel)", 21299, "mobile", "37.150.0.0/16"),
    Operator("tele2", "t2", "Tele2/Altel (Mobile Telecom-Service)", 48503, "mobile", "37.99.0.0/16"),
    Operator("ttc", "ttc", "Transtelecom", 41798, "home", "82.200.0.0/16"),
)
TRANSIT_ASN = 1299
INTERNATIONAL = (FACEBOOK, GOOGLE, TELEGRAM)
MAX_SUBSCRIBERS = 250


def build(operators: int = 4, subscribers: int = 2) -> TopologyModel:
    """The first ``operators`` of OPERATORS (Kazakhtelecom first), ``subscribers`` each."""
    if not 2 <= operators <= len(OPERATORS):
        raise TopologyError(f"kz_national: operators={operators}: needs 2..{len(OPERATORS)}")
    if not 1 <= subscribers <= MAX_SUBSCRIBERS:
        raise TopologyError(f"kz_national: subscribers={subscribers}: needs 1..{MAX_SUBSCRIBERS} per operator")
    ops = OPERATORS[:operators]
    m = TopologyModel(
        "kz_national", f"{operators} Kazakh operators with BGP, their exchange, the border and the internet"
    )
    m.add_segment("kz_ix", "185.1.114.0/24", gateway="border", label="domestic exchange (peering LAN)")
    relations = {op.key: "customer" for op in ops if op.asn != 9198} | {"transit": "provider"}
    m.add_node("border", "router", asn=9198, cc="KZ", censor_point=True, label="international gateway",
               services=[Service("bgp", {"relations": relations})])  # fmt: skip
    m.attach("border", "kz_ix", "185.1.114.1")
    for i, op in enumerate(ops):
        _operator(m, op, subscribers, f"185.1.114.{10 + i}")

    m.add_segment("kz_dc", "92.46.0.0/24", gateway="kt", label="Kazakhtelecom data centre")
    m.attach("kt", "kz_dc", "92.46.0.1")
    resolver = Service("dns_recursive", {"label": "national resolver", "isp": True, "root_copy": True})
    m.add_node("resolver", "server", asn=9198, cc="KZ", operator="kt", loopbacks=[ISP_RESOLVER], services=[resolver])
    m.attach("resolver", "kz_dc", "92.46.0.10")
    for i, org in enumerate(DOMESTIC):
        add_organisation(m, org, "kz_dc", f"92.46.0.{20 + i}", cc="KZ", operator="kt")

    m.add_node("transit", "router", asn=TRANSIT_ASN, label="international transit",
               services=[Service("bgp", {"relations": {"border": "customer"}})])  # fmt: skip
    m.connect("border", "transit", "92.47.255.8/30")
    m.add_segment("intl_ix", "80.81.192.0/24", gateway="transit", label="international IXP")
    m.attach("transit", "intl_ix", "80.81.192.1")
    for i, org in enumerate(INTERNATIONAL):
        add_organisation(m, org, "intl_ix", f"80.81.192.{10 + i}")
    add_root(m, "intl_ix", "80.81.192.53")
    add_hosting_abroad(m, "transit")
    return m.validate()


def _operator(m: TopologyModel, op: Operator, count: int, ix_address: str) -> None:
    """The operator's router on the exchange, its access segment and its subscribers."""
    m.add_node(op.key, "router", asn=op.asn, cc="KZ", operator=op.key, censor_point=True, label=op.label,
               services=[Service("bgp", {"relations": {"border": "provider"} if op.asn != 9198 else {}})])  # fmt: skip
    m.attach(op.key, "kz_ix", ix_address)
    segment = f"{op.short}_acc"
    m.add_segment(segment, op.block, gateway=op.key, label=f"{op.label} {op.access} access")
    base = int(m.graph.nodes[segment]["subnet"].network_address)
    m.attach(op.key, segment, _ip(base + 1))
    for i in range(1, count + 1):
        name = f"{op.short}_{i}"
        m.add_node(name, "subscriber", access=op.access, operator=op.key, asn=op.asn, cc="KZ", resolver=ISP_RESOLVER)
        m.attach(name, segment, _ip(base + 256 + i))


def _ip(n: int) -> str:
    return str(ipaddress.IPv4Address(n))
