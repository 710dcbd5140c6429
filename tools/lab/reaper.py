"""PID 1 of a lab's PID namespace: runs the lab's process and reaps every orphan.

In a PID namespace, a process whose parent has exited is handed to the namespace's PID 1:
a daemon started from a node's shell (``cmd & echo $!``), a student's censor started in
its own session (lab 3's ``run.py live``). The lab's own process, were it PID 1, would
never wait for them, so each one that ended would stay a zombie, which ``kill -0`` and a
look at /proc take for a running process. As a container's init does (tini,
dumb-init), this process starts the command, waits for every child it is handed, passes
SIGINT, SIGTERM and SIGHUP on to the command, and exits with the command's status once
it has ended (the kernel then ends whatever else is left in the namespace).

Only the standard library, so it starts fast with ``python -I -S``:

    python -I -S tools/lab/reaper.py COMMAND [ARG...]
"""

from __future__ import annotations

import os
import signal
import sys

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def start(argv: list[str]) -> int:
    """Fork and exec ``argv``; its PID (a child that cannot exec says why and exits 127)."""
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            print(f"kzlab: error: cannot run {argv[0]}: {exc.strerror}", file=sys.stderr)
        os._exit(127)
    return child


def reap_until(command: int) -> int:
    """Wait for every child until ``command`` ends; its exit status (128 + N for signal N)."""
    while True:
        pid, status = os.wait()  # the command is a child until this waits for it: never ECHILD
        if pid == command:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code


def main(argv: list[str]) -> int:
    if not argv:
        print("kzlab: error: usage: reaper.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    command: list[int] = []  # its PID once started; a signal before that has nobody to reach

    def forward(received: int, _frame: object) -> None:
        if command:
            os.kill(command[0], received)

    for signum in FORWARDED:  # exec gives the command back the default actions
        signal.signal(signum, forward)
    command.append(start(argv))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # the command's pipes end when the command ends, not when this does
        os.dup2(devnull, fd)
    return reap_until(command[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
