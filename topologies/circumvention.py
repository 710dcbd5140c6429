"""The servers people used to get around the blocking (kazakhstan.md section 7), added to
kz_isp by ``build(circumvention=True)``: a VPS abroad (VPNs, Shadowsocks), a Telegram
proxy, a CDN edge that holds several origins behind one address (domain fronting), a
private Tor network, and DNS over HTTPS and TLS on the public resolvers.

Each ``add_*`` places one group of servers; the services they name are started with the
lab by tools/lab/services.py, and the client side of each tool is a method in
tools/circumvent. Without the flag none of this exists, so other labs start as before.
"""

from __future__ import annotations

from dataclasses import replace

from topologies.internet import DOMESTIC, FACEBOOK, RFERL, TELEGRAM_DCS, Site, all_sites
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


# The VPS's tunnels: each on its tool's usual port (OpenVPN's TCP server on 443, where
# it passes for HTTPS to a port filter), with a private subnet of the tunnels' addresses
# (OpenVPN's sample configuration uses 10.8.0.0/24; /16s here for up to 500 subscribers).
# tools/circumvent/tunnel and shadowsocks serve them; the VPS NATs the subnets.
VPS_ADDRESS = "5.9.10.30"  # in Hetzner's 5.9.0.0/16 (AS24940): plausible, not verified
WIREGUARD = {"port": 51820, "subnet": "10.66.0.0/16"}
OPENVPN = (
    {"proto": "udp", "port": 1194, "subnet": "10.8.0.0/16"},
    {"proto": "tcp", "port": 443, "subnet": "10.9.0.0/16"},
)
SHADOWSOCKS = {"port": 8388, "method": "chacha20-ietf-poly1305"}


def add_vps(m: TopologyModel) -> None:
    """A rented server abroad at a hosting company (Hetzner's block): the VPN servers
    (WireGuard, OpenVPN over UDP and over TCP) and Shadowsocks a subscriber sets up or
    buys, forwarding and NAT for the tunnels."""
    services = [
        Service("vpn_nat"),
        Service("wireguard", WIREGUARD),
        *(Service("openvpn", params) for params in OPENVPN),
        Service("shadowsocks", SHADOWSOCKS),
    ]
    # its own lookups (a Shadowsocks client's names, with remote DNS) go to a public resolver
    m.add_node(
        "vps",
        "server",
        asn=24940,
        cc="DE",
        label="VPS abroad (VPN, Shadowsocks)",
        services=services,
        resolver="1.1.1.1",
    )
    m.attach("vps", HOSTING_ABROAD, VPS_ADDRESS)


# The MTProto proxy's fake-TLS name: kaspi.kz, the domestic bank whose app most of the
# country uses. No censor of the lab lists it, nor did the 2019 device (kazakhstan.md 1.3),
# and blocking it would cut the country off its own payments; even the January 2022
# allowlist kept domestic services. The proxy hands non-clients to kaspi.kz's real server.
MTPROXY_DOMAIN = "kaspi.kz"


def add_telegram_proxy(m: TopologyModel) -> None:
    """An MTProto proxy with a fake-TLS secret, run by a volunteer on rented hosting (an
    address in Hetzner's block, plausible, not verified), in front of Telegram's data
    centres (tools/circumvent/mtproxy)."""
    mask = all_sites(DOMESTIC)[MTPROXY_DOMAIN].address
    proxy = Service("mtproxy", {"domain": MTPROXY_DOMAIN, "mask": mask, "dcs": TELEGRAM_DCS})
    m.add_node("mtproxy", "server", asn=24940, cc="DE", label="MTProto proxy", services=[proxy])
    m.attach("mtproxy", HOSTING_ABROAD, "5.9.10.31")


# The CDN edge: one address in Fastly's announced block (AS54113), whose edges routed a
# request by its Host header whatever its TLS name, so domain fronting worked through them
# until 2024 (Snowflake reached its broker behind the front cdn.sstatic.net). The address
# is plausible, not verified; pypi.org and cdn.sstatic.net are real Fastly customers. The
# blocked customers are the lab's assumption: blocked sites whose pages a CDN that also
# serves allowed names delivers.
CDN_PREFIX = "151.101.0.0/16"
CDN_ADDRESS = "151.101.0.223"
CDN_FRONTS = (
    Site("pypi.org", CDN_ADDRESS, ("pypi.org", "pypi.org", "*.pypi.org", "www.pypi.org")),
    Site("cdn.sstatic.net", CDN_ADDRESS, ("*.sstatic.net", "*.sstatic.net", "sstatic.net"), hsts=False),
)
CDN_CUSTOMERS = ("facebook.com", "www.facebook.com", "instagram.com", "rus.azattyq.org")  # blocked names it serves


def add_cdn(m: TopologyModel) -> None:
    """A CDN edge serving several customers' sites behind one address: allowed ones (the
    fronts, in the root zone at the edge's address) and blocked ones (whose names resolve to
    their own servers; the edge serves the same page they do, as a CDN's copy), chosen by
    the request's Host header (tools/circumvent/fronting)."""
    sites = all_sites((FACEBOOK, RFERL))
    customers = tuple(replace(sites[name], address=CDN_ADDRESS) for name in CDN_CUSTOMERS)
    edge = Service("cdn_edge", {"fronts": CDN_FRONTS, "customers": customers})
    m.add_node(
        "cdn", "server", asn=54113, label="CDN edge", loopbacks=[CDN_ADDRESS], prefixes=[CDN_PREFIX], services=[edge]
    )
    m.attach("cdn", EXCHANGE, "80.81.192.60")
    publish(m, {site.domain: site.address for site in CDN_FRONTS})


# The private Tor network's relays, each on its own address in 185.220.101.0/24, a block
# where many real Tor relays are (plausible, not verified): three directory authorities,
# two guard or middle relays and an exit (tools/circumvent/tor). The exit resolves names
# for its clients with Google's public resolver.
TOR_RELAYS = (
    ("auth1", "authority", "185.220.101.1"),
    ("auth2", "authority", "185.220.101.2"),
    ("auth3", "authority", "185.220.101.3"),
    ("relay1", "relay", "185.220.101.4"),
    ("relay2", "relay", "185.220.101.5"),
    ("exit1", "exit", "185.220.101.6"),
)
# The obfs4 bridge: a volunteer's rented server at a hosting company, an address no
# consensus lists and outside the relays' block, so blocking the relays' addresses
# leaves it reachable.
TOR_BRIDGE = ("5.9.10.40", 443)


def add_tor_network(m: TopologyModel) -> None:
    """A private Tor network: directory authorities, relays and an exit on ``tornet``,
    and an unlisted obfs4 bridge on ``torbridge`` at the hosting company abroad."""
    ports = {"orport": 9001, "dirport": 9030}  # the ports most relays use (tor's sample torrc)
    network = Service("tor_network", {"relays": TOR_RELAYS, **ports, "resolver": "8.8.8.8"})
    addresses = [address for _, _, address in TOR_RELAYS]
    m.add_node("tornet", "server", label="Tor relays", loopbacks=addresses, services=[network])
    m.attach("tornet", EXCHANGE, "80.81.192.70")
    bridge = Service("tor_bridge", {"address": TOR_BRIDGE[0], "port": TOR_BRIDGE[1]})
    m.add_node("torbridge", "server", asn=24940, cc="DE", label="Tor obfs4 bridge (unlisted)", services=[bridge])
    m.attach("torbridge", HOSTING_ABROAD, TOR_BRIDGE[0])


# resolver -> (its node, the name its clients check the certificate for, the certificate's
# names: CN, then SANs, as the real ones carry them, IP entries left out).
ENCRYPTED_DNS = {
    "google": (
        "googledns",
        "dns.google",
        ("dns.google", "dns.google", "dns.google.com", "*.dns.google.com", "8888.google", "dns64.dns.google"),
    ),
    "cloudflare": (
        "cfdns",
        "one.one.one.one",
        ("cloudflare-dns.com", "cloudflare-dns.com", "*.cloudflare-dns.com", "one.one.one.one"),
    ),
}


def add_encrypted_dns(m: TopologyModel) -> None:
    """DNS over HTTPS and over TLS on Google's and Cloudflare's public resolvers: the
    nodes' own recursive BIND answers both (tools/services/dns.py, ``tls_names``). Their
    names (dns.google, one.one.one.one) are in the root zone already, at their real addresses."""
    for node, _, names in ENCRYPTED_DNS.values():
        services = m.graph.nodes[node]["services"]
        m.graph.nodes[node]["services"] = tuple(
            Service(s.kind, {**s.params, "tls_names": names}) if s.kind == "dns_recursive" else s for s in services
        )


def add_service(m: TopologyModel, node: str, service: Service) -> None:
    """One more service on an existing node."""
    m.graph.nodes[node]["services"] = (*m.graph.nodes[node]["services"], service)


def publish(m: TopologyModel, records: dict[str, str]) -> None:
    """Put ``records`` (name -> address) in the lab's root zone, beside the extra records
    its authoritative server already holds."""
    node, root = next(m.services("dns_authoritative"))
    merged = Service(root.kind, {**root.params, "records": {**root.params.get("records", {}), **records}})
    m.graph.nodes[node]["services"] = tuple(merged if s is root else s for s in m.graph.nodes[node]["services"])
