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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tools.basics.paths import REPO
from tools.services.pki import CertificateAuthority
from tools.services.readiness import Readiness

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.net import Mininet

    from topologies.model import Service, TopologyModel

LAUNCHES_AT_ONCE = 8  # each start waits mostly on its process being scheduled and exec'd


@dataclass(frozen=True)
class Launch:
    """A server process to start inside ``node``; ``kind`` names its log. ``early``: see
    ServiceContext.spawn."""

    node: str
    kind: str
    argv: list[str]
    early: bool


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

    def spawn(self, node: str, kind: str, argv: list[str], *, early: bool = False) -> None:
        """Have ``argv`` run inside ``node`` (launch()). ``early`` for a server that can
        start as soon as its node exists, before the node's addresses and private files
        (resolv.conf, trust store) are there: it reads none of those files at start and
        listens on its addresses whenever they come (the node accepts binds to addresses
        it does not hold yet; named picks new addresses up by itself). Its start-up then
        overlaps the network's configuration."""
        self.launches.append(Launch(node, kind, argv, early))

    def python(self, node: str, kind: str, module: str, *args: str) -> None:
        """Have one of the lab's own Python services (``python -m module``) run in ``node``:
        they listen on given addresses and are started early (their imports take longest)."""
        self.spawn(node, kind, [sys.executable, "-u", "-m", module, *args], early=True)

    def launch(self, net: Mininet, *, early: bool) -> None:
        """Start the processes spawn() named with this ``early``, side by side, each inside
        its node, with its output in the service's log file."""
        self.net = net
        mine = [launch for launch in self.launches if launch.early == early]
        if early:
            self._nonlocal_bind(net, 1)
        with ThreadPoolExecutor(LAUNCHES_AT_ONCE) as pool:
            procs = list(pool.map(lambda launch: self._start(net, launch), mine))
        self.processes += [(f"{launch.node}/{launch.kind}", proc) for launch, proc in zip(mine, procs, strict=True)]

    def bind_own_addresses_only(self) -> None:
        """Once every service listens: the early services' nodes refuse binds to addresses
        they do not hold again, as a kernel does by default."""
        assert self.net is not None
        self._nonlocal_bind(self.net, 0)

    def _nonlocal_bind(self, net: Mininet, value: int) -> None:
        nodes = [net.get(node) for node in dict.fromkeys(launch.node for launch in self.launches if launch.early)]
        for host in nodes:  # to every shell first, so that they run side by side
            host.sendCmd(f"echo {value} > /proc/sys/net/ipv4/ip_nonlocal_bind")
        for host in nodes:
            host.waitOutput()

    def _start(self, net: Mininet, launch: Launch) -> subprocess.Popen:
        with open(self.log(launch.node, launch.kind), "ab") as log:
            return net.get(launch.node).popen(
                launch.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(REPO)
            )


StartFunction = Callable[[ServiceContext, str, "Service"], list[Readiness]]
