"""The student's censor started in the background of the node one is in, as a daemon.

``run.py live`` starts its own ``--foreground`` form (the engine, with the student's class)
in a new session, its output into a file, and returns once the engine says it is ready
(its rules are in) with the engine's PID, so that a command typed in the Mininet CLI
comes back, and the checker knows when to probe; or with the reason it did not start.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from build_a_censor.errors import Unusable

INDEX = 12  # the censor's queue (112) and mark bits: the last of twelve, clear of what a lab attaches
CHAIN = f"KZC{INDEX}"  # as tools/censors/queue.py names a queue censor's chain
READY = "ready on queue"
START_TIMEOUT = 30.0


def tail(path: Path, lines: int = 3) -> str:
    """The last ``lines`` lines of ``path``, on one line."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def start(argv: list[str], output: Path, what: str) -> int:
    """Run ``argv`` detached, its output into ``output``; its PID once it prints READY, or
    Unusable with the last lines it printed."""
    with open(output, "w") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT
    while READY not in output.read_text(errors="replace"):
        said = tail(output).removeprefix("kzlab: error: ") or "no output"
        if proc.poll() is not None:
            raise Unusable(f"{what} did not start (exit status {proc.returncode}): {said}")
        if time.monotonic() > deadline:
            proc.kill()
            raise Unusable(f"{what} did not start within {START_TIMEOUT:.0f} s: {said}")
        time.sleep(0.05)
    return proc.pid
