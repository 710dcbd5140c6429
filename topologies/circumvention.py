"""The servers people used to get around the blocking (kazakhstan.md section 7), added to
kz_isp by ``build(circumvention=True)``: a VPS abroad (VPNs, Shadowsocks), a Telegram
proxy, a CDN edge that holds several origins behind one address (domain fronting), a
private Tor network, and DNS over HTTPS and TLS on the public resolvers.

Each ``add_*`` places one group of servers; the services they name are started with the
lab by tools/lab/services.py, and the client side of each tool is a method in
tools/circumvent. Without the flag none of this exists, so other labs start as before.
"""

from __future__ import annotations

from topologies.model import Service, TopologyModel

HOSTING_ABROAD = "hetzner"  # the segment of kz_isp's hosting abroad (5.9.10.0/24)
EXCHANGE = "intl_ix"  # the international exchange (80.81.192.0/24)


def add_circumvention(m: TopologyModel) -> None:
    """Every circumvention server of the lab, on kz_isp's segments abroad."""
    add_vps(m)
    add_telegram_proxy(m)
    add_cdn(m)
    add_tor_network(m)
    add_encrypted_dns(m)


def add_vps(m: TopologyModel) -> None:
    """A rented server abroad at a hosting company (Hetzner's block): the VPN servers
    (WireGuard, OpenVPN) and Shadowsocks a subscriber sets up or buys."""
    m.add_node("vps", "server", asn=24940, cc="DE", label="VPS abroad (VPN, Shadowsocks)", services=[])
    m.attach("vps", HOSTING_ABROAD, "5.9.10.30")


def add_telegram_proxy(m: TopologyModel) -> None:
    """An MTProto proxy run by a volunteer on rented hosting, in front of Telegram's data
    centres."""
    m.add_node("mtproxy", "server", asn=24940, cc="DE", label="MTProto proxy", services=[])
    m.attach("mtproxy", HOSTING_ABROAD, "5.9.10.31")


def add_cdn(m: TopologyModel) -> None:
    """A CDN edge serving several customers' origins behind one address."""
    m.add_node("cdn", "server", label="CDN edge", services=[])
    m.attach("cdn", EXCHANGE, "80.81.192.60")


def add_tor_network(m: TopologyModel) -> None:
    """A private Tor network: directory authorities, relays and an exit."""
    m.add_node("tornet", "server", label="Tor relays", services=[])
    m.attach("tornet", EXCHANGE, "80.81.192.70")


def add_encrypted_dns(m: TopologyModel) -> None:
    """DNS over HTTPS and over TLS on Google's and Cloudflare's public resolvers."""


def add_service(m: TopologyModel, node: str, service: Service) -> None:
    """One more service on an existing node."""
    m.graph.nodes[node]["services"] = (*m.graph.nodes[node]["services"], service)


def publish(m: TopologyModel, records: dict[str, str]) -> None:
    """Put ``records`` (name -> address) in the lab's root zone, beside the extra records
    its authoritative server already holds."""
    node, root = next(m.services("dns_authoritative"))
    merged = Service(root.kind, {**root.params, "records": {**root.params.get("records", {}), **records}})
    m.graph.nodes[node]["services"] = tuple(merged if s is root else s for s in m.graph.nodes[node]["services"])
