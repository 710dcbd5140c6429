"""Where the engine may change iptables: a lab host's network namespace, never the root one.

Two witnesses, each read from /proc: the kernel's own threads (kthreadd, PID 2 with no
parent, seen when /proc shows the root PID namespace) always live in the root network
namespace; and PID 1 is either the machine's init (root namespace) or, inside a lab, the
lab's init (reaper.py) in the lab's outer namespace, where no host runs. This process may go on
only if it shares its network namespace with neither and at least one could be read:
/proc/1/ns/net may be unreadable (a sandbox's init), and a lab host sees no kthreadd.
"""

from __future__ import annotations

import os
from pathlib import Path


def _namespace(pid: str) -> tuple[int, int] | None:
    try:
        st = os.stat(f"/proc/{pid}/ns/net")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _is_kthreadd(pid: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    name, _, rest = stat.partition(" (")[2].rpartition(") ")
    return name == "kthreadd" and rest.split()[1:2] == ["0"] and not cmdline


def refusal() -> str | None:
    """Why this process must not touch its network namespace; None if it is a lab host's."""
    own = _namespace("self")
    if own is None:
        return "cannot read this process's network namespace (/proc/self/ns/net)"
    witnesses = []
    if _is_kthreadd("2"):
        witnesses.append(("the root network namespace (the kernel threads')", _namespace("2")))
    witnesses.append(
        ("the network namespace of PID 1 (the machine's init, or a lab's outer namespace)", _namespace("1"))
    )
    for what, namespace in witnesses:
        if namespace == own:
            return f"this is {what}"
    if all(namespace is None for _, namespace in witnesses):
        return "cannot tell this network namespace from the root one (/proc/1/ns/net unreadable, no kthreadd)"
    return None
