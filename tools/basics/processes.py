"""Ending a process the lab started (by its handle, never by name), and telling whether one runs."""

from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM a process the lab started (by its Popen), SIGKILL it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def runs_in_shell(pid: int | str) -> str:
    """A shell test, true while process ``pid`` runs. A process that has ended is a zombie
    until its parent waits for it (the lab process waits for a censor only when it next
    looks), and ``kill -0`` would take a zombie for a running process."""
    return f"grep -qs '^State:[[:space:]]*[^Z[:space:]]' /proc/{pid}/status"
