"""What the fresh-root tests share: a minimal root of this machine's release made with
debootstrap (--variant=minbase, plus git, this machine's apt sources, local CAs and pip
settings, a clone of the repository's HEAD in /root/kzlab), entered as a container would
be (enter_root.sh), and what must be left on the host afterwards: nothing."""

from __future__ import annotations

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

ENTER = Path(__file__).with_name("enter_root.sh")
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


def bootstrap(root: Path) -> float:
    """A minimal root of this machine's release in ``root``, with this machine's apt
    sources, CAs and pip settings and a clone of HEAD in /root/kzlab; the seconds it took."""
    started = time.monotonic()
    codename = platform_gaps.os_release(platform_gaps.OS_RELEASE.read_text())["VERSION_CODENAME"]
    sources = apt_sources(codename)
    _, mirror, _, *components = next(line for line in sources if line.split()[2] == codename).split()
    # debootstrap mounts /proc and /sys in the root while it works: in a mount namespace of its own
    run(
        ["unshare", "--mount", "--fork", "debootstrap", "--variant=minbase", "--include=git",
         f"--components={','.join(components)}", codename, str(root), mirror],
        timeout=900,
    )  # fmt: skip
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
    return time.monotonic() - started


def enter(root: Path, script: str, timeout: float) -> subprocess.CompletedProcess:
    """``bash -c script`` inside ``root`` (enter_root.sh: its own mount and PID
    namespaces), with a clean environment but this network's proxy settings."""
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8"]
    env += [f"{k}={os.environ[k]}" for k in NETWORK_ENV if k in os.environ]
    return subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "bash", str(ENTER), str(root),
         "/usr/bin/env", "-i", *env, "/bin/bash", "-c", script],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def assert_left_nothing(root: Path, out: str) -> None:
    """enter_root.sh said it left nothing, and the host agrees: no process of the root's
    PID namespace, no mount under it."""
    assert "enter_root: exit 0; left: nothing" in out.splitlines(), out[-3000:]
    (namespace,) = re.findall(r"^enter_root: PID namespace (pid:\[\d+\])$", out, re.MULTILINE)
    assert not processes_in(namespace)
    assert not host_mounts_under(root)


def keep(name: str, out: str, *copies: tuple[Path, str]) -> Path:
    """The whole output, and ``copies`` (source, name), kept under results/NAME/<time> for a
    look after a failure (the root itself is deleted)."""
    kept = REPO / "results" / name / time.strftime("%Y%m%d-%H%M%S")
    kept.mkdir(parents=True)
    for source, target in copies:
        if source.is_dir():
            shutil.copytree(source, kept / target, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy(source, kept / target)
    (kept / "output.log").write_text(out)
    return kept
