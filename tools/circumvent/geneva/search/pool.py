"""The search's side of its workers (worker.py): one in each subscriber host of a lab,
each fetching through one strategy at a time, all of them at once.

It needs a lab that runs a shell command in a host and has a run directory (a
tools.lab.session.LabSession; this module, below the lab in the layers, names only what
it uses of it). The workers' sockets and logs are in ``RUNDIR/geneva-search/``. A
candidate goes to whichever worker is free, and the answers come back in the order asked,
so which host fetched through which strategy does not change the search.
"""

from __future__ import annotations

import json
import selectors
import shlex
import socket
import time
import zlib
from pathlib import Path
from types import TracebackType
from typing import Protocol, TextIO

from tools.circumvent.geneva.search.edit import canonical, complexity
from tools.circumvent.geneva.search.fitness import Evaluation, Probe, evaluate
from tools.circumvent.geneva.syntax import Strategy

EMPTY = "\\/"
READY_SECONDS = 90.0  # a worker imports scapy: seconds on a busy machine
ANSWER_GRACE = 30.0  # past the fetch's own limit
STOP_SECONDS = 10.0


class PoolError(RuntimeError):
    """A worker that did not come up or stopped answering; the message says which and why."""


class Ran(Protocol):
    @property
    def rc(self) -> int: ...

    @property
    def out(self) -> str: ...


class Lab(Protocol):
    @property
    def rundir(self) -> Path: ...

    def run(self, node: str, command: str, timeout: float = ...) -> Ran: ...


class _Worker:
    def __init__(self, host: str, log: Path, sock: socket.socket) -> None:
        self.host, self.log, self.sock = host, log, sock
        self.stream: TextIO = sock.makefile("rw")

    def ask(self, text: str, seed: int) -> None:
        self.stream.write(json.dumps({"strategy": text, "seed": seed}) + "\n")
        self.stream.flush()

    def answer(self) -> Probe:
        line = self.stream.readline()
        if not line:
            raise PoolError(f"the search's worker in {self.host} ended: {_last_line(self.log)}")
        reply = json.loads(line)
        return Probe(reply["got"], reply["triggered"], reply["made"], reply["seconds"])


def _last_line(log: Path) -> str:
    lines = log.read_text().splitlines() if log.exists() else []
    return lines[-1] if lines else "no output"


class Pool:
    """Workers in ``hosts`` fetching ``url`` (curl's limit ``timeout`` seconds); engine
    draws seeded from ``seed`` and each strategy's text. Use it in a with block."""

    def __init__(self, lab: Lab, hosts: list[str], url: str, timeout: float, seed: int, queue: int = 17) -> None:
        self.lab, self.hosts, self.url, self.timeout, self.seed, self.queue = lab, hosts, url, timeout, seed, queue
        self.where = lab.rundir / "geneva-search"
        self.started: dict[str, str] = {}  # host -> the worker's PID
        self.workers: list[_Worker] = []
        self.baseline = ""

    def __enter__(self) -> Pool:
        try:
            for host in self.hosts:  # all at once: each takes seconds to import scapy
                self.started[host] = self._launch(host)
            self.workers = [self._connect(host) for host in self.hosts]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        connected = {worker.host for worker in self.workers}
        for worker in self.workers:
            worker.stream.close()
            worker.sock.close()  # the worker sees the end, takes its rules away and exits
        for host, pid in self.started.items():
            if host not in connected:
                self.lab.run(host, f"kill -TERM {pid}")
            deadline = time.monotonic() + STOP_SECONDS
            while self.lab.run(host, f"kill -0 {pid} 2>/dev/null").rc == 0:
                if time.monotonic() > deadline:
                    self.lab.run(host, f"kill -KILL {pid}")
                    break
                time.sleep(0.1)
        self.started, self.workers = {}, []

    def _launch(self, host: str) -> str:
        """Start the worker in ``host``; its PID."""
        self.where.mkdir(exist_ok=True)
        log = self.where / f"{host}.log"
        argv = ["python", "-m", "tools.circumvent.geneva.search.worker", "--socket", str(self.where / f"{host}.sock")]
        argv += ["--url", self.url, "--root", str(self.lab.rundir / "global-root.pem")]
        argv += ["--timeout", f"{self.timeout:g}", "--queue", str(self.queue)]
        log.write_text("")
        return self.lab.run(host, f"{shlex.join(argv)} >{log} 2>&1 & echo $!").out.strip()

    def _connect(self, host: str) -> _Worker:
        """Connect to the worker in ``host`` once it is ready."""
        pid, log = self.started[host], self.where / f"{host}.log"
        deadline = time.monotonic() + READY_SECONDS
        while not log.read_text().startswith("ready"):
            if self.lab.run(host, f"kill -0 {pid} 2>/dev/null").rc != 0:
                raise PoolError(f"the search's worker in {host} did not start: {_last_line(log)}")
            if time.monotonic() > deadline:
                raise PoolError(f"the search's worker in {host} was not ready after {READY_SECONDS:g} s")
            time.sleep(0.1)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(self.where / f"{host}.sock"))
        return _Worker(host, log, sock)

    def probe(self, texts: list[str]) -> list[Probe]:
        """A fetch through each strategy text, as many at once as there are workers; in order."""
        waiting, idle = list(enumerate(texts)), list(self.workers)
        answers: dict[int, Probe] = {}
        with selectors.DefaultSelector() as selector:
            while waiting or len(idle) < len(self.workers):
                while waiting and idle:
                    worker, (at, text) = idle.pop(0), waiting.pop(0)
                    worker.ask(text, zlib.crc32(f"{self.seed}:{text}".encode()))
                    selector.register(worker.sock, selectors.EVENT_READ, (worker, at))
                ready = selector.select(self.timeout + ANSWER_GRACE)
                if not ready:
                    raise PoolError(f"no answer from the search's workers in {self.timeout + ANSWER_GRACE:g} s")
                for key, _ in ready:
                    worker, at = key.data
                    selector.unregister(worker.sock)
                    answers[at] = worker.answer()
                    idle.append(worker)
        return [answers[at] for at in range(len(texts))]

    def measure_baseline(self) -> str:
        """What a fetch with no strategy gets in every host (after one fetch each to warm
        the censor up: the device makes its first forged key for a name then); PoolError
        if the hosts disagree."""
        empty = [EMPTY] * len(self.workers)  # one to each worker, in order
        self.probe(empty)
        got = {worker.host: probe.got for worker, probe in zip(self.workers, self.probe(empty), strict=True)}
        if len(set(got.values())) != 1:
            raise PoolError(f"without a strategy the hosts got different things: {got}")
        self.baseline = next(iter(got.values()))
        return self.baseline

    def evaluate(self, strategies: list[Strategy]) -> list[Evaluation]:
        """Each strategy's evaluation against the baseline (measure_baseline first)."""
        texts = [canonical(s) for s in strategies]
        probes = self.probe(texts)
        return [evaluate(t, complexity(s), p, self.baseline) for t, s, p in zip(texts, strategies, probes, strict=True)]
