"""Running a Geneva strategy (tools/circumvent/geneva) in a lab host, for the lab tests
of the engine (test_geneva_lab.py) and of what got around the 2019 device
(test_device_evasion.py)."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from pathlib import Path

from tests.lab import support
from tools.lab.session import LabSession


def text(path: Path) -> str:
    """A file the engine writes, as far as it is written (nothing yet if not made yet)."""
    return path.read_text() if path.exists() else ""


def counts(err: Path) -> dict[str, int]:
    """The engine's last line: ``geneva: failed 2, seen 40, triggered 4, ...``."""
    last = text(err).splitlines()[-1].removeprefix("geneva: ")
    return {key: int(value) for key, value in (item.rsplit(" ", 1) for item in last.split(", "))}


@contextlib.contextmanager
def engine(lab: LabSession, strategy: str, key: str, node: str = "home2") -> Iterator[Path]:
    """The engine running ``strategy`` in ``node`` (its stderr's path); SIGTERM at the end,
    waiting for its last line, printed once its rules are gone.

    It runs at real-time priority (SCHED_FIFO 10). The packets a trigger makes leave
    one by one, each once it came back through the engine's queue; Geneva sends them
    back to back, and on the real path the host's next packets follow a round trip of
    tens of milliseconds later. The lab's round trip is half a millisecond, so an engine
    the scheduler sets aside for a few milliseconds on a busy 2-core machine is overtaken:
    kz_syn_payload's second SYN reached gw after the ClientHello in 11 of 40 connections
    (and the device intercepted 1 of them), in none of 40 at this priority."""
    out, err = lab.rundir / f"geneva-{key}.out", lab.rundir / f"geneva-{key}.err"
    command = f"chrt -f 10 python -m tools.circumvent.geneva --strategy {shlex.quote(strategy)}"
    pid = lab.run(node, f"{command} >{out} 2>{err} & echo $!").out.strip()
    try:
        support.poll(lambda: text(out).startswith("ready") or "error" in text(err), 30, "ready")
        assert text(out).startswith("ready"), text(err)
        yield err
    finally:
        lab.run(node, f"kill -TERM {pid}")
        support.poll(lambda: text(err).endswith("\n") and "geneva: seen " in text(err), 10, "its last line")
