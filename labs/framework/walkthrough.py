"""A handout played as a new student plays it: every command typed exactly as written.

    python -m labs walkthrough N --student ID [--work DIR]

The commands are the handout's indented lines (a JSON block, a submission's example, is
not one): ``mininet> ...`` lines are typed at the Mininet CLI that the handout's
``make lab`` line opened, the others run in a shell in the student's checkout, in the
handout's order (as in a second terminal while the CLI is open). The lab is left with
``exit`` after its last CLI line. Only the handout's placeholders are filled in:
``your-id`` with the student id, and ``<name>`` ones from the student's variant
(``PLACEHOLDERS``, the handout says what each one is). A file the handout has the student
write before a command runs it (``STUDENT_FILES``) is taken from the lab's reference
submission.

A command failed when it did not run as written: Mininet's ``*** Unknown command``, a
shell's ``command not found``, a missing file, a Python traceback, a usage error, or a
non-zero exit status that is not one of the answers a measurement (or the checker) gives
when the network (or the submission) says no (``SAYS_NO``). A blocked site is an answer:
the tool ran. A node command's status is read in the node's own shell right after it
(``NODE echo ...$?``).

``--work DIR`` plays the handout in DIR instead of the repository: DIR gets a link to each
of the repository's top-level entries, and the handout's work folders are made there,
so a test leaves nothing in the repository. Every command's output is kept in the lab's
work folder, ``walkthrough.log``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from labs.framework import registry
from labs.framework.errors import BadInput
from labs.framework.variants import student_id
from tools.basics.paths import REPO

PROMPT = "mininet> "
STATUS = "kzwalk-status="
MAKE_LAB = re.compile(r"^(sudo )?make lab\b")
# A handout's placeholders besides your-id, per lab: what each is, from the variant.
PLACEHOLDERS: dict[int, dict[str, Callable[[dict[str, Any]], str]]] = {
    1: {"<blocked-site>": lambda v: v["names"][0]},  # a site the censor of the variant blocks
    5: {"<HHMM>": lambda v: v["windows"][0][0].replace(":", "")},  # a dark hour's sample
}
# What a handout has the student write before running it, per lab: taken from the lab's
# reference submission (solution/), as a student who did the earlier tasks has it.
STUDENT_FILES: dict[int, tuple[str, ...]] = {2: ("detect.py",)}
# Non-zero exit statuses that are an answer, not a failure to run: the network said no
# (curl: resolve, connect, timeout, TLS, empty reply, receive, certificate; dig: no
# reply; openssl s_client and the lab's probes: the connection or the probe failed), or
# the checker graded a submission that has not all passed (make says "Error 1").
SAYS_NO: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = (
    (re.compile(r"^curl "), frozenset({6, 7, 28, 35, 52, 56, 60})),
    (re.compile(r"^dig "), frozenset({9})),
    (re.compile(r"^openssl s_client "), frozenset({1})),
    (re.compile(r"^python -m tools\.probes\.cert_inspect "), frozenset({1})),
    (re.compile(r"^python labs/03-build-a-censor/run\.py probe "), frozenset({1})),
    (re.compile(r"^(sudo )?make check "), frozenset({1})),
)
# What a command prints when it did not run as written.
FAILED = (
    ("*** Unknown command", "Mininet does not know the command"),
    ("command not found", "command not found"),
    ("Traceback (most recent call last)", "a Python traceback"),
    ("No such file or directory", "a file is missing"),
    ("can't open file", "a file is missing"),
    ("usage: ", "a usage error"),
    ("Unknown option", "a usage error"),
    ("invalid option", "a usage error"),
    ("syntax error", "a shell syntax error"),
    ("*** No rule to make target", "make has no such target"),
    ("kzlab: error: ", "bad input"),
    ("kzlab: no method ", "the lab has no such method"),  # lab 4's CLI
    ("kzlab: nothing on as ", "nothing of that name is on"),  # lab 4's CLI
)
MAKE_ERROR = re.compile(r"^make(?:\[\d+\])?: \*\*\* \[[^]]*\] Error (\d+)$", re.MULTILINE)
TIMEOUT = 900.0  # one command (a checker that builds a lab takes about a minute)
# Once a CLI line has started a job in the background (a capture, a server), each later
# line is typed this long after the one before, as a student reads and types: typed at
# once, the traffic of the next line raced the capture's start, and the line that stops
# the capture came before it had written what it saw (lab 1: an empty capture).
STUDENT_PACE = 1.5
# A student's terminal: no make of ours around it (``make test`` runs the suite's walk-through).
MAKE_ENV = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def student_env() -> dict[str, str]:
    """This process's environment without the make variables of a make around it."""
    return {k: v for k, v in os.environ.items() if k not in MAKE_ENV} | {"PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Command:
    line: int  # in the handout
    text: str  # as written, placeholders filled in
    cli: bool  # typed at mininet>


@dataclass(frozen=True)
class Outcome:
    command: Command
    seconds: float
    failure: str | None  # why it did not run as written; None: it ran
    output: str


def extract(handout: str) -> list[Command]:
    """The commands of a handout's indented blocks, continuation lines joined, JSON blocks left out."""
    blocks: list[list[tuple[int, str]]] = []
    indented = False
    for n, line in enumerate(handout.splitlines(), start=1):
        if line.startswith("    ") and not indented:
            blocks.append([])
        indented = line.startswith("    ")
        if indented:
            blocks[-1].append((n, line.strip()))
    out: list[Command] = []
    for block in blocks:
        if block[0][1].startswith("{"):
            continue
        pending, first = "", 0
        for n, text in block:
            pending, first = pending + text, first or n
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
                continue
            cli = pending.startswith(PROMPT)
            out.append(Command(first, pending.removeprefix(PROMPT), cli))
            pending, first = "", 0
    return out


def commands(number: int, student: str) -> list[Command]:
    """Lab ``number``'s handout commands for ``student``, placeholders filled in from the variant."""
    folder = registry.find(number)
    values = {"your-id": student}
    wanted = PLACEHOLDERS.get(folder.number, {})
    if wanted:
        variant = folder.definition.variant(student)
        values |= {name: get(variant) for name, get in wanted.items()}
    out = []
    for c in extract((folder.path / "README.md").read_text()):
        text = c.text
        for name, value in values.items():
            text = text.replace(name, value)
        left = re.findall(r"<[\w-]+>", text)
        if left:
            raise BadInput(f"lab {folder.number}, handout line {c.line}: no value for {', '.join(left)}")
        out.append(Command(c.line, text, c.cli))
    return out


def judge(command: Command, output: str, status: int | None) -> str | None:
    """Why ``command`` did not run as written, or None when it ran."""
    for mark, why in FAILED:
        if mark in output:
            return why
    if not status:
        return None
    program = command.text.split(maxsplit=1)[1] if command.cli else command.text
    for pattern, answers in SAYS_NO:
        if pattern.match(program) and status in answers:
            return None
    return f"exit status {status}"


class Session:
    """The Mininet CLI opened by a handout's ``make lab`` line, typed into one line at a time."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=student_env(), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.seen = ""
        self.read = 0  # what was handed out
        self.lock = threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        self.nodes: set[str] = set()
        self.ended = False  # its output is all read
        self.jobs = False  # a line has started a job in the background

    def _pump(self, stream: IO[bytes] | None) -> None:
        assert stream is not None
        while chunk := os.read(stream.fileno(), 65536):
            with self.lock:
                self.seen += chunk.decode(errors="replace")
                self.lock.notify_all()
        with self.lock:
            self.ended = True
            self.lock.notify_all()

    def prompt(self, timeout: float = TIMEOUT) -> str | None:
        """What the CLI printed up to its next prompt; None if it ended (or timed out) first."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while PROMPT not in self.seen[self.read :]:
                left = deadline - time.monotonic()
                if self.ended or left <= 0:
                    return None
                self.lock.wait(min(left, 1.0))
            end = self.seen.index(PROMPT, self.read)
            said, self.read = self.seen[self.read : end], end + len(PROMPT)
            return said

    def type(self, line: str) -> str | None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self.prompt()

    def start(self) -> str | None:
        """Up to the first prompt; the nodes' names (Mininet's ``nodes``) learnt."""
        said = self.prompt()
        if said is not None:
            listed = self.type("nodes") or ""
            self.nodes = set(listed.split("available nodes are:")[-1].split())
        return said

    def run(self, command: Command) -> tuple[str, int | None]:
        if self.jobs:
            time.sleep(STUDENT_PACE)
        self.jobs |= command.text.rstrip().endswith("&")
        said = self.type(command.text)
        if said is None:
            return self.rest(), None
        node = command.text.split()[0]
        if node not in self.nodes:
            return said, 0
        status = self.type(f"{node} echo {STATUS}$?") or ""
        found = re.search(rf"{STATUS}(\d+)", status)
        return said, int(found.group(1)) if found else None

    def rest(self) -> str:
        with self.lock:
            said, self.read = self.seen[self.read :], len(self.seen)
            return said

    def close(self) -> tuple[str, int]:
        """``exit`` typed; what the lab printed while it stopped, and its exit status."""
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write(b"exit\n")
            self.proc.stdin.close()
        try:
            status = self.proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            status = self.proc.wait()
        return self.rest(), status


def shell(command: Command, cwd: Path) -> tuple[str, int | None]:
    try:
        proc = subprocess.run(
            ["bash", "-c", command.text], cwd=cwd, env=student_env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # what it printed so far comes as bytes
        said = [x.decode(errors="replace") if isinstance(x, bytes) else x or "" for x in (exc.stdout, exc.stderr)]
        return "".join(said), None
    made = MAKE_ERROR.findall(proc.stdout + proc.stderr)
    status = int(made[-1]) if made and proc.returncode == 2 else proc.returncode
    return proc.stdout + proc.stderr, status


def checkout(work: Path) -> Path:
    """``work`` as a student's checkout: a link to each of the repository's top-level entries."""
    work.mkdir(parents=True, exist_ok=True)
    for entry in REPO.iterdir():
        if not re.fullmatch(r"lab\d+-work", entry.name) and not (work / entry.name).exists():
            (work / entry.name).symlink_to(entry)
    return work


def written(number: int, cwd: Path) -> None:
    """The files lab ``number``'s handout has the student write, from its reference submission."""
    folder = registry.find(number)
    for name in STUDENT_FILES.get(folder.number, ()):
        mine = cwd / f"lab{folder.number}-work" / name
        if not mine.exists() and (folder.path / "solution" / name).is_file():
            mine.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder.path / "solution" / name, mine)


def play(number: int, student: str, cwd: Path, say: Callable[[str], None]) -> list[Outcome]:
    """Every command of lab ``number``'s handout run as written, in ``cwd``; one outcome each."""
    todo = commands(number, student)
    written(number, cwd)
    last_cli = max((i for i, c in enumerate(todo) if c.cli), default=-1)
    outcomes: list[Outcome] = []
    session: Session | None = None
    opened: tuple[Command, float] | None = None

    def done(command: Command, started: float, output: str, status: int | None, why: str | None = None) -> None:
        failure = why or (judge(command, output, status) if status is not None else "no answer (it ended or hung)")
        outcome = Outcome(command, time.monotonic() - started, failure, output)
        outcomes.append(outcome)
        mark = "ran   " if failure is None else "FAILED"
        say(f"{mark} {outcome.seconds:6.1f}s  line {command.line:3}: {'mininet> ' * command.cli}{command.text}"
            + f"  ({failure})" * (failure is not None))  # fmt: skip

    for i, command in enumerate(todo):
        started = time.monotonic()
        if command.cli and session is None:
            done(command, started, "", None, "typed where no Mininet CLI is open")
        elif command.cli and session is not None:
            done(command, started, *session.run(command))
        elif MAKE_LAB.match(command.text) and i < last_cli:
            session, opened = Session(command.text, cwd), (command, started)
            if session.start() is None:
                output, status = session.close()
                done(command, started, output, status, judge(command, output, status) or "no Mininet CLI opened")
                session = None
            else:
                say(f"...    {time.monotonic() - started:6.1f}s  line {command.line:3}: {command.text}  (CLI open)")
        else:
            done(command, started, *shell(command, cwd))
        if session is not None and opened is not None and i == last_cli:
            output, status = session.close()
            done(opened[0], opened[1], output, status)
            session = None
    return outcomes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m labs walkthrough", description=__doc__.split("\n\n")[0])
    p.add_argument("lab")
    p.add_argument("--student", required=True)
    p.add_argument("--work", help="play it in this folder, linked to the repository (default: the repository)")
    args = p.parse_args(argv)
    try:
        number = registry.find(args.lab).number
        student = student_id(args.student)
        cwd = checkout(Path(args.work).resolve()) if args.work else REPO
        started = time.monotonic()
        outcomes = play(number, student, cwd, lambda line: print(line, flush=True))
    except BadInput as exc:
        print(f"kzlab: error: {exc}", file=sys.stderr)
        return 2
    failed = [o for o in outcomes if o.failure]
    for o in failed:
        print(f"--- line {o.command.line}: {o.command.text}\n{o.output.strip()[-1500:]}")
    log = cwd / f"lab{number}-work" / "walkthrough.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"--- line {o.command.line}: {o.command.text}\n{o.output}\n" for o in outcomes))
    print(f"kzlab: every command's output: {log}")
    print(f"kzlab: walkthrough of lab {number} for {student}: {len(outcomes) - len(failed)} of {len(outcomes)} "
          f"commands ran as written, {len(failed)} failed, in {time.monotonic() - started:.0f} s")  # fmt: skip
    return 1 if failed else 0
