"""The lab's private Tor network as data: its relays, their ports, where each keeps its
data in the run's private directory, and the DirAuthority lines that make every tor of
the lab (relays, the bridge, clients) trust this network's authorities, whose keys are
made first (keys.py).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.basics.paths import REPO
from tools.circumvent.tor import keys
from topologies.model import Service, TopologyModel


@dataclass(frozen=True)
class Relay:
    nickname: str
    role: str  # "authority", "relay" (a guard or middle) or "exit"
    address: str
    orport: int
    dirport: int


def service_of(model: TopologyModel) -> Service:
    """The model's Tor network (its ``tor_network`` service)."""
    return next(service for _, service in model.services("tor_network"))


def relays(service: Service) -> list[Relay]:
    """The relays a ``tor_network`` service runs (its ``relays``: nickname, role,
    address each; all on its ``orport`` and ``dirport``)."""
    orport, dirport = service.params["orport"], service.params["dirport"]
    return [Relay(nickname, role, address, orport, dirport) for nickname, role, address in service.params["relays"]]


def authorities(service: Service) -> list[Relay]:
    return [relay for relay in relays(service) if relay.role == "authority"]


def home(rundir: Path) -> Path:
    """Where every tor of the lab's network keeps its data: the run's private directory."""
    return rundir / "tor"


def datadir(rundir: Path, nickname: str) -> Path:
    """A tor's DataDirectory, private to root as tor requires."""
    path = home(rundir) / nickname
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def resolv_conf(rundir: Path, service: Service) -> Path:
    """The resolver configuration of the network's relays (the exit's operator's choice)."""
    path = home(rundir) / "resolv.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"nameserver {service.params['resolver']}\n")
    return path


def dir_authority_lines(rundir: Path, service: Service) -> list[str]:
    """The DirAuthority lines of the network, its authorities' keys made first (once per
    run: a process of keys.py per authority, side by side)."""
    path = home(rundir) / "dir-authorities"
    if not path.exists():
        making = {}
        for relay in authorities(service):
            where = f"{relay.address}:{relay.dirport}"
            argv = [sys.executable, "-m", "tools.circumvent.tor.keys", str(datadir(rundir, relay.nickname)), where]
            making[relay] = subprocess.Popen(argv, cwd=REPO, stderr=subprocess.PIPE, text=True)
        lines = []
        for relay, proc in making.items():
            _, err = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"keys of Tor authority {relay.nickname}: {(err.strip().splitlines() or ['?'])[-1]}")
            directory = datadir(rundir, relay.nickname)
            lines.append(
                f"DirAuthority {relay.nickname} orport={relay.orport} no-v2 v3ident={keys.v3ident(directory)} "
                f"{relay.address}:{relay.dirport} {keys.identity(directory)}"
            )
        path.write_text("\n".join(lines) + "\n")
    return path.read_text().splitlines()
