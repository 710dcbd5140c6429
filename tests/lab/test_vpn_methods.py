"""WireGuard, OpenVPN (UDP and TCP) and Shadowsocks in a live lab (tools/circumvent/tunnel,
tools/circumvent/shadowsocks): with Facebook blocked at the ISP gateway by SNI resets and
DNS injection, a subscriber gets https://facebook.com/ through each, and not without;
switching a method off leaves the host as it was; the VPN-protocol DPI stops the three
VPNs but not Shadowsocks; and a tunnel that cannot come up is one error line with nothing
of it left in the host.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tools.lab.session import LabSession, LabSessionError
from topologies.circumvention import VPS_ADDRESS

CLIENT = "home1"
FETCH = "curl -sS -m 8 --connect-timeout 3 -o /dev/null -w '%{http_code}' https://facebook.com/"
FACEBOOK = "157.240.241.35"  # facebook.com's address in the lab (as in the real world)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "wireguard": ("wireguard", {}),
    "openvpn-udp": ("openvpn", {"proto": "udp"}),
    "openvpn-tcp": ("openvpn", {"proto": "tcp"}),
    "shadowsocks": ("shadowsocks", {}),
}
VPNS = ("wireguard", "openvpn-udp", "openvpn-tcp")
# What each method's failure says: the method, what it waited for, and the deadline.
WAITED = {
    "wireguard": rf"wireguard: handshake with {VPS_ADDRESS}",
    "openvpn-udp": rf"openvpn: tunnel to {VPS_ADDRESS}:1194/udp",
    "openvpn-tcp": rf"openvpn: tunnel to {VPS_ADDRESS}:443/tcp",
    "shadowsocks": rf"shadowsocks: lookups through {VPS_ADDRESS}:8388",
}
# the methods' processes, as patterns that do not match pgrep's own command line
PROCESSES = "[w]ireguard-go|[o]penvpn|[s]s-redir|[s]s-tunnel|tools[.]circumvent[.]tunnel"
BLOCKED = ("curl exit 28", "curl exit 35")  # the injected address leads nowhere; the SNI reset


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession(circumvention=True) as session:
        session.attach("sni", "ResetTrafficForTLSSNI", "gw", domains=["facebook.com"])
        session.attach("dns", "SpoofDNSResponse", "gw", domains=["facebook.com"])
        yield session


def fetch(lab: LabSession) -> str:
    r = lab.run(CLIENT, FETCH)
    return r.out.strip() if r.rc == 0 else f"curl exit {r.rc}"


def host_state(lab: LabSession) -> str:
    """What a method may change in the host: its processes, routes, links, nat rules, resolver."""
    commands = [
        f"pgrep -a --ns $$ --nslist net -f '{PROCESSES}'",
        "ip route",
        "ip -br link",
        "iptables -w -t nat -S",
        "cat /etc/resolv.conf",
    ]
    return lab.run(CLIENT, "; ".join(commands)).out


@pytest.fixture(scope="module")
def before(lab: LabSession) -> str:
    return host_state(lab)


def test_without_a_method_facebook_is_blocked(lab: LabSession, before: str) -> None:
    assert fetch(lab) in BLOCKED
    assert lab.run(CLIENT, f"curl -sS -m 5 --resolve facebook.com:443:{FACEBOOK} https://facebook.com/").rc == 35


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_gets_the_page_and_leaves_the_host_as_it_was(lab: LabSession, before: str, method: str) -> None:
    name, params = METHODS[method]
    lab.circumvent(method, name, CLIENT, **params)
    try:
        assert fetch(lab) == "200"
        assert lab.run(CLIENT, "dig +short facebook.com").out.split() == [FACEBOOK]  # not the injected answer
    finally:
        lab.uncircumvent(method)
    assert host_state(lab) == before


def test_the_vpn_dpi_stops_the_vpns_and_not_shadowsocks(lab: LabSession, before: str) -> None:
    lab.attach("vpn", "BlockTrafficForVPNProtocols", "gw")
    try:
        for method in VPNS:
            name, params = METHODS[method]
            with pytest.raises(LabSessionError, match=rf"^MethodError: {WAITED[method]}: not after 2 s$"):
                lab.circumvent(method, name, CLIENT, **params, timeout=2)
            assert host_state(lab) == before, method
        lab.circumvent("ss", "shadowsocks", CLIENT)
        try:
            assert fetch(lab) == "200"
        finally:
            lab.uncircumvent("ss")
    finally:
        lab.detach("vpn")


def test_a_blocked_vps_is_one_line_and_leaves_nothing(lab: LabSession, before: str) -> None:
    lab.attach("vps", "DropTrafficForServerEndpoint", "gw", prefixes=[f"{VPS_ADDRESS}/32"], protocol="all")
    try:
        for method in ("shadowsocks", "openvpn-tcp"):
            name, params = METHODS[method]
            with pytest.raises(LabSessionError, match=rf"^MethodError: {WAITED[method]}: not after 2 s$"):
                lab.circumvent(method, name, CLIENT, **params, timeout=2)
            assert host_state(lab) == before, method
    finally:
        lab.detach("vps")
    assert fetch(lab) in BLOCKED  # and the block is as it was
