"""The lab's PID 1 (tools/lab/reaper.py), run here as a plain process: it exits with its
command's status, passes SIGTERM on to the command, and says in one line what it cannot
run. That it reaps orphans is checked in a real lab (tests/lab/test_seal_files.py)."""

from __future__ import annotations

import signal
import subprocess
import sys

from tools.lab.seal import REAPER


def reaper(*argv: str) -> subprocess.Popen:
    argv_ = [sys.executable, "-I", "-S", str(REAPER), *argv]
    return subprocess.Popen(argv_, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_it_exits_with_its_commands_status() -> None:
    assert reaper("sh", "-c", "exit 3").wait(10) == 3
    assert reaper("sh", "-c", "kill -TERM $$").wait(10) == 128 + signal.SIGTERM


def test_it_passes_sigterm_on_to_its_command() -> None:
    proc = reaper("sh", "-c", "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done")
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"  # its trap is in
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 42  # the command's own answer to SIGTERM, not the reaper's death


def test_a_command_it_cannot_run_is_one_line() -> None:
    proc = reaper("/nonexistent/kzlab-command")
    assert proc.wait(10) == 127
    assert proc.stderr is not None
    assert proc.stderr.read().splitlines() == [
        "kzlab: error: cannot run /nonexistent/kzlab-command: No such file or directory"
    ]


def test_no_command_is_a_usage_line() -> None:
    proc = reaper()
    assert proc.wait(10) == 2
    assert proc.stderr is not None and proc.stderr.read().startswith("kzlab: error: usage:")
