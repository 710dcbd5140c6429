"""Every lab's handout on a fresh machine, as a new student meets it.

A minimal root of this machine's release, as test_fresh_root makes one (debootstrap
--variant=minbase, plus git, a clone of the repository's HEAD), is entered as a container
(enter_root.sh) where `./kzlab list` provisions everything (make, the packages, the venv)
without playing a scenario; then every lab's handout is walked through in the clone
(`python -m labs walkthrough N`, every command typed as written, the work folders in the
clone as a student's are). The handouts are for the lab VM, a Debian box that has sudo,
which minbase has not: the root gets it when provisioning did not install it, and the
test says so. Slow (minutes, a few hundred MB from the mirror and PyPI): deselected by
default, run by `make test-fresh-root`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from labs.framework import registry
from tests import platform_gaps
from tests.minimal import test_fresh_root as fresh
from tools.basics.paths import REPO

pytestmark = [pytest.mark.fresh_root, pytest.mark.timeout(3900)]

root = fresh.root  # the fixture: an empty directory for the root, removed afterwards
STUDENT = "s37"  # the id whose variants the suite and the development machine walked through too
SUMMARY = re.compile(
    r"^kzlab: walkthrough of lab (\d+) for \S+: (\d+) of (\d+) commands ran as written, (\d+) failed, in (\d+) s$",
    re.MULTILINE,
)


def bootstrap(root: Path) -> None:
    """debootstrap a minimal root as test_fresh_root does, with this machine's apt sources,
    CAs and pip settings, and a clone of HEAD in /root/kzlab."""
    codename = platform_gaps.os_release(platform_gaps.OS_RELEASE.read_text())["VERSION_CODENAME"]
    sources = fresh.apt_sources(codename)
    _, mirror, _, *components = next(line for line in sources if line.split()[2] == codename).split()
    fresh.run(
        ["unshare", "--mount", "--fork", "debootstrap", "--variant=minbase", "--include=git",
         f"--components={','.join(components)}", codename, str(root), mirror],
        timeout=900,
    )  # fmt: skip
    (root / "etc/apt/sources.list").write_text("\n".join(sources) + "\n")
    local_cas = Path("/usr/local/share/ca-certificates")
    if local_cas.is_dir():
        shutil.copytree(local_cas, root / local_cas.relative_to("/"), dirs_exist_ok=True)
    if Path("/etc/pip.conf").exists():
        shutil.copy("/etc/pip.conf", root / "etc/pip.conf")
    fresh.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(root / "root/kzlab")], timeout=300)


def walk_every_handout(labs: list[int]) -> str:
    """The script the root runs: provision, sudo if missing, then each lab's walk-through."""
    walks = " ; ".join(
        f"echo 'fresh root: lab {n} starts at' $(date +%s) ; "
        f".venv/bin/python -m labs walkthrough {n} --student {STUDENT} || failed=1"
        for n in labs
    )
    return (
        "cd /root/kzlab && echo 'fresh root: provisioning starts at' $(date +%s) && ./kzlab list"
        " && echo 'fresh root: provisioned at' $(date +%s)"
        " && { command -v sudo >/dev/null || { echo 'fresh root: provisioning left no sudo: installing it';"
        " apt-get install -y -qq --no-install-recommends sudo >/dev/null; }; }"
        f" && failed=0 && {{ {walks} ; }} && echo 'fresh root: done at' $(date +%s) && exit $failed"
    )


def test_every_handout_walked_through_on_a_minimal_root(root: Path) -> None:
    started = time.monotonic()
    bootstrap(root)
    bootstrapped = time.monotonic()
    labs = [f.number for f in registry.folders()]
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"]
    env += [f"{k}={os.environ[k]}" for k in fresh.NETWORK_ENV if k in os.environ]
    proc = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "bash", str(fresh.ENTER), str(root),
         "/usr/bin/env", "-i", *env, "/bin/bash", "-c", walk_every_handout(labs)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3300,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    kept = REPO / "results" / "fresh_root_handouts" / time.strftime("%Y%m%d-%H%M%S")
    kept.mkdir(parents=True)
    for log in (root / "root/kzlab").glob("lab*-work/walkthrough.log"):
        shutil.copy(log, kept / f"{log.parent.name}-walkthrough.log")
    (kept / "output.log").write_text(out)
    marks = {m[0]: int(m[1]) for m in re.findall(r"^fresh root: (.+?) (?:starts )?at (\d+)$", out, re.MULTILINE)}
    print(f"fresh root: debootstrap {bootstrapped - started:.0f} s, provisioning (./kzlab list) "
          f"{marks.get('provisioned', 0) - marks.get('provisioning', 0)} s")  # fmt: skip
    walked = {int(m[0]): m for m in SUMMARY.findall(out)}
    for n, ran, total, failed, seconds in walked.values():
        print(f"fresh root: lab {n}: {ran} of {total} commands ran as written, {failed} failed, in {seconds} s")
    print("\n".join(re.findall(r"^fresh root: provisioning left no sudo.*$", out, re.MULTILINE)))
    assert sorted(walked) == labs, f"{out[-6000:]}\n(all of it in {kept})"
    assert all(m[3] == "0" for m in walked.values()), "\n".join(re.findall(r"^FAILED .*$", out, re.MULTILINE))
    assert proc.returncode == 0, f"{out[-6000:]}\n(all of it in {kept})"
    assert "enter_root: exit 0; left: nothing" in out.splitlines(), out[-3000:]
    (namespace,) = re.findall(r"^enter_root: PID namespace (pid:\[\d+\])$", out, re.MULTILINE)
    assert not fresh.processes_in(namespace)
    assert not fresh.host_mounts_under(root)
