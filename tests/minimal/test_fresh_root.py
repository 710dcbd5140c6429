"""The README's first command on a minimal machine: nothing but bash and git, then `./kzlab demo`.

A minimal root of this machine's release (debootstrap --variant=minbase, from the mirror
apt already uses, plus git) gets a clone of the repository's HEAD and is entered as a
container would be (enter_root.sh: its own mount and PID namespaces, chroot), where
`./kzlab demo` installs make, provisions everything and plays the demo. The lab inside runs
in its own namespaces like any run. Slow (minutes, a few hundred MB from the mirror and
PyPI): deselected by default, run by `make test-fresh-root`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import platform_gaps
from tools.basics.paths import REPO

pytestmark = [pytest.mark.fresh_root, pytest.mark.timeout(3900)]

ENTER = Path(__file__).with_name("enter_root.sh")
DEMO = "kz2019_certificate"
# What a new machine on this network would be given with it: proxies, locally added CAs, pip's settings.
NETWORK_ENV = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def apt_sources(codename: str) -> list[str]:
    """This machine's apt sources for its own release and its updates (bookworm, bookworm-security, ...).

    As one-line entries, from sources.list files and deb822 .sources files alike; third
    parties' (cloud-sdk-bookworm, ...) are left out."""
    apt = Path("/etc/apt")
    entries: list[tuple[str, str, list[str]]] = []  # (uri, suite, components)
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        for line in path.read_text().splitlines() if path.exists() else []:
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 4 and words[0] == "deb":
                entries.append((words[1], words[2], words[3:]))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*)$", stanza, re.MULTILINE))
            if "deb" in fields.get("Types", "").split():
                for uri in fields.get("URIs", "").split():
                    entries += [
                        (uri, suite, fields.get("Components", "main").split()) for suite in fields["Suites"].split()
                    ]
    ours = [e for e in entries if e[1] == codename or e[1].startswith(f"{codename}-")]
    assert any(suite == codename for _, suite, _ in ours), f"no apt source for {codename} on this machine"
    return [f"deb {uri} {suite} {' '.join(components)}" for uri, suite, components in ours]


def run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


def host_mounts_under(path: Path) -> list[str]:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]


def processes_in(pid_namespace: str) -> list[str]:
    """Host processes in a PID namespace ("pid:[4026532...]"); its descendants die with it."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(proc / "ns" / "pid") == pid_namespace:
                found.append(proc.name)
        except OSError:
            continue  # gone
    return found


@pytest.fixture
def root() -> Iterator[Path]:
    """An empty directory under /var/tmp for the root, deleted at the end unless something is still mounted in it."""
    if shutil.which("debootstrap") is None:
        run(["apt-get", "update", "-qq"], timeout=600)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "debootstrap"], timeout=600)
    path = Path(tempfile.mkdtemp(prefix="kzlab-fresh-root-", dir="/var/tmp"))
    path.chmod(0o755)  # it becomes /: users such as _apt and the servers' own must enter it
    yield path
    left = host_mounts_under(path)
    assert not left, f"still mounted on the host, {path} kept: {left}"
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True, timeout=600)


def test_kzlab_demo_on_a_minimal_root(root: Path) -> None:
    codename = platform_gaps.os_release(platform_gaps.OS_RELEASE.read_text())["VERSION_CODENAME"]
    sources = apt_sources(codename)
    _, mirror, _, *components = next(line for line in sources if line.split()[2] == codename).split()
    started = time.monotonic()
    # debootstrap mounts /proc and /sys in the root while it works: in a mount namespace of its own
    run(
        ["unshare", "--mount", "--fork", "debootstrap", "--variant=minbase", "--include=git",
         f"--components={','.join(components)}", codename, str(root), mirror],
        timeout=900,
    )  # fmt: skip
    bootstrapped = time.monotonic()
    for tool in ("bash", "git"):
        assert (root / "usr/bin" / tool).exists(), f"the minimal root has no {tool}"
    for tool in ("make", "python3", "curl", "sudo"):
        assert not (root / "usr/bin" / tool).exists(), f"the root is not minimal: it has {tool}"

    (root / "etc/apt/sources.list").write_text("\n".join(sources) + "\n")  # with updates, as images ship
    local_cas = Path("/usr/local/share/ca-certificates")
    if local_cas.is_dir():
        shutil.copytree(local_cas, root / local_cas.relative_to("/"), dirs_exist_ok=True)
    if Path("/etc/pip.conf").exists():
        shutil.copy("/etc/pip.conf", root / "etc/pip.conf")
    run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(root / "root/kzlab")], timeout=300)

    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"]
    env += [f"{k}={os.environ[k]}" for k in NETWORK_ENV if k in os.environ]
    proc = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "bash", str(ENTER), str(root),
         "/usr/bin/env", "-i", *env, "/bin/bash", "-c", "cd /root/kzlab && ./kzlab demo"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=2700,
    )  # fmt: skip
    finished = time.monotonic()
    out = proc.stdout + proc.stderr
    # the demo's results and the whole output outlive the root, for a look after a failure
    kept = REPO / "results" / "fresh_root" / time.strftime("%Y%m%d-%H%M%S")
    kept.mkdir(parents=True)
    if (root / "root/kzlab/results").is_dir():
        shutil.copytree(root / "root/kzlab/results", kept, dirs_exist_ok=True)
    (kept / "output.log").write_text(out)
    print(f"fresh root: debootstrap {bootstrapped - started:.0f} s, ./kzlab demo {finished - bootstrapped:.0f} s")
    assert proc.returncode == 0, f"{out[-6000:]}\n(all of it in {kept})"
    assert "kzlab: installing make" in out
    assert f"kzlab: {DEMO}: every cell matched" in out, out[-6000:]
    (summary,) = (root / "root/kzlab/results" / DEMO).glob("*/summary.json")
    cells = json.loads(summary.read_text())["cells"]
    assert cells and all(c["match"] for c in cells)
    assert "enter_root: exit 0; left: nothing" in out.splitlines(), out[-3000:]
    (namespace,) = re.findall(r"^enter_root: PID namespace (pid:\[\d+\])$", out, re.MULTILINE)
    assert not processes_in(namespace)
    assert not host_mounts_under(root)
