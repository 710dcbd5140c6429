"""The seal: each run lives in its own outer network namespace and PID namespace.

A run is ``kzlab-<id>``: a named network namespace (``ip netns``) that holds the whole
Mininet network, and a private run directory ``/run/kzlab/<id>`` (mode 0700) for keys,
configurations and logs. The lab process runs inside that namespace in a new PID
namespace, under reaper.py as its PID 1 (which reaps what is orphaned there and ends
with the lab process), so when it ends, however it ends, the kernel ends every process
it started, and with them every Mininet host's namespace. What a SIGKILLed run can leave is
only the named namespace and the run directory; ``clean_stale()`` removes those of runs
whose owner is gone, and every new run calls it first. The host's root namespace is
never configured: no link, route, rule or sysctl is made there.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tools.basics.paths import RUN_ROOT

NETNS_DIR = Path("/run/netns")
NAMED_ROOT = Path("/var/cache/bind")  # the tree named's AppArmor profile lets it write
PREFIX = "kzlab-"
_PR_SET_PDEATHSIG = 1
REAPER = Path(__file__).with_name("reaper.py")  # PID 1 of every run's PID namespace


@dataclass(frozen=True)
class Run:
    """One sealed run: its id, namespace name and private directory."""

    id: str

    @property
    def netns(self) -> str:
        return PREFIX + self.id

    @property
    def dir(self) -> Path:
        return RUN_ROOT / self.id

    @property
    def named_dir(self) -> Path:
        """BIND's files for this run (see tools/services/dns.py)."""
        return NAMED_ROOT / self.netns


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against a reused pid), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(run: Run) -> bool:
    try:
        pid_text, start = (run.dir / "owner").read_text().split()
    except (OSError, ValueError):
        return False
    return _start_time(int(pid_text)) == start


@contextlib.contextmanager
def _registry_lock() -> Iterator[None]:
    """Serialises creating runs and judging them stale, across processes: a run being
    created is never mistaken for the leftovers of a killed one."""
    RUN_ROOT.mkdir(mode=0o755, exist_ok=True)
    with open(RUN_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def create() -> Run:
    """Make a new run: clean stale ones, then a fresh namespace and private directory."""
    if os.geteuid() != 0:
        raise PermissionError("the lab needs root for network namespaces (sudo make ...)")
    with _registry_lock():
        _clean_stale_locked()
        run = Run(secrets.token_hex(4))
        run.dir.mkdir(mode=0o700)
        (run.dir / "owner").write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
        subprocess.run(["ip", "netns", "add", run.netns], check=True)
    return run


def destroy(run: Run) -> None:
    """Remove everything of ``run``: its processes (by pid), namespace and directory."""
    if (NETNS_DIR / run.netns).exists():
        pids = subprocess.run(["ip", "netns", "pids", run.netns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", run.netns], capture_output=True)
    shutil.rmtree(run.named_dir, ignore_errors=True)
    # The run directory (with its owner file) goes last, and first out of sight in one
    # step: a run being torn down never looks stale to another process meanwhile.
    hidden = RUN_ROOT / f".gone-{run.id}"
    with contextlib.suppress(FileNotFoundError):
        run.dir.rename(hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def stale_runs() -> list[Run]:
    """Runs whose owning process is gone (killed) but whose namespace or files remain."""
    ids = set()
    if NETNS_DIR.is_dir():
        ids |= {p.name[len(PREFIX) :] for p in NETNS_DIR.iterdir() if p.name.startswith(PREFIX)}
    if RUN_ROOT.is_dir():
        ids |= {p.name for p in RUN_ROOT.iterdir() if not p.name.startswith(".")}
    if NAMED_ROOT.is_dir():
        ids |= {p.name[len(PREFIX) :] for p in NAMED_ROOT.iterdir() if p.name.startswith(PREFIX)}
    return [r for r in map(Run, sorted(ids)) if not _owner_alive(r)]


def clean_stale() -> list[Run]:
    """Destroy every stale run; returns what was removed."""
    with _registry_lock():
        return _clean_stale_locked()


def _clean_stale_locked() -> list[Run]:
    runs = stale_runs()
    for run in runs:
        destroy(run)
    return runs


def _die_with_parent() -> None:
    """In the child before exec: if the run's owner dies, even by SIGKILL, so do we."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn_inside(run: Run, argv: list[str], env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """Start ``argv`` in a new PID namespace inside the run's network namespace, under
    reaper.py as its PID 1 (which reaps the processes orphaned in it); it dies with this
    process, whatever kills it."""
    cmd = [
        "ip",
        "netns",
        "exec",
        run.netns,
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "--",
        sys.executable,
        "-I",
        "-S",
        str(REAPER),
        *argv,
    ]
    child_env = {**os.environ, **(env or {}), "KZLAB_RUN": run.id, "KZLAB_RUN_DIR": str(run.dir)}
    return subprocess.Popen(cmd, env=child_env, preexec_fn=_die_with_parent, **popen)


def run_inside(run: Run, argv: list[str], env: dict[str, str] | None = None, stdout: IO | None = None) -> int:
    """Run ``argv`` sealed (``spawn_inside``) and wait for it. SIGINT and SIGTERM received
    here are passed on, so the lab tears down in order; returns its exit status."""
    proc = spawn_inside(run, argv, env, stdout=stdout)

    def forward(signum: int, _frame: object) -> None:
        # unshare blocks SIGINT/SIGTERM while it waits: signal its child, the reaper, which passes them on.
        try:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            for pid in children:
                os.kill(int(pid), signum)
        except (OSError, ValueError):
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return rc if rc >= 0 else 128 - rc


def sealed(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Create a run, run ``argv`` inside it, and destroy the run whatever happens."""
    run = create()
    try:
        return run_inside(run, argv, env)
    finally:
        destroy(run)
