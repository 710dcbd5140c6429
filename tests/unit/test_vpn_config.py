"""The VPS's configurations and the profiles it hands out (tools/circumvent/tunnel,
tools/circumvent/shadowsocks), checked with the tools themselves where they can check
without a lab: ``wg pubkey`` derives each client's public key the server lists, ``openssl
verify`` checks the OpenVPN certificates against the VPS's CA and purpose."""

from __future__ import annotations

import ipaddress
import json
import socket
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tools.circumvent.method import MethodError
from tools.circumvent.shadowsocks import server as shadowsocks
from tools.circumvent.shadowsocks.method import Shadowsocks
from tools.circumvent.tunnel import openvpn, server, wgdevice, wireguard
from tools.circumvent.tunnel.openvpn import OpenVPN
from tools.circumvent.tunnel.wireguard import WireGuard
from tools.services.base import ServiceContext
from tools.services.pki import CertificateAuthority
from topologies.circumvention import VPS_ADDRESS
from topologies.kz_isp import build
from topologies.model import Service, TopologyModel


@pytest.fixture(scope="module")
def model() -> TopologyModel:
    return build(circumvention=True)


def vps_service(model: TopologyModel, kind: str, **params: object) -> Service:
    return next(s for n, s in model.services(kind) if n == "vps" and all(s.params[k] == v for k, v in params.items()))


def context(model: TopologyModel, rundir: Path) -> ServiceContext:
    return ServiceContext(model, None, rundir, rundir / "named", CertificateAuthority.new_root())


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wireguard_server_lists_every_client_by_the_key_its_profile_holds(model: TopologyModel, tmp_path: Path) -> None:
    conf = wireguard.server_files(tmp_path, model, "vps", vps_service(model, "wireguard"), tmp_path)
    server_text, address, _ = wgdevice.split_profile(conf.read_text())
    assert address == "10.66.0.1/16" and private(conf)
    assert server_text.startswith("[Interface]\nPrivateKey = ") and "ListenPort = 51820\n" in server_text
    subnet, seen = ipaddress.IPv4Network("10.66.0.0/16"), set()
    for client in model.clients():
        path = tmp_path / "profiles" / "wireguard" / f"{client}.conf"
        assert private(path)
        setconf, tunnel_address, endpoint = wgdevice.split_profile(path.read_text())
        assert endpoint == VPS_ADDRESS and "Address" not in setconf and "Endpoint = 5.9.10.30:51820" in setconf
        interface = ipaddress.IPv4Interface(tunnel_address)
        assert interface.network == subnet and interface.ip not in seen
        seen.add(interface.ip)
        key = setconf.split("PrivateKey = ")[1].split()[0]
        public = subprocess.run(["wg", "pubkey"], input=key, capture_output=True, text=True, check=True).stdout.strip()
        assert f"PublicKey = {public}\nAllowedIPs = {interface.ip}/32\n" in server_text
    assert server_text.count("[Peer]") == len(model.clients())


def test_openvpn_certificates_verify_for_their_purpose(model: TopologyModel, tmp_path: Path) -> None:
    for proto in ("udp", "tcp"):  # both servers, one CA
        openvpn.server_files(tmp_path, model, "vps", vps_service(model, "openvpn", proto=proto), tmp_path)
    keys = tmp_path / "profiles" / "openvpn" / "pki"
    for stem, purpose, usage in [
        ("server", "sslserver", ExtendedKeyUsageOID.SERVER_AUTH),
        *((client, "sslclient", ExtendedKeyUsageOID.CLIENT_AUTH) for client in model.clients()),
    ]:
        crt = keys / f"{stem}.crt"
        checked = subprocess.run(
            ["openssl", "verify", "-CAfile", str(keys / "ca.crt"), "-purpose", purpose, str(crt)],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0 and checked.stdout.strip() == f"{crt}: OK", checked.stderr
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
        assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage([usage])
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature  # remote-cert-tls
        assert private(keys / f"{stem}.key")


@pytest.mark.parametrize(
    ("proto", "port", "mode", "network"), [("udp", 1194, "udp", "10.8.0.0"), ("tcp", 443, "tcp-server", "10.9.0.0")]
)
def test_openvpn_server_and_profile(
    model: TopologyModel, tmp_path: Path, proto: str, port: int, mode: str, network: str
) -> None:
    conf = openvpn.server_files(tmp_path, model, "vps", vps_service(model, "openvpn", proto=proto), tmp_path)
    lines = conf.read_text().splitlines()
    assert {f"proto {mode}", f"port {port}", f"local {VPS_ADDRESS}", f"server {network} 255.255.0.0"} <= set(lines)
    assert not any(line.startswith(("tls-crypt", "tls-auth")) for line in lines)  # the opening stays readable
    profile = openvpn.profile_path(tmp_path, "home1", proto)
    text = profile.read_text()
    assert private(profile) and f"remote {VPS_ADDRESS} {port}\n" in text and "remote-cert-tls server\n" in text
    own = (tmp_path / "profiles" / "openvpn" / "pki" / "home1.crt").read_text()
    assert f"<cert>\n{own}</cert>" in text


def test_vps_nat_and_starts(model: TopologyModel, tmp_path: Path) -> None:
    ctx = context(model, tmp_path)
    server.start_vpn_nat(ctx, "vps", Service("vpn_nat"))
    script = ctx.launches[-1].argv[-1]
    for subnet in ("10.66.0.0/16", "10.8.0.0/16", "10.9.0.0/16"):
        assert f"iptables -w -t nat -A POSTROUTING -s {subnet} ! -d {subnet} -j MASQUERADE" in script
    assert script.endswith("echo 1 > /proc/sys/net/ipv4/ip_forward")  # last: the readiness check reads it
    (check,) = server.start_wireguard(ctx, "vps", vps_service(model, "wireguard"))
    assert ctx.launches[-1].argv[:4] == ["unshare", "--mount", "--propagation", "private"]
    profile = tmp_path / "services" / "vps-wireguard" / "wg0.conf"
    assert ctx.launches[-1].argv[-4:] == ["--interface", "wg0", "--profile", str(profile)]
    assert check.probe == server.UdpBound(51820)


def test_shadowsocks_server_and_profile_share_the_password(model: TopologyModel, tmp_path: Path) -> None:
    ctx = context(model, tmp_path)
    shadowsocks.start(ctx, "vps", vps_service(model, "shadowsocks"))
    conf = Path(ctx.launches[-1].argv[-1])
    served, given = (
        json.loads(conf.read_text()),
        json.loads((tmp_path / "profiles" / "shadowsocks" / "client.json").read_text()),
    )
    assert served == given | {"mode": "tcp_and_udp", "timeout": 60}
    assert (
        given["method"] == "chacha20-ietf-poly1305" and given["server"] == VPS_ADDRESS and len(given["password"]) >= 32
    )
    assert private(conf) and ctx.launches[-1].argv[:2] == ["ss-server", "-c"]


def test_udp_bound_sees_a_socket_of_this_namespace() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert server.UdpBound(port)()
    assert not server.UdpBound(port)()


def test_the_wireguard_device_runs_in_a_mount_namespace_of_its_own(tmp_path: Path) -> None:
    argv = wgdevice.argv("wg0", tmp_path / "home1.conf", handshake=True)
    assert argv[:4] == ["unshare", "--mount", "--propagation", "private"] and argv[-1] == "--handshake"


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        (OpenVPN, {"proto": "sctp"}, "method 'openvpn': parameter 'proto' expects one of 'udp', 'tcp'"),
        (WireGuard, {"dns": "dns.google"}, "method 'wireguard': parameter 'dns' expects an IPv4 address"),
        (Shadowsocks, {"timeout": 0}, "method 'shadowsocks': parameter 'timeout' expects"),
    ],
)
def test_a_bad_parameter_is_one_line(method: type, params: dict, message: str) -> None:
    with pytest.raises(MethodError) as caught:
        method(**params)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "package"),
    [(WireGuard, "wireguard-go"), (OpenVPN, "openvpn"), (Shadowsocks, "shadowsocks-libev")],
)
def test_a_missing_tool_names_its_package(
    method: type, package: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert method.missing() is None  # provisioned here
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without them
    assert method.missing() == (
        f"method {method.name!r} needs {next(iter(method.needs))}, from the Debian package {package} (run: make setup)"
    )
