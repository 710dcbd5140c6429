"""./kzlab's one-line answers before it installs or runs anything."""

from __future__ import annotations

import subprocess

import pytest

from tools.basics.paths import REPO


def kzlab(*args: str) -> subprocess.CompletedProcess:
    """Run ./kzlab as a user who is not root (in a user namespace of its own): it may change nothing."""
    return subprocess.run(["unshare", "--user", REPO / "kzlab", *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("args", [("demo",), ("run", "baseline", "--pcap")])
def test_not_root_says_what_to_do(args: tuple[str, ...]) -> None:
    proc = kzlab(*args)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == f"kzlab: run as root: sudo ./kzlab {' '.join(args)}\n"


@pytest.mark.parametrize(
    ("args", "answer"),
    [
        ((), "kzlab: use ./kzlab demo|test|list|clean|bench|lint, or ./kzlab run SCENARIO [ARGS...]"),
        (("make",), "kzlab: use ./kzlab demo|test|list|clean|bench|lint, or ./kzlab run SCENARIO [ARGS...]"),
        (("run",), "kzlab: name a scenario: ./kzlab run baseline (./kzlab list shows them)"),
        (("test", "-k", "x"), "kzlab: test takes no arguments (use: ./kzlab demo|test|list|clean|bench|lint, "
         "or ./kzlab run SCENARIO [ARGS...])"),
    ],
)  # fmt: skip
def test_bad_usage_is_one_line(args: tuple[str, ...], answer: str) -> None:
    proc = kzlab(*args)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", answer + "\n")
