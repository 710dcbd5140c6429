"""A way around the censorship, switched on in one subscriber host (kazakhstan.md section 7).

A ``Method`` is the client side of one circumvention tool. ``start`` brings it up inside a
lab host (a tunnel, a local proxy the host's traffic is redirected through, a stub
resolver, a packet-strategy engine) and returns once it works, or raises ``MethodError``
after undoing whatever it started; ``stop`` ends every process it started, by its handle,
and removes whatever it configured in the host. Both act only inside the lab host's own
namespaces. ``probe_options`` tells the host's probes what they must do differently: most
methods need nothing, because the host's own routing or resolving goes through the tool.

The server side of each tool (a VPN server abroad, the private Tor network, the CDN edge,
the DoH resolvers) is a service of the topology (topologies/circumvention.py), started
with the lab like every other service. Methods declare typed parameters (``fields``,
tools/basics/params.py) and the Debian packages they need (``needs``), checked before
anything starts so that a missing tool is one line naming its package.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mininet.node import Node

from tools.basics.params import Field, ParameterError, check
from tools.basics.processes import stop_process
from tools.circumvent.logs import NewOutput
from topologies.model import TopologyModel

POLL_SECONDS = 0.05


class MethodError(ParameterError):
    """A method that cannot be used as asked, or did not come up; the message says which
    method and why, in one line."""


@dataclass
class MethodContext:
    """Where a method runs: the host, its private working directory (keys, configuration,
    logs), the run's private directory (the servers' public keys and certificates) and the
    topology."""

    host: Node
    workdir: Path
    rundir: Path
    model: TopologyModel
    processes: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, NewOutput] = field(default_factory=dict)  # pid -> what it has written

    def popen(self, argv: list[str], log: str) -> subprocess.Popen:
        """Start ``argv`` inside the host, its output appended to ``workdir/log`` (kept
        when the method is switched off); stop() ends it."""
        output = NewOutput(self.workdir / log)
        with open(self.workdir / log, "ab") as out:
            proc = self.host.popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        self.logs[proc.pid] = output
        return proc

    def output(self, proc: subprocess.Popen) -> str:
        """What ``proc`` has written so far (not what an earlier run left in its log)."""
        return self.logs[proc.pid].text()

    def wait(self, works: Callable[[], bool], what: str, timeout: float, watch: subprocess.Popen | None = None) -> None:
        """Poll ``works`` until it holds; MethodError naming ``what`` when ``timeout``
        seconds pass or the ``watch``ed process exits (with its last line of output)."""
        deadline = time.monotonic() + timeout
        while not works():
            if watch is not None and watch.poll() is not None:
                raise MethodError(f"{what}: its process exited ({watch.returncode}): {self.last_line(watch)}")
            if time.monotonic() > deadline:
                raise MethodError(f"{what}: not after {timeout:g} s")
            time.sleep(POLL_SECONDS)

    def last_line(self, proc: subprocess.Popen) -> str:
        """The last line ``proc`` wrote (its log), for an error."""
        lines = self.logs[proc.pid].lines() if proc.pid in self.logs else []
        return lines[-1] if lines else "no output"

    def stop_processes(self) -> None:
        """End every process popen() started, newest first."""
        while self.processes:
            stop_process(self.processes.pop())


class Method(ABC):
    """One circumvention method; subclasses set ``name`` and implement start/stop."""

    name: ClassVar[str]  # what scenarios and the CLI call it: "wireguard", "tor", ...
    fields: ClassVar[dict[str, Field]] = {}  # its parameters
    needs: ClassVar[dict[str, str]] = {}  # executable -> the Debian package that provides it
    what: ClassVar[str] = ""  # one line: what it does (docs/circumvention.md)
    models: ClassVar[str] = ""  # the use it models (kazakhstan.md section)

    def __init__(self, **params: Any) -> None:
        """Checks ``params`` against ``fields`` (MethodError naming a bad one)."""
        self.params = check(f"method {self.name!r}", self.fields, params, MethodError)
        self.ctx: MethodContext | None = None

    @classmethod
    def missing(cls) -> str | None:
        """One line naming the first package this machine lacks, else None."""
        for executable, package in cls.needs.items():
            if shutil.which(executable) is None:
                return f"method {cls.name!r} needs {executable}, from the Debian package {package} (run: make setup)"
        return None

    def start(self, ctx: MethodContext) -> None:
        """Bring the method up in ``ctx.host``; MethodError (with everything undone) if not."""
        if (why := self.missing()) is not None:
            raise MethodError(why)
        self.ctx = ctx
        try:
            self.bring_up(ctx)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Undo start(): the host's configuration first, then the processes."""
        if self.ctx is None:
            return
        try:
            self.take_down(self.ctx)
        finally:
            self.ctx.stop_processes()
            self.ctx = None

    @abstractmethod
    def bring_up(self, ctx: MethodContext) -> None:
        """Start the client side and wait (with a deadline) until it works."""

    def take_down(self, ctx: MethodContext) -> None:
        """Remove what bring_up configured in the host (routes, rules, resolv.conf);
        the processes started with ctx.popen are ended after it."""
        return None

    def probe_options(self) -> dict[str, Any]:
        """What the host's probes must do differently while the method is on."""
        return {}
