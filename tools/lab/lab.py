"""A running lab: the Mininet network of a topology, its PKI, services and captures.

Used inside a sealed run (tools/lab/seal.py): ``start()`` builds the network, gives each
device its own resolver and trust store, starts every service the topology names and
waits until each answers (readiness checks, not fixed sleeps); ``stop()`` ends what it
started, by process id. Whatever is left ends with the run's PID namespace.
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mininet.net import Mininet
from mininet.node import Node

from tools.basics.progress import progress
from tools.censors.base import Attachment, Censor
from tools.censors.queue import MAX_ATTACHED
from tools.circumvent.method import Method, MethodContext
from tools.lab.services import STARTERS
from tools.services import readiness
from tools.services.base import ServiceContext
from tools.services.pki import CertificateAuthority, pem
from tools.services.readiness import Readiness
from topologies.build import BuildError, mininet_network, private_files, set_up
from topologies.model import TopologyModel

READY_TIMEOUT = 30.0


class LabError(RuntimeError):
    """The lab could not be brought up; the message names the part that failed."""


@dataclass
class Lab:
    model: TopologyModel
    rundir: Path
    named_dir: Path
    net: Mininet | None = None
    ctx: ServiceContext | None = None
    censors: dict[str, Censor] = field(default_factory=dict)
    captures: list[subprocess.Popen] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    indices: dict[str, int] = field(default_factory=dict)  # each attached censor's mark slot
    placement: dict[str, str] = field(default_factory=dict)  # each attached censor's node
    methods: dict[str, Method] = field(default_factory=dict)  # circumvention switched on, by key
    method_nodes: dict[str, str] = field(default_factory=dict)  # each method's host
    now: dt.datetime | None = None  # the lab clock's time, for a scenario that plays a timeline

    def host(self, name: str) -> Node:
        assert self.net is not None
        return self.net.get(name)

    def start(self) -> Lab:
        t0 = time.monotonic()
        web_ca = CertificateAuthority.new_root()
        (self.rundir / "global-root.pem").write_bytes(pem(web_ca.cert))
        self.ctx = ServiceContext(self.model, None, self.rundir, self.named_dir, web_ca)
        # The devices' private files and the services' files (certificates, configurations)
        # are made while the network's nodes start: that mostly waits on the nodes' shells.
        with ThreadPoolExecutor(2) as pool:
            made = pool.submit(private_files, self.model, self.rundir, pem(web_ca.cert))
            planned = pool.submit(self._plan_services, self.ctx)
            self.net = mininet_network(self.model)
            homes, checks = made.result(), planned.result()
        self.ctx.launch(self.net, early=True)  # their start-up overlaps the configuration
        self.net.build()
        self.net.start()  # bridges and links are wired already (mininet_network)
        try:
            set_up(self.net, self.model, homes)
        except BuildError as exc:  # a failed bind mount, say: one line, the run stops
            raise LabError(str(exc)) from None
        self.timings["network"] = time.monotonic() - t0
        self.ctx.launch(self.net, early=False)
        self.wait_ready(checks)
        self.ctx.bind_own_addresses_only()
        self.timings["ready"] = time.monotonic() - t0
        return self

    def _plan_services(self, ctx: ServiceContext) -> list[Readiness]:
        """Every service's files and processes (started later by ctx.launch), and its checks."""
        checks: list[Readiness] = []
        for node, service in self.model.services():
            if service.kind not in STARTERS:
                raise LabError(f"node {node}: no implementation for service {service.kind!r}")
            checks += STARTERS[service.kind](ctx, node, service)
        return checks

    def wait_ready(self, checks: list[Readiness], timeout: float = READY_TIMEOUT) -> None:
        """Wait until every check passes inside its node (tools/services/readiness.py)."""
        pids = {node: self.host(node).pid for node in {c.node for c in checks}}
        with progress("lab: services ready", len(checks)) as passing:
            failed = readiness.wait(checks, pids, timeout, passing)
        if failed:
            c, why = failed[0]
            raise LabError(f"service not ready: {c.what} on {c.node}: {why} (see {self.rundir}/logs)")

    def attach(self, key: str, censor: Censor, node: str) -> None:
        workdir = self.rundir / "censors" / key
        workdir.mkdir(parents=True, exist_ok=True)
        free = sorted(set(range(1, MAX_ATTACHED + 1)) - set(self.indices.values()))
        if not free:
            raise LabError(f"censor {key}: {MAX_ATTACHED} censors are attached already")
        at = Attachment(self.host(node), workdir, self.rundir, self.named_dir, self.model, free[0], self.now)
        censor.attach(at)
        self.censors[key], self.indices[key], self.placement[key] = censor, free[0], node

    def tick(self, now: dt.datetime) -> None:
        """The lab clock moved: every attached censor hears of it."""
        self.now = now
        for censor in self.censors.values():
            censor.tick(now)

    def dead_censors(self) -> dict[str, str]:
        """Attached censors whose process died on its own: key -> why (Censor.failure)."""
        return {key: why for key, censor in self.censors.items() if (why := censor.failure()) is not None}

    def detach(self, key: str) -> None:
        self.indices.pop(key)
        self.placement.pop(key)
        self.censors.pop(key).detach()

    def circumvent(self, key: str, method: Method, node: str) -> None:
        """Switch ``method`` on in the host ``node`` (MethodError if it does not come up:
        then nothing of it is left running)."""
        if key in self.methods:
            raise LabError(f"method {key}: already switched on")
        workdir = self.rundir / "circumvent" / key
        workdir.mkdir(parents=True, exist_ok=True)
        method.start(MethodContext(self.host(node), workdir, self.rundir, self.model))
        self.methods[key], self.method_nodes[key] = method, node

    def uncircumvent(self, key: str) -> None:
        self.method_nodes.pop(key)
        self.methods.pop(key).stop()

    def probe_options(self, node: str) -> dict[str, Any]:
        """What the probes of ``node`` must do differently for the methods on there."""
        options: dict[str, Any] = {}
        for key, method in self.methods.items():
            if self.method_nodes[key] == node:
                options |= method.probe_options()
        return options

    def capture(self, node: str, neighbour: str, directory: Path) -> Path:
        """tcpdump on the link between ``node`` and ``neighbour`` into a pcap file."""
        host = self.host(node)
        links = host.connectionsTo(self.host(neighbour))
        if not links:
            raise LabError(f"no link between {node} and {neighbour} to capture")
        path = directory / f"{node}-{neighbour}.pcap"
        proc = host.popen(
            ["tcpdump", "-i", links[0][0].name, "-U", "-s", "0", "-w", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        proc.stderr.readline()  # "listening on ...": the capture is running
        self.captures.append(proc)
        return path

    def stop(self) -> None:
        """Switch methods off, detach censors, end captures and services (SIGTERM, then
        SIGKILL)."""
        for key in list(self.methods):
            self.uncircumvent(key)
        for key in list(self.censors):
            self.detach(key)
        procs = self.captures + [p for _, p in (self.ctx.processes if self.ctx else [])]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        self.captures.clear()
