"""The live check: the student's censor attached at the ISP gateway of a running lab.

In a lab kept up by tools.lab.session.LabSession, ``run.py live`` starts the censor in
``gw`` as kzlab starts its own (the engine, tools/censors/engine.py, with the student's
class registered by name), then ``run.py probe`` in ``home1`` reaches what the rule blocks
and what it leaves alone (probes.py); then the censor is stopped, and the gateway left
as it was found (its chain removed), so that the next check starts clean in the same lab.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.lab.session import LabSession

RUN = Path(__file__).resolve().parent.parent / "run.py"
INDEX = 12  # the censor's queue (112) and mark bits: the last of twelve, clear of what a lab attaches
CHAIN = f"KZC{INDEX}"  # as tools/censors/queue.py names a queue censor's chain
GATEWAY, SUBSCRIBER = "gw", "home1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Outcome:
    """What the live check saw: the censor's start (None: it started), the probes, and
    whether the censor was still running after them."""

    failed_start: str | None
    probes: dict[str, dict[str, Any]]
    survived: bool
    log: str  # the last lines of the censor's output


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _alive(session: LabSession, pid: str) -> bool:
    return session.run(GATEWAY, f"kill -0 {pid} 2>/dev/null").rc == 0


def check(session: LabSession, student: str, censor: Path) -> Outcome:
    """Start ``censor`` for ``student`` at gw, probe from home1, stop it; what was seen."""
    with tempfile.TemporaryDirectory(prefix="kzlab-lab03-") as tmp:
        log = Path(tmp) / "censor.log"
        start = (
            f"{sys.executable} {RUN} live --student {student} --index {INDEX} --log {tmp}/decisions.jsonl "
            f"{censor.resolve()} >{log} 2>&1 & echo $!"
        )
        pid = session.run(GATEWAY, start).out.strip()
        try:
            failed = _wait_ready(session, pid, log)
            if failed is not None:
                return Outcome(failed, {}, False, _tail(log))
            probe = session.run(SUBSCRIBER, f"{sys.executable} {RUN} probe --student {student} --json", timeout=60)
            try:
                probes = json.loads(probe.out)
            except ValueError:
                return Outcome(f"the probes failed: {probe.err.strip()[-300:]}", {}, False, _tail(log))
            return Outcome(None, probes, _alive(session, pid), _tail(log))
        finally:
            _stop(session, pid)


def _wait_ready(session: LabSession, pid: str, log: Path) -> str | None:
    """None once the engine says it is ready; else why it did not get there."""
    deadline = time.monotonic() + START_TIMEOUT
    while "ready on queue" not in log.read_text(errors="replace"):
        if not _alive(session, pid):
            return f"it did not start at {GATEWAY}: {_tail(log) or 'no output'}"
        if time.monotonic() > deadline:
            return f"it did not start at {GATEWAY} within {START_TIMEOUT:.0f} s: {_tail(log) or 'no output'}"
        time.sleep(0.1)
    return None


def _stop(session: LabSession, pid: str) -> None:
    """SIGTERM (the engine removes its chain), SIGKILL if it lingers; then the chain, in
    case the engine died first."""
    tries = int(STOP_TIMEOUT / 0.1)
    session.run(
        GATEWAY,
        f"kill {pid} 2>/dev/null; for i in $(seq {tries}); do kill -0 {pid} 2>/dev/null || break; sleep 0.1; done; "
        f"kill -9 {pid} 2>/dev/null; iptables -w -D FORWARD -j {CHAIN} 2>/dev/null; "
        f"iptables -w -F {CHAIN} 2>/dev/null; iptables -w -X {CHAIN} 2>/dev/null; true",
        timeout=STOP_TIMEOUT + 10,
    )
