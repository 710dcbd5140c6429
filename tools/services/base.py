"""What every service implementation gets and gives back.

A service is started on one lab node by a ``start`` function that writes its
configuration into the run's private directory, starts real server processes inside the
node (Mininet ``popen``: its network and mount namespace), and returns readiness checks:
shell commands run inside a node that exit 0 once the service answers. The runner polls
those instead of sleeping for a fixed time.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mininet.net import Mininet

from tools.basics.paths import REPO
from tools.services.pki import CertificateAuthority
from topologies.model import Service, TopologyModel


@dataclass
class ServiceContext:
    """The lab a service starts in: model, network, private directories and the PKI."""

    model: TopologyModel
    net: Mininet
    rundir: Path
    named_dir: Path
    web_ca: CertificateAuthority
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def workdir(self, node: str, kind: str) -> Path:
        path = self.rundir / "services" / f"{node}-{kind}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, node: str, kind: str) -> Path:
        path = self.rundir / "logs"
        path.mkdir(exist_ok=True)
        return path / f"{node}-{kind}.log"

    def spawn(self, node: str, kind: str, argv: list[str]) -> subprocess.Popen:
        """Start ``argv`` inside ``node``; its output goes to the service's log file."""
        with open(self.log(node, kind), "ab") as log:
            proc = self.net.get(node).popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO)
            )
        self.processes.append((f"{node}/{kind}", proc))
        return proc

    def python(self, node: str, kind: str, module: str, *args: str) -> subprocess.Popen:
        """Start one of the lab's own Python services (``python -m module``) in ``node``."""
        return self.spawn(node, kind, [sys.executable, "-u", "-m", module, *args])


@dataclass(frozen=True)
class Readiness:
    """A shell command, run inside ``node``, that exits 0 once a service answers."""

    node: str
    what: str
    command: str


def tcp_ready(node: str, what: str, address: str, port: int) -> Readiness:
    return Readiness(node, what, f"exec 3<>/dev/tcp/{address}/{port}")


def dns_ready(node: str, what: str, server: str, name: str) -> Readiness:
    """Ready when ``server`` answers an A query for ``name`` with at least one address."""
    return Readiness(node, what, f"dig +short +time=1 +tries=1 @{server} {name} A | grep -q '^[0-9]'")


StartFunction = Callable[[ServiceContext, str, Service], list[Readiness]]
