"""The live check: the student's censor attached at the ISP gateway of a running lab.

In a lab kept up by tools.lab.session.LabSession, ``run.py live`` starts the censor in
``gw`` as kzlab starts its own (the engine, tools/censors/engine.py, with the student's
class registered by name) and returns once it is ready, then ``run.py probe`` in
``home1`` reaches what the rule blocks and what it leaves alone (probes.py); then the
censor is stopped, and the gateway left as it was found (its chain removed), so that the
next check starts clean in the same lab.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_a_censor.background import CHAIN, INDEX, START_TIMEOUT, tail
from tools.basics.processes import runs_in_shell
from tools.lab.session import LabSession

RUN = Path(__file__).resolve().parent.parent / "run.py"
GATEWAY, SUBSCRIBER = "gw", "home1"
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Outcome:
    """What the live check saw: the censor's start (None: it started), the probes, and
    whether the censor was still running after them."""

    failed_start: str | None
    probes: dict[str, dict[str, Any]]
    survived: bool
    log: str  # the last lines of the censor's output


def _alive(session: LabSession, pid: int) -> bool:
    return session.run(GATEWAY, runs_in_shell(pid)).rc == 0


def check(session: LabSession, student: str, censor: Path) -> Outcome:
    """Start ``censor`` for ``student`` at gw, probe from home1, stop it; what was seen."""
    with tempfile.TemporaryDirectory(prefix="kzlab-lab03-") as tmp:
        output = Path(tmp) / "censor.log"
        start = (f"{sys.executable} {RUN} live --json --student {student} --index {INDEX} "
                 f"--log {tmp}/decisions.jsonl --output {output} {censor.resolve()}")  # fmt: skip
        started = session.run(GATEWAY, start, timeout=START_TIMEOUT + 30)
        if started.rc != 0:
            why = started.err.strip().splitlines()[-1:] or ["no message"]
            return Outcome(f"it did not start at {GATEWAY}: {why[0].removeprefix('kzlab: error: ')}", {}, False, "")
        pid = json.loads(started.out)["pid"]
        try:
            probe = session.run(SUBSCRIBER, f"{sys.executable} {RUN} probe --student {student} --json", timeout=60)
            try:
                probes = json.loads(probe.out)
            except ValueError:
                return Outcome(f"the probes failed: {probe.err.strip()[-300:]}", {}, False, tail(output))
            return Outcome(None, probes, _alive(session, pid), tail(output))
        finally:
            _stop(session, pid)


def _stop(session: LabSession, pid: int) -> None:
    """SIGTERM (the engine removes its chain), SIGKILL if it lingers; then the chain, in
    case the engine died first."""
    tries = int(STOP_TIMEOUT / 0.1)
    session.run(
        GATEWAY,
        f"kill {pid} 2>/dev/null; for i in $(seq {tries}); do {runs_in_shell(pid)} || break; sleep 0.1; done; "
        f"{runs_in_shell(pid)} && kill -9 {pid}; iptables -w -D FORWARD -j {CHAIN} 2>/dev/null; "
        f"iptables -w -F {CHAIN} 2>/dev/null; iptables -w -X {CHAIN} 2>/dev/null; true",
        timeout=STOP_TIMEOUT + 10,
    )
