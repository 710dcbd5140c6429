"""Entering a lab node's network namespace from a thread of the lab process.

A socket belongs to the network namespace of the thread that makes it, so a thread that
has entered a node's namespace can talk to that node's services as a process inside the
node would, without starting one (Python 3.11 has no os.setns: libc's, through ctypes).
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def enter(pid: int) -> None:
    """Move the calling thread (only it) into the network namespace of process ``pid``."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into the network namespace of pid {pid}: {os.strerror(err)}")
    finally:
        os.close(fd)
