"""The README's first command on a minimal machine: nothing but bash and git, then `./kzlab demo`.

A minimal root of this machine's release (tests/minimal/fresh_root.py: debootstrap
--variant=minbase from the mirror apt already uses, plus git) gets a clone of the
repository's HEAD and is entered as a container would be (enter_root.sh: its own mount and
PID namespaces, its own root), where `./kzlab demo` installs make, provisions everything
and plays the demo. The lab inside runs in its own namespaces like any run. Slow (minutes,
a few hundred MB from the mirror and PyPI): deselected by default, run by
`make test-fresh-root`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.minimal import fresh_root
from tests.minimal.fresh_root import root  # noqa: F401 - the fixture

pytestmark = [pytest.mark.fresh_root, pytest.mark.timeout(3900)]

DEMO = "kz2019_certificate"


def test_kzlab_demo_on_a_minimal_root(root: Path) -> None:  # noqa: F811 - the fixture
    bootstrapped = fresh_root.bootstrap(root)
    started = time.monotonic()
    proc = fresh_root.enter(root, "cd /root/kzlab && ./kzlab demo", timeout=2700)
    out = proc.stdout + proc.stderr
    kept = fresh_root.keep("fresh_root", out, (root / "root/kzlab/results", "."))
    print(f"fresh root: debootstrap {bootstrapped:.0f} s, ./kzlab demo {time.monotonic() - started:.0f} s")
    assert proc.returncode == 0, f"{out[-6000:]}\n(all of it in {kept})"
    assert "kzlab: installing make" in out
    assert f"kzlab: {DEMO}: every cell matched" in out, out[-6000:]
    (summary,) = (root / "root/kzlab/results" / DEMO).glob("*/summary.json")
    cells = json.loads(summary.read_text())["cells"]
    assert cells and all(c["match"] for c in cells)
    fresh_root.assert_left_nothing(root, out)
