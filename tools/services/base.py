"""What every service implementation gets and gives back.

A service is started on one lab node by a ``start`` function that writes its
configuration into the run's private directory, names the real server processes to run
inside the node (``ServiceContext.spawn``), and returns readiness checks
(tools/services/readiness.py) that pass once the service answers. The lab calls the start
functions while the network is still being built, starts the processes once the
network is up (Mininet ``popen``: the node's network and mount namespace), and waits on
the checks instead of sleeping for a fixed time.
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
from tools.services.readiness import Readiness
from topologies.model import Service, TopologyModel


@dataclass(frozen=True)
class Launch:
    """A server process to start inside ``node``; ``kind`` names its log."""

    node: str
    kind: str
    argv: list[str]


@dataclass
class ServiceContext:
    """The lab a service starts in: model, network, private directories and the PKI."""

    model: TopologyModel
    net: Mininet | None
    rundir: Path
    named_dir: Path
    web_ca: CertificateAuthority
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    launches: list[Launch] = field(default_factory=list)

    def workdir(self, node: str, kind: str) -> Path:
        path = self.rundir / "services" / f"{node}-{kind}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, node: str, kind: str) -> Path:
        path = self.rundir / "logs"
        path.mkdir(exist_ok=True)
        return path / f"{node}-{kind}.log"

    def spawn(self, node: str, kind: str, argv: list[str]) -> None:
        """Have ``argv`` run inside ``node`` once its network is up (launch())."""
        self.launches.append(Launch(node, kind, argv))

    def python(self, node: str, kind: str, module: str, *args: str) -> None:
        """Have one of the lab's own Python services (``python -m module``) run in ``node``."""
        self.spawn(node, kind, [sys.executable, "-u", "-m", module, *args])

    def launch(self, net: Mininet) -> None:
        """Start every process spawn() named, each inside its node, with its output in the
        service's log file. Python services go first: their imports make theirs the
        longest start-up."""
        self.net = net
        for launch in sorted(self.launches, key=lambda launch: launch.argv[0] != sys.executable):
            with open(self.log(launch.node, launch.kind), "ab") as log:
                proc = net.get(launch.node).popen(
                    launch.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO)
                )
            self.processes.append((f"{launch.node}/{launch.kind}", proc))
        self.launches.clear()


StartFunction = Callable[[ServiceContext, str, Service], list[Readiness]]
