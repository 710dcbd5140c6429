"""The VPS's Shadowsocks server: ss-server with a modern AEAD cipher, a password made at
run time, TCP and UDP relaying; the profile a user is given (server, port, cipher,
password) in the run's private directory."""

from __future__ import annotations

import json
import secrets

from tools.circumvent.profiles import profile_dir
from tools.services.base import ServiceContext
from tools.services.pki import write_private
from tools.services.readiness import Readiness, tcp_ready
from topologies.model import Service

PROFILE = "client.json"


def start(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    address, port = str(ctx.model.primary_address(node)), service.params["port"]
    profile = {"server": address, "server_port": port, "password": secrets.token_urlsafe(24)}
    profile["method"] = service.params["method"]
    conf = ctx.workdir(node, "shadowsocks") / "server.json"
    write_private(conf, json.dumps(profile | {"mode": "tcp_and_udp", "timeout": 60}).encode())
    write_private(profile_dir(ctx.rundir, "shadowsocks") / PROFILE, json.dumps(profile).encode())
    ctx.spawn(node, "shadowsocks", ["ss-server", "-c", str(conf)])
    return [tcp_ready(node, "Shadowsocks server", address, port)]
