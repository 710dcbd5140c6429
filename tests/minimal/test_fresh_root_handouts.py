"""Every lab's handout on a fresh machine, as a new student meets it.

A minimal root of this machine's release, as test_fresh_root makes one (debootstrap
--variant=minbase, plus git, a clone of the repository's HEAD), is entered as a container
(enter_root.sh) where `./kzlab list` provisions everything (make, the packages, the venv)
without playing a scenario; then every lab's handout is walked through in the clone
(`python -m labs walkthrough N`, every command typed as written, the work folders in the
clone as a student's are). The handouts are for the lab VM, a Debian box that has sudo,
which minbase has not: provisioning installs it. Slow (minutes, a few hundred MB from the
mirror and PyPI): deselected by default, run by `make test-fresh-root`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labs.framework import registry
from tests.minimal import fresh_root
from tests.minimal.fresh_root import root  # noqa: F401 - the fixture

pytestmark = [pytest.mark.fresh_root, pytest.mark.timeout(3900)]

STUDENT = "s37"  # the id whose variants the suite and the development machine walked through too
SUMMARY = re.compile(
    r"^kzlab: walkthrough of lab (\d+) for \S+: (\d+) of (\d+) commands ran as written, (\d+) failed, in (\d+) s$",
    re.MULTILINE,
)


def walk_every_handout(labs: list[int]) -> str:
    """The script the root runs: provision (which installs sudo too), then each lab's walk-through."""
    walks = " ; ".join(
        f"echo 'fresh root: lab {n} starts at' $(date +%s) ; "
        f".venv/bin/python -m labs walkthrough {n} --student {STUDENT} || failed=1"
        for n in labs
    )
    return (
        "cd /root/kzlab && echo 'fresh root: provisioning starts at' $(date +%s) && ./kzlab list"
        " && echo 'fresh root: provisioned at' $(date +%s)"
        f" && failed=0 && {{ {walks} ; }} && echo 'fresh root: done at' $(date +%s) && exit $failed"
    )


def test_every_handout_walked_through_on_a_minimal_root(root: Path) -> None:  # noqa: F811 - the fixture
    bootstrapped = fresh_root.bootstrap(root)
    labs = [f.number for f in registry.folders()]
    proc = fresh_root.enter(root, walk_every_handout(labs), timeout=3300)
    out = proc.stdout + proc.stderr
    work_logs = (root / "root/kzlab").glob("lab*-work/walkthrough.log")
    logs = [(log, f"{log.parent.name}-walkthrough.log") for log in work_logs]
    kept = fresh_root.keep("fresh_root_handouts", out, *logs)
    marks = {m[0]: int(m[1]) for m in re.findall(r"^fresh root: (.+?) (?:starts )?at (\d+)$", out, re.MULTILINE)}
    print(f"fresh root: debootstrap {bootstrapped:.0f} s, provisioning (./kzlab list) "
          f"{marks.get('provisioned', 0) - marks.get('provisioning', 0)} s")  # fmt: skip
    walked = {int(m[0]): m for m in SUMMARY.findall(out)}
    for n, ran, total, failed, seconds in walked.values():
        print(f"fresh root: lab {n}: {ran} of {total} commands ran as written, {failed} failed, in {seconds} s")
    assert sorted(walked) == labs, f"{out[-6000:]}\n(all of it in {kept})"
    assert all(m[3] == "0" for m in walked.values()), "\n".join(re.findall(r"^FAILED .*$", out, re.MULTILINE))
    assert proc.returncode == 0, f"{out[-6000:]}\n(all of it in {kept})"
    fresh_root.assert_left_nothing(root, out)
