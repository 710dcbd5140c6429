"""A censor's own process in the node it censors at: started, watched, stopped.

The DPI engine (engine.py) and the interception device (tools/gateway/interceptor.py)
each run as a Python process inside their node, say "ready" on their first line of
output once their kernel rules are in, and write their errors to a log. ``failure``
tells whether the process has died on its own, and why (the last line of its log), so
that the runner fails a phase whose censor died instead of measuring a censor that is
not there (issue 9: never silently).
"""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

from mininet.node import Node

from tools.basics.paths import REPO
from tools.basics.processes import stop_process

READY_TIMEOUT = 30.0


class CensorProcess:
    def __init__(self, host: Node, module: str, config: Path, log: Path, what: str) -> None:
        """Start ``python -m MODULE CONFIG`` in ``host`` and wait for its "ready" line."""
        self.what, self.host_name, self.log = what, host.name, log
        with open(log, "ab") as err:
            self.proc: subprocess.Popen | None = host.popen(
                [sys.executable, "-u", "-m", module, str(config)], cwd=str(REPO), stdout=subprocess.PIPE, stderr=err
            )
        assert self.proc.stdout is not None
        said = select.select([self.proc.stdout], [], [], READY_TIMEOUT)[0]
        if not said or "ready" not in self.proc.stdout.readline().decode(errors="replace"):
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{what} did not start on {host.name}: {self.last_words() or 'no output'} (see {log})")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def last_words(self) -> str:
        """The last line of the process's log."""
        try:
            lines = self.log.read_bytes()[-4096:].decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def failure(self) -> str | None:
        """Why the process is gone though nobody stopped it, else None."""
        if self.proc is None or self.proc.poll() is None:
            return None
        said = self.last_words() or "no message"
        return f"{self.what} on {self.host_name} died (exit {self.proc.returncode}): {said}"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
