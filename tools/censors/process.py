"""A censor's own process in the node it censors at: started, watched, stopped.

The DPI engine (engine.py) and the interception device (tools/gateway/interceptor.py)
each run as a Python process inside their node, say "ready" on their first line of
output once their kernel rules are in, and write their errors to a log. ``failure``
tells whether the process has died on its own, and why (the last line of its log), so
that the runner fails a phase whose censor died instead of measuring a censor that is
not there (issue 9: never silently). A process started with ``control`` takes requests,
one JSON line each on its stdin, and answers each with one line (the engine: attach and
detach a censor).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tools.basics.paths import REPO
from tools.basics.processes import stop_process

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.node import Node

READY_TIMEOUT = 30.0


class CensorProcess:
    def __init__(self, host: Node, module: str, config: Path, log: Path, what: str, control: bool = False) -> None:
        """Start ``python -m MODULE CONFIG`` in ``host`` and wait for its "ready" line."""
        self.what, self.host_name, self.log = what, host.name, log
        self.pending = b""  # output read but not yet taken as a line
        self.died: str | None = None  # why, once it has died on its own
        with open(log, "ab") as err:
            self.proc: subprocess.Popen | None = host.popen(
                [sys.executable, "-u", "-m", module, str(config)],
                cwd=str(REPO),
                stdin=subprocess.PIPE if control else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        if "ready" not in self.line(READY_TIMEOUT):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{what} did not start on {host.name}: {self.last_words() or 'no output'} (see {log})")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def line(self, timeout: float) -> str:
        """The next line of the process's output ("" if none came within ``timeout``)."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.pending and select.select([fd], [], [], timeout)[0]:
            data = os.read(fd, 4096)
            if not data:
                break
            self.pending += data
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode(errors="replace")

    def request(self, line: str, timeout: float = READY_TIMEOUT) -> str:
        """Send one request line and return the answer line (RuntimeError if none comes)."""
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            pass  # it is gone: said below
        answer = self.line(timeout)
        if not answer:
            raise RuntimeError(f"{self.what} on {self.host_name} did not answer: {self.failure() or 'timeout'}")
        return answer

    def last_words(self) -> str:
        """The last line of the process's log."""
        try:
            lines = self.log.read_bytes()[-4096:].decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def failure(self, what: str | None = None) -> str | None:
        """Why the process is gone though nobody stopped it, else None; said as ``what``
        (a censor it served) died, with the last words it had when first seen dead."""
        if self.proc is None or self.proc.poll() is None:
            return None
        if self.died is None:
            self.died = f"died (exit {self.proc.returncode}): {self.last_words() or 'no message'}"
        return f"{what or self.what} on {self.host_name} {self.died}"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
