"""OpenVPN: the VPS's certificate authority and server configurations, each subscriber's
``.ovpn`` profile, and the client method (UDP 1194, or TCP 443 where UDP is blocked).

A certificate authority of the VPS's own, made at run time (EC P-256, as easy-rsa offers),
issues the server's certificate (serverAuth, checked by the clients' ``remote-cert-tls
server``) and one per client device (clientAuth), each profile holding its CA, certificate
and key inline as the .ovpn files VPN providers hand out. Key exchange is ECDHE
(``dh none``); the data channel is OpenVPN 2.6's default AEAD.

No ``tls-crypt`` or ``tls-auth`` here, so the control channel's packets are plain and a
DPI can read the whole opening (tools/dpi/vpn.py). Real deployments mostly add one of
them (providers' profiles ship a ``tls-crypt`` or ``tls-auth`` key; Debian's sample
server.conf uses ``tls-auth``): that authenticates or encrypts the control channel, but
the first byte (opcode and key id) and the session id stay in the clear and the packet
lengths of the opening are as distinctive, which is what opcode-based fingerprinting
reads.

The method starts openvpn with the subscriber's profile, waits for "Initialization
Sequence Completed" in its log, and routes the whole host through the tunnel (route.py):
openvpn sets the tunnel's address, its routes are left to the method (``route-noexec``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from tools.basics.params import Field, choice
from tools.circumvent.logs import NewOutput
from tools.circumvent.method import MethodContext, MethodError
from tools.circumvent.profiles import profile_dir, server_of
from tools.circumvent.tunnel.route import TunnelMethod
from tools.services.pki import CertificateAuthority, key_pem, pem, write_private
from topologies.model import Service, TopologyModel

DEVICE = "tun0"  # the client's tunnel device
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kzlab VPS OpenVPN CA")])
SERVER_NAME = "vps-openvpn-server"
READY = "Initialization Sequence Completed"


def issue(ca: CertificateAuthority, name: str, usage: ObjectIdentifier) -> tuple[bytes, bytes]:
    """(certificate, key) PEM for ``name`` with key usage and the extended ``usage``
    (serverAuth or clientAuth), as easy-rsa issues them."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True
        )  # digitalSignature, keyAgreement
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return pem(cert), key_pem(key)


def pki(rundir: Path, model: TopologyModel) -> Path:
    """The VPS's CA, its server certificate and every client's, once per run (both
    OpenVPN servers use them): the directory holding ca.crt, server.crt, server.key and
    a ``<client>.crt``/``.key`` pair per client of ``model``."""
    where = profile_dir(rundir, "openvpn") / "pki"
    if (where / "ca.crt").exists():
        return where
    where.mkdir(mode=0o700)
    ca = CertificateAuthority.new_root(CA_NAME, years=10)
    for stem, name, usage in [
        ("server", SERVER_NAME, ExtendedKeyUsageOID.SERVER_AUTH),
        *((client, client, ExtendedKeyUsageOID.CLIENT_AUTH) for client in model.clients()),
    ]:
        cert, key = issue(ca, name, usage)
        (where / f"{stem}.crt").write_bytes(cert)
        write_private(where / f"{stem}.key", key)
    (where / "ca.crt").write_bytes(pem(ca.cert))  # last: its presence says the rest is there
    return where


def server_files(rundir: Path, model: TopologyModel, node: str, service: Service, workdir: Path) -> Path:
    """The server configuration for ``service`` (proto udp or tcp, port, subnet) in
    ``workdir``, and every client's profile for it; returns the configuration's path."""
    proto, port = service.params["proto"], service.params["port"]
    subnet = ipaddress.IPv4Network(service.params["subnet"])
    address = model.primary_address(node)
    keys = pki(rundir, model)
    lines = [
        f"dev ovpn-{proto}",
        "dev-type tun",
        f"proto {'udp' if proto == 'udp' else 'tcp-server'}",
        f"local {address}",
        f"port {port}",
        f"server {subnet.network_address} {subnet.netmask}",
        "topology subnet",
        f"ca {keys / 'ca.crt'}",
        f"cert {keys / 'server.crt'}",
        f"key {keys / 'server.key'}",
        "dh none",
        "disable-dco",
        "keepalive 10 60",
        "verb 3",
        *(["explicit-exit-notify 1"] if proto == "udp" else []),
    ]
    conf = workdir / f"server-{proto}.conf"
    conf.write_text("\n".join(lines) + "\n")
    ca = (keys / "ca.crt").read_text()
    for client in model.clients():
        profile = [
            "client",
            "dev tun",
            f"proto {'udp' if proto == 'udp' else 'tcp-client'}",
            f"remote {address} {port}",
            "nobind",
            "remote-cert-tls server",
            f"verify-x509-name {SERVER_NAME} name",
            "verb 3",
            f"<ca>\n{ca}</ca>",
            f"<cert>\n{(keys / f'{client}.crt').read_text()}</cert>",
            f"<key>\n{(keys / f'{client}.key').read_text()}</key>",
        ]
        write_private(profile_path(rundir, client, proto), ("\n".join(profile) + "\n").encode())
    return conf


def profile_path(rundir: Path, client: str, proto: str) -> Path:
    return profile_dir(rundir, "openvpn") / f"{client}-{proto}.ovpn"


class OpenVPN(TunnelMethod):
    name = "openvpn"
    what = "routes the whole host through an OpenVPN tunnel (UDP 1194, or TCP 443) to a VPS abroad"
    models = "kazakhstan.md section 7: VPNs, whose use rose during the blocks"
    needs: ClassVar[dict[str, str]] = {"openvpn": "openvpn"}
    fields: ClassVar[dict[str, Field]] = TunnelMethod.fields | {
        "proto": Field(choice("udp", "tcp"), "the tunnel's transport: UDP 1194, or TCP 443", "udp"),
    }

    def bring_up(self, ctx: MethodContext) -> None:
        proto = self.params["proto"]
        node, service = server_of(ctx.model, "openvpn", MethodError, proto=proto)
        profile = profile_path(ctx.rundir, ctx.host.name, proto)
        if not profile.exists():
            raise MethodError(f"openvpn: no profile for {ctx.host.name} (only the topology's clients have one)")
        argv = ["openvpn", "--config", str(profile), "--dev", DEVICE, "--route-noexec", "--disable-dco"]
        log = NewOutput(ctx.workdir / "openvpn.log")
        proc = ctx.popen(argv, log.path.name)
        server = str(ctx.model.primary_address(node))
        what = f"openvpn: tunnel to {server}:{service.params['port']}/{proto}"
        ctx.wait(lambda: READY in log.text(), what, self.params["timeout"], proc)
        self.route(ctx, DEVICE, server)
