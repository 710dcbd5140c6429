"""What the lab tests share: starting runs, and looking at the host from outside them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tools.basics.paths import REPO
from tools.lab import seal

T = TypeVar("T")
READY = re.compile(r"lab ready in .* run (kzlab-[0-9a-f]+)\)")
# sysctls that count things rather than configure them
VOLATILE_SYSCTLS = re.compile(
    r"^(fs\.(dentry-state|file-nr|inode-nr|inode-state|aio-nr|quota\.)|kernel\.(ns_last_pid|random\.|pty\.nr"
    r"|tainted|sched_domain)|net\.netfilter\.nf_conntrack_count|net\.ipv4\.tcp_mem|net\.ipv4\.udp_mem"
    r"|dev\.cdrom\.)"
)


def poll(condition: Callable[[], T], timeout: float, what: str) -> T:
    """``condition()``'s first truthy value, asked every 50 ms: tests wait on what they
    need, not on a fixed sleep. AssertionError naming ``what`` if ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)
    return value


def scenario_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scenarios", *args]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m scenarios ARGS`` to its end, output captured as text."""
    return subprocess.run(scenario_cmd(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout)


def run_scenario(name: str, results: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict, Path]:
    """``python -m scenarios run NAME --results RESULTS ARGS``: the process, summary.json and the run's directory."""
    proc = subprocess.run(
        scenario_cmd("run", name, "--results", str(results), *args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    (run_dir,) = (results / name).iterdir()
    return proc, json.loads((run_dir / "summary.json").read_text()), run_dir


def start(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``python -m scenarios ARGS`` from the repository, output as text lines."""
    return subprocess.Popen(
        scenario_cmd(*args),
        cwd=REPO,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, list[str]]:
    """Read output until the lab says it is ready; returns the run's namespace name."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = READY.search(line)
        if m:
            return m.group(1), lines
    raise AssertionError("the lab never said it was ready:\n" + "".join(lines[-20:]))


def _out(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return f"({cmd[0]} not installed)"


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            h.update(str(path).encode())
            try:
                h.update(path.read_bytes() if not path.is_symlink() else os.readlink(path).encode())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()


def sysctls() -> dict[str, str]:
    out = {}
    for line in _out("sysctl", "-a").splitlines():
        key, _, value = line.partition(" = ")
        if not VOLATILE_SYSCTLS.match(key):
            out[key] = value
    return out


def neighbour_table_fulls() -> int:
    """How often, since boot, the kernel's ARP table was full (summed over CPUs from
    /proc/net/stat/arp_cache). That table is one for every namespace: a lab that floods it
    (answers to many addresses on one LAN) leaves no namespace on the machine, the host's
    included, able to resolve a new neighbour, so a flood test asserts this does not grow."""
    lines = Path("/proc/net/stat/arp_cache").read_text().splitlines()
    column = lines[0].split().index("table_fulls")
    return sum(int(line.split()[column], 16) for line in lines[1:] if line.strip())


def host_snapshot() -> dict[str, object]:
    """The root namespace's configuration that the lab must never change."""
    return {
        "iptables": _out("iptables-save"),
        "iptables-legacy": _out("iptables-legacy-save"),
        "ip6tables": _out("ip6tables-save"),
        "nft": _out("nft", "list", "ruleset"),
        "links": _out("ip", "-o", "link", "show"),
        "addresses": _out("ip", "-o", "addr", "show"),
        "routes": _out("ip", "route", "show", "table", "all"),
        "routes6": _out("ip", "-6", "route", "show", "table", "all"),
        "rules": _out("ip", "rule", "show"),
        "resolv.conf": Path("/etc/resolv.conf").read_text(),
        "hosts": Path("/etc/hosts").read_text(),
        "/etc/ssl": _tree_digest(Path("/etc/ssl")),
        "sysctls": sysctls(),
    }


def snapshot_diff(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """What differs; sysctls compare by the keys that existed before (a kernel module
    loaded on first use adds keys, which is not a change of configuration)."""
    diffs = []
    for key in before:
        if key == "sysctls":
            b, a = before[key], after[key]
            diffs += [f"sysctl {k}: {b[k]} -> {a.get(k)}" for k in b if k in a and a[k] != b[k]]
        elif before[key] != after[key]:
            diffs.append(f"{key} changed")
    return diffs


def stale() -> set[str]:
    """Runs whose process is gone but whose namespace or files remain: what a run that
    ended must not leave (runs of other tests, alive meanwhile, are not counted)."""
    return {run.netns for run in seal.stale_runs()}


def leftovers(netns: str | None = None) -> list[str]:
    """Anything of a run (or of any run) still on the machine."""
    found = []
    names = _out("ip", "netns", "list")
    found += [f"netns {n.split()[0]}" for n in names.splitlines() if n.startswith(netns or seal.PREFIX)]
    run_ids = [netns[len(seal.PREFIX) :]] if netns else None
    for root in (seal.RUN_ROOT, seal.NAMED_ROOT):
        if root.is_dir():
            for p in root.iterdir():
                if p.name.startswith("."):  # the registry's lock file, not a run's
                    continue
                rid = p.name.removeprefix(seal.PREFIX)
                if run_ids is None or rid in run_ids:
                    found.append(f"file {p}")
    if netns:
        rid = netns[len(seal.PREFIX) :]
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid():
                try:
                    cmdline = (proc / "cmdline").read_bytes()
                    environ = (proc / "environ").read_bytes()
                except OSError:
                    continue
                if rid.encode() in cmdline or f"KZLAB_RUN={rid}".encode() in environ:
                    found.append(f"process {proc.name}: {cmdline[:80]!r}")
    return found


def wait_until_clean(netns: str, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := leftovers(netns)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
