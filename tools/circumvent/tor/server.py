"""Starting the lab's Tor network with the lab: the relays on ``tornet`` (service kind
``tor_network``) and the unlisted obfs4 bridge (``tor_bridge``), registered in
tools/lab/services.py.

Each relay is a real ``tor`` with its own torrc (torrc.py) and its own address; the
authorities' keys are made in the run's private directory first (keys.py), and every
other tor makes its own when it starts. The tors
start as soon as their node exists (``early``): each spends its first second or more
making its link and onion keys, which overlaps the network's configuration, and they
bind their addresses before the node holds them. The network counts as up once every
authority serves a consensus that lists every relay as Running: then a client can
bootstrap at once. The bridge counts as up once obfs4proxy listens, has written its
bridge line (its public key, ``cert=``, which the clients read from there) and the
bridge holds the consensus its clients will ask it for.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from tools.circumvent.tor import network, torrc
from tools.dpi import tor_consensus
from tools.services.base import ServiceContext
from tools.services.readiness import ATTEMPT, Readiness, TcpOpen
from topologies.model import Service

BRIDGE_NICKNAME = "bridge"
OBFS4PROXY = "/usr/bin/obfs4proxy"
MAX_CONSENSUS = 1 << 20  # bytes: the lab's consensus is a few kilobytes


def tor_argv(path: Path) -> list[str]:
    """tor with only ``path`` as its configuration (no machine-wide defaults)."""
    return ["tor", "--defaults-torrc", "/dev/null", "-f", str(path)]


def fetch_consensus(address: str, port: int) -> str | None:
    """The consensus an authority's DirPort serves now, or None (none yet, no answer)."""
    try:
        with socket.create_connection((address, port), ATTEMPT) as s:
            s.settimeout(ATTEMPT)
            s.sendall(f"GET {tor_consensus.PATH} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            data = b""
            while len(data) < MAX_CONSENSUS and (chunk := s.recv(65536)):
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        return None
    return body.decode(errors="replace")


@dataclass(frozen=True)
class ConsensusPublished:
    """The authority at ``address`` (its DirPort ``port``) serves a consensus listing
    every relay of ``nicknames`` Running."""

    address: str
    port: int
    nicknames: frozenset[str]

    def __call__(self) -> bool:
        text = fetch_consensus(self.address, self.port)
        running = {r.nickname for r in tor_consensus.routers(text or "") if "Running" in r.flags}
        return self.nicknames <= running


def start_network(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    """Every relay of the network, each a tor on its own address of ``node``."""
    authorities = network.dir_authority_lines(ctx.rundir, service)
    resolv_conf = network.resolv_conf(ctx.rundir, service)
    relays = network.relays(service)
    for relay in relays:
        directory = network.datadir(ctx.rundir, relay.nickname)
        path = directory / "torrc"
        path.write_text(torrc.relay(directory, authorities, relay, resolv_conf))
        ctx.spawn(node, f"tor-{relay.nickname}", tor_argv(path), early=True)
    nicknames = frozenset(r.nickname for r in relays)
    return [
        Readiness(node, f"Tor consensus from {a.nickname}", ConsensusPublished(a.address, a.dirport, nicknames))
        for a in network.authorities(service)
    ]


@dataclass(frozen=True)
class BridgeReady:
    """obfs4 listens at address:port, the bridge's fingerprint and obfs4 line are
    written, and the bridge holds the consensus its clients will ask it for (else their
    first request fails, and tor waits before asking again)."""

    listens: TcpOpen
    datadir: Path

    def __call__(self) -> bool:
        files = ("fingerprint", "pt_state/obfs4_bridgeline.txt", "cached-microdesc-consensus")
        return all((self.datadir / name).exists() for name in files) and self.listens()


def start_bridge(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    """The obfs4 bridge: a tor relay that no consensus lists, with obfs4proxy in front."""
    tor_network = network.service_of(ctx.model)
    authorities = network.dir_authority_lines(ctx.rundir, tor_network)
    resolv_conf = network.resolv_conf(ctx.rundir, tor_network)
    directory = network.datadir(ctx.rundir, BRIDGE_NICKNAME)
    address, port = service.params["address"], service.params["port"]
    path = directory / "torrc"
    path.write_text(torrc.bridge(directory, authorities, address, port, resolv_conf, OBFS4PROXY))
    ctx.spawn(node, "tor-bridge", tor_argv(path), early=True)
    return [Readiness(node, "Tor obfs4 bridge", BridgeReady(TcpOpen(address, port), directory))]


def bridge_line(rundir: Path, service: Service) -> str:
    """The line a client gives tor for the bridge: transport, address:port, fingerprint,
    and obfs4's ``cert=`` and ``iat-mode=`` as obfs4proxy wrote them."""
    directory = network.datadir(rundir, BRIDGE_NICKNAME)
    written = directory / "pt_state" / "obfs4_bridgeline.txt"
    for line in written.read_text().splitlines():
        if line.startswith("Bridge obfs4 "):
            arguments = [token for token in line.split() if "=" in token]  # after placeholders for the rest
            where = f"{service.params['address']}:{service.params['port']}"
            fingerprint = (directory / "fingerprint").read_text().split()[1]  # "bridge <FINGERPRINT>"
            return " ".join(["obfs4", where, fingerprint, *arguments])
    raise RuntimeError(f"{written}: no obfs4 bridge line")
