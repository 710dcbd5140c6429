"""Lab 2's detector task: a student's detector run in a live lab, graded on what it says.

A detector is a program in the submission, ``detect`` (any executable) or ``detect.py``
(run with the lab's python), called as ``detect NAME [ADDRESS]`` inside a subscriber's
host: exit status 0 if the connection to NAME (at ADDRESS, if given) is intercepted, 1 if
not. It is tried (``Trial``) on names the device intercepts, names it passes, and a
server abroad with a self-signed certificate for a listed name, which the device passes
because it does not trust it (kazakhstan.md 1.2), from home1, which trusts the national
roots, and from home2, which does not. A detector that calls every failed verification an
interception fails the self-signed server; one that trusts a verified chain fails home1.

One grading lab (``GradingLab``) serves every submission a checker process grades: each
student's device is attached as the variant places it, the trials run, and it is
detached. The detector runs as nobody (it needs no privilege, and cannot read the lab's
private files or change the grader's machine), in a copy of the submission's folder,
for at most TIMEOUT_S a trial; a trial it could not tell is given one more chance.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from labs.framework.checks import Task, TaskResult
from tools.gateway.national_ca import GENERATIONS
from tools.gateway.targets import TARGETS
from tools.lab.session import LabSession
from tools.lab.steps import Step
from topologies import registry
from topologies.model import TopologyModel

TRUSTING, DISTRUSTING, ABROAD = "home1", "home2", "abroad"
TIMEOUT_S = 20
SERVER = Path(__file__).with_name("untrusted_server.py")
PROGRAMS = ("detect", "detect.py")
SAYS = {0: "intercepted", 1: "not intercepted", 124: f"nothing: timed out after {TIMEOUT_S} s"}
WHERE = {TRUSTING: "home1, which trusts the national root", DISTRUSTING: "home2, which does not"}


@functools.cache
def model() -> TopologyModel:
    return registry.build("kz_isp")


def untrusted() -> str:
    """The self-signed server's address: the abroad vantage point's."""
    return str(model().primary_address(ABROAD))


@dataclass(frozen=True)
class Trial:
    """One run of the detector: ``name`` (at ``address`` if given) from ``node``."""

    kind: str  # "intercepted", "passed" (a name off the device's list) or "untrusted" (the self-signed server)
    name: str
    node: str
    address: str | None = None

    @property
    def expected(self) -> int:
        return 0 if self.kind == "intercepted" else 1

    @property
    def what(self) -> str:
        return {
            "intercepted": "an intercepted name",
            "passed": "a name the device passes",
            "untrusted": "a server abroad with a self-signed certificate (passed: the device does not trust it)",
        }[self.kind]


@dataclass(frozen=True)
class Outcome:
    trial: Trial
    status: int
    stderr: str  # its last line, for the hint

    @property
    def right(self) -> bool:
        return self.status == self.trial.expected


def find(submission: Path) -> Path | None:
    """The submission's detector, ``detect`` before ``detect.py``; None if it has neither."""
    return next((submission / p for p in PROGRAMS if (submission / p).is_file()), None)


def grade(task: Task, outcomes: list[Outcome], intercepted: bool) -> TaskResult:
    """``task`` from the trials on intercepted connections (``intercepted``) or on the
    others. The others count only for a detector that said "intercepted" somewhere: exit
    status 1 is also what a program that crashes returns, so a detector that never says
    0 has shown nothing."""
    mine = [o for o in outcomes if (o.trial.kind == "intercepted") == intercepted]
    wrong = [o for o in mine if not o.right]
    if not intercepted and not any(o.status == 0 for o in outcomes):
        return task.failed("it never said intercepted (exit status 0): saying 1 to everything tells nothing apart")
    if not wrong:
        return task.passed()
    seen = []
    for o in wrong:
        says = SAYS.get(o.status, f"exit status {o.status}, neither 0 nor 1")
        line = f"it said {says} for {o.trial.what}, from {WHERE[o.trial.node]}"
        line += f" (its stderr: {o.stderr})" if o.stderr else ""
        if line not in seen:
            seen.append(line)
    return task.failed(f"{len(wrong)} of {len(mine)} trials wrong: " + "; ".join(seen))


class GradingLab:
    """kz_isp with home1 trusting both national roots, home2 neither, and a TLS server
    abroad with a self-signed certificate for every listed name."""

    def __init__(self) -> None:
        self.session = LabSession()

    def __enter__(self) -> GradingLab:
        self.session.__enter__()
        try:
            for generation in sorted(GENERATIONS):
                self.session.install_root(TRUSTING, generation)
            self._serve_untrusted()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.__exit__(None, None, None)

    def _serve_untrusted(self) -> None:
        folder = self.session.rundir / "untrusted"
        folder.mkdir()
        names = ",".join(f"DNS:{n}" for n in TARGETS["2019"])
        made = self.session.run(
            ABROAD,
            f"openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN={TARGETS['2019'][0]} "
            f"-addext subjectAltName={names} -keyout {folder}/key.pem -out {folder}/cert.pem",
        )
        if made.rc != 0:
            raise RuntimeError(f"the self-signed certificate: {made.err.strip()[-200:]}")
        address = untrusted()
        self.session.run(
            ABROAD, f"python {SERVER} {folder}/cert.pem {folder}/key.pem {address} >{folder}/server.log 2>&1 &"
        )
        listening = f"timeout 10 bash -c 'until (exec 3<>/dev/tcp/{address}/443) 2>/dev/null; do sleep 0.05; done'"
        if self.session.run(ABROAD, listening).rc != 0:
            raise RuntimeError(f"the self-signed server did not start: {(folder / 'server.log').read_text()[-300:]}")

    @contextlib.contextmanager
    def device(self, step: Step) -> Iterator[LabSession]:
        """The lab with a student's device attached, as ``step`` says."""
        self.session.attach(step.key, step.censor, step.node, **step.params)
        try:
            yield self.session
        finally:
            self.session.detach(step.key)

    def run(self, step: Step, trials: list[Trial], program: Path) -> list[Outcome]:
        """Every trial of the detector ``program`` with the device of ``step`` attached: a
        host's trials side by side, then a trial the detector could not tell (an exit
        status neither 0 nor 1: a timeout on a loaded machine, say) once more on its own."""
        outcomes: list[Outcome] = []
        with self.device(step), _copy(program) as (folder, command):
            self._warm(sorted({t.name for t in trials if t.kind == "intercepted"}))
            for node in dict.fromkeys(t.node for t in trials):
                outcomes += self._side_by_side(node, [t for t in trials if t.node == node], folder, command)
            for i, o in enumerate(outcomes):
                if o.status not in (0, 1):
                    (outcomes[i],) = self._side_by_side(o.trial.node, [o.trial], folder, command)
        return outcomes

    def _warm(self, names: list[str]) -> None:
        """One connection to each name the device intercepts, before the detector's: the
        device makes a host's key at its first forging (seconds on a loaded machine), and
        a detector is not to be timed on that."""
        fetch = f"curl -s -o /dev/null --max-time {TIMEOUT_S}"
        self.session.run(DISTRUSTING, f"for n in {' '.join(names)}; do {fetch} https://$n/ & done; wait")

    def _side_by_side(self, node: str, trials: list[Trial], folder: Path, command: str) -> list[Outcome]:
        nobody = pwd.getpwnam("nobody")
        errors = Path(tempfile.mkdtemp(dir=folder.parent))  # the grader's: opened before the detector runs as nobody
        as_nobody = f"setpriv --reuid={nobody.pw_uid} --regid={nobody.pw_gid} --clear-groups --no-new-privs"
        lines = []
        for i, t in enumerate(trials):
            args = " ".join(shlex.quote(a) for a in (t.name, t.address) if a)
            run = f"{as_nobody} env HOME={folder} timeout {TIMEOUT_S} {command} {args}"
            lines.append(f"(cd {folder} && {run} >/dev/null 2>{errors}/{i}; echo {i} $?) &")
        r = self.session.run(node, "\n".join([*lines, "wait"]), timeout=TIMEOUT_S + 10)
        status = {int(i): int(rc) for i, rc in (line.split() for line in r.out.splitlines())}
        return [Outcome(t, status.get(i, -1), _last_line(errors / str(i))) for i, t in enumerate(trials)]


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return (lines or [""])[-1][-200:]


@contextlib.contextmanager
def _copy(program: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the program's folder that is nobody's, and the command that runs it."""
    with tempfile.TemporaryDirectory(prefix="kzlab-detector-") as tmp:
        folder = Path(tmp) / "submission"
        shutil.copytree(program.parent, folder, symlinks=True)  # a link is copied as a link, not followed
        Path(tmp).chmod(0o755)
        nobody = pwd.getpwnam("nobody")
        for top, dirs, files in os.walk(folder):
            for name in [".", *dirs, *files]:
                path = Path(top) / name
                if not path.is_symlink():
                    os.chown(path, nobody.pw_uid, nobody.pw_gid)
                    path.chmod(0o755 if path.is_dir() or name == "detect" else 0o644)
        yield folder, ("./detect" if program.name == "detect" else "python detect.py")


class _Shared:
    lab: GradingLab | None = None


def shared() -> GradingLab:
    """The grading lab of this process, started on first use."""
    if _Shared.lab is None:
        _Shared.lab = GradingLab().__enter__()
        atexit.register(close_shared)
    return _Shared.lab


def close_shared() -> None:
    """End the grading lab of this process, if one was started."""
    if _Shared.lab is not None:
        _Shared.lab.close()
        _Shared.lab = None
