"""The client profiles the servers abroad hand out, and where a method finds its server.

A VPS owner (or a VPN provider) gives each device a profile: a WireGuard configuration
with the device's own key, an OpenVPN ``.ovpn`` file with its own certificate, a
Shadowsocks password. The servers' start functions make them at run time, for every
client of the topology, in the run's private directory (never committed); a method reads
its host's profile from there, as a user imports the file they were given.
"""

from __future__ import annotations

from pathlib import Path

from tools.basics.params import ParameterError
from topologies.model import Service, TopologyModel


def profile_dir(rundir: Path, tool: str) -> Path:
    """``rundir/profiles/<tool>``, made private (0700) if new."""
    path = rundir / "profiles" / tool
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def server_of(model: TopologyModel, kind: str, error: type[ParameterError], **params: object) -> tuple[str, Service]:
    """The node serving ``kind`` (with these ``params``) and its service; ``error`` (one
    line) if the topology has none."""
    for node, service in model.services(kind):
        if all(service.params.get(k) == v for k, v in params.items()):
            return node, service
    which = "".join(f" {k}={v}" for k, v in params.items())
    raise error(f"no {kind}{which} server in topology {model.name} (build it with circumvention=True)")
