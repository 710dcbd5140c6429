"""tools/basics/processes.py: the shell test of whether a process runs."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tools.basics.processes import runs_in_shell


def test_a_zombie_does_not_run() -> None:
    """A process that ended and was not waited for is a zombie, which `kill -0` takes for a
    running one: lab 3's live check counted a censor that died under its probes as alive,
    and test_device_hostile could not see its device die."""
    sleeper = subprocess.Popen(["sleep", "30"])
    dead = subprocess.Popen(["true"])
    try:
        for _ in range(500):  # until `true` has ended, unwaited: a zombie
            if Path(f"/proc/{dead.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        assert subprocess.run(["kill", "-0", str(dead.pid)]).returncode == 0  # what kill -0 says
        assert subprocess.run(["bash", "-c", runs_in_shell(sleeper.pid)]).returncode == 0
        assert subprocess.run(["bash", "-c", runs_in_shell(dead.pid)]).returncode == 1
    finally:
        sleeper.kill()
        sleeper.wait()
        dead.wait()
    assert subprocess.run(["bash", "-c", runs_in_shell(dead.pid)]).returncode != 0  # gone altogether
