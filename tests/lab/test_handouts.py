"""Lab 1's handout walked through as a new student walks it (``python -m labs walkthrough``):
every command typed as written in a real sealed lab runs, and the capture Task 4 makes
holds the reset that proves the mechanism (typed at a student's pace it did; pasted
lines used to leave it empty)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from labs.framework import walkthrough
from tools.basics.paths import REPO

STUDENT = "s37"  # ResetTrafficForTLSSNI: instagram.com, twitter.com, youtube.com


def test_lab1_handout_walked_through_every_command_runs(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "labs", "walkthrough", "1", "--student", STUDENT, "--work", str(tmp_path)]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=300)
    typed = walkthrough.commands(1, STUDENT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert f"{len(typed)} of {len(typed)} commands ran as written, 0 failed" in out.stdout
    progress = [line for line in out.stdout.splitlines() if line.startswith("ran ")]
    assert len(progress) == len(typed) and progress[-1].endswith(
        f"make check L=1 STUDENT={STUDENT} SUBMISSION=lab1-work"
    )
    assert "https://instagram.com/" in progress[-4]  # Task 4's <blocked-site>, from the variant
    work = tmp_path / "lab1-work"
    assert "curl: (35) Recv failure: Connection reset by peer" in (work / "walkthrough.log").read_text()
    resets = subprocess.run(
        ["tcpdump", "-nr", str(work / "capture.pcap"), "tcp[tcpflags] & tcp-rst != 0 and src port 443"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert resets.stdout.strip(), resets.stderr
