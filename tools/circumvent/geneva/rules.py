"""The host's own iptables rules that hand its packets for one TCP port to the engine.

    OUTPUT -> GENEVA<queue>-OUT (outbound trees)
        -m mark --mark SENT/SENT -j NFQUEUE   the engine's own packets, back for their header
        -p tcp --dport PORT      -j NFQUEUE
    INPUT  -> GENEVA<queue>-IN (inbound trees)
        -p tcp --sport PORT      -j NFQUEUE

Every NFQUEUE rule has --queue-bypass: with no engine reading the queue the host's
packets pass unchanged, so a dead engine leaves the host working.
"""

from __future__ import annotations

import subprocess

SENT = 0x10000000  # the mark on packets the engine sends (no other user in a lab host)
HOOKS = {"out": "OUTPUT", "in": "INPUT"}


def chain(queue: int, direction: str) -> str:
    return f"GENEVA{queue}-{direction.upper()}"


def rules(port: int, queue: int, directions: list[str]) -> list[list[str]]:
    """iptables arguments that install the chains for ``directions`` ("out", "in")."""
    to_queue = f"-j NFQUEUE --queue-num {queue} --queue-bypass"
    out = []
    for direction in directions:
        name = chain(queue, direction)
        out.append(f"-N {name}")
        if direction == "out":
            out.append(f"-A {name} -m mark --mark {SENT:#x}/{SENT:#x} {to_queue}")
            out.append(f"-A {name} -p tcp --dport {port} {to_queue}")
        else:
            out.append(f"-A {name} -p tcp --sport {port} {to_queue}")
        out.append(f"-I {HOOKS[direction]} -j {name}")
    return [r.split() for r in out]


def cleanup(queue: int) -> list[list[str]]:
    """iptables arguments that remove whatever ``rules`` installed for ``queue``."""
    out = []
    for direction, hook in HOOKS.items():
        name = chain(queue, direction)
        out += [["-D", hook, "-j", name], ["-F", name], ["-X", name]]
    return out


def iptables(args: list[str], check: bool = True) -> None:
    subprocess.run(["iptables", "-w", *args], check=check, capture_output=True, text=True)


def install(port: int, queue: int, directions: list[str]) -> None:
    remove(queue)  # what an engine killed on this queue left
    for args in rules(port, queue, directions):
        iptables(args)


def remove(queue: int) -> None:
    for args in cleanup(queue):
        iptables(args, check=False)
