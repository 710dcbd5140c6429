"""Teardown: SIGINT and SIGTERM mid-run leave nothing; SIGKILL leaves only what
`make clean` removes; two runs at once do not collide."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab import support
from tools.basics.paths import REPO


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_leaves_nothing(signum: signal.Signals, tmp_path: Path) -> None:
    proc = support.start("run", "baseline", "--results", str(tmp_path))
    netns, _ = support.wait_ready(proc)
    assert support.leftovers(netns), "the run should be visible while it runs"
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "interrupted" in out
    assert support.wait_until_clean(netns) == []
    (results,) = (tmp_path / "baseline").iterdir()
    assert json.loads((results / "summary.json").read_text())["interrupted"] == signum.name


@pytest.mark.serial  # its killed run stays stale until `make clean`: no other run may clean it first
def test_sigkill_then_make_clean_leaves_nothing(tmp_path: Path) -> None:
    proc = support.start("run", "baseline", "--results", str(tmp_path))
    netns, _ = support.wait_ready(proc)
    proc.kill()
    proc.wait(timeout=10)
    # The kernel ends every process of the run (PID namespace, parent-death signal) ...
    deadline = time.monotonic() + 15
    while any(x.startswith("process") for x in support.leftovers(netns)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = support.leftovers(netns)
    assert not [x for x in left if x.startswith("process")]
    # ... and what is left (the named namespace, private files) is what `make clean` removes.
    assert f"netns {netns}" in left
    clean = subprocess.run(["make", "clean"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0, clean.stderr
    assert netns in clean.stdout
    assert support.leftovers(netns) == []


def test_two_runs_at_once_do_not_collide(tmp_path: Path) -> None:
    first = support.start("run", "baseline", "--results", str(tmp_path / "a"))
    second = support.start("run", "baseline", "--results", str(tmp_path / "b"))
    ns_a, _ = support.wait_ready(first)
    ns_b, _ = support.wait_ready(second)
    assert ns_a != ns_b
    out_a, _ = first.communicate(timeout=300)
    out_b, _ = second.communicate(timeout=300)
    assert first.returncode == 0, out_a[-2000:]
    assert second.returncode == 0, out_b[-2000:]
    assert support.wait_until_clean(ns_a) == [] and support.wait_until_clean(ns_b) == []
