"""WireGuard: the VPS's server configuration, each subscriber's profile, and the client method.

Keys are Curve25519 pairs made at run time (what ``wg genkey | wg pubkey`` makes: 32
random bytes, base64), the server's in its service directory, each client's in its
profile (wg-quick's format, with its tunnel address on an ``Address`` line; the server's
is one too), all in the run's private directory. The server knows every client's public key and gives each one
address of the tunnel's subnet, as a VPS owner sets up one peer per device.

The method runs wireguard-go in the subscriber's host (wgdevice.py), waits for the first
handshake with the VPS, and routes the whole host through the tunnel (route.py). On the
wire a client opens with a 148-byte handshake initiation (message type 1) to UDP 51820,
which is what a protocol DPI looks for (tools/dpi/vpn.py).
"""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tools.circumvent.logs import NewOutput
from tools.circumvent.method import MethodContext, MethodError
from tools.circumvent.profiles import profile_dir, server_of
from tools.circumvent.tunnel import wgdevice
from tools.circumvent.tunnel.route import TunnelMethod
from tools.services.pki import write_private
from topologies.model import Service, TopologyModel

INTERFACE = "wg0"
KEEPALIVE = 25  # seconds: what client configurations behind NAT set


def keypair() -> tuple[str, str]:
    """(private, public) key, base64, as wg writes them."""
    key = X25519PrivateKey.generate()
    return (
        base64.b64encode(key.private_bytes_raw()).decode(),
        base64.b64encode(key.public_key().public_bytes_raw()).decode(),
    )


def server_files(rundir: Path, model: TopologyModel, node: str, service: Service, workdir: Path) -> Path:
    """The server's profile in ``workdir`` (its tunnel address the subnet's first) and
    one for every client of ``model``; returns the server's."""
    subnet = ipaddress.IPv4Network(service.params["subnet"])
    port, endpoint = service.params["port"], model.primary_address(node)
    private, public = keypair()
    peers = []
    profiles = profile_dir(rundir, "wireguard")
    for i, client in enumerate(model.clients()):
        address = subnet[2 + i]
        client_private, client_public = keypair()
        peers.append(f"[Peer]\nPublicKey = {client_public}\nAllowedIPs = {address}/32\n")
        profile = (
            f"[Interface]\nPrivateKey = {client_private}\nAddress = {address}/{subnet.prefixlen}\n\n"
            f"[Peer]\nPublicKey = {public}\nEndpoint = {endpoint}:{port}\nAllowedIPs = 0.0.0.0/0\n"
            f"PersistentKeepalive = {KEEPALIVE}\n"
        )
        write_private(profiles / f"{client}.conf", profile.encode())
    conf = workdir / f"{INTERFACE}.conf"
    interface = f"[Interface]\nPrivateKey = {private}\nAddress = {subnet[1]}/{subnet.prefixlen}\nListenPort = {port}\n"
    write_private(conf, "\n".join([interface, *peers]).encode())
    return conf


class WireGuard(TunnelMethod):
    name = "wireguard"
    what = "routes the whole host through a WireGuard tunnel (wireguard-go) to a VPS abroad"
    models = "kazakhstan.md section 7: VPNs, whose use rose during the blocks"
    needs: ClassVar[dict[str, str]] = {"wireguard-go": "wireguard-go", "wg": "wireguard-tools", "unshare": "util-linux"}

    def bring_up(self, ctx: MethodContext) -> None:
        server_of(ctx.model, "wireguard", MethodError)
        path = profile_dir(ctx.rundir, "wireguard") / f"{ctx.host.name}.conf"
        if not path.exists():
            raise MethodError(f"wireguard: no profile for {ctx.host.name} (only the topology's clients have one)")
        endpoint = wgdevice.split_profile(path.read_text())[2]
        log = NewOutput(ctx.workdir / "wireguard.log")
        proc = ctx.popen(wgdevice.argv(INTERFACE, path, handshake=True), log.path.name)
        what = f"wireguard: handshake with {endpoint}"
        ctx.wait(lambda: "handshake" in log.lines(), what, self.params["timeout"], proc)
        self.route(ctx, INTERFACE, endpoint)
