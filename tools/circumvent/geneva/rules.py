"""The host's own iptables rules that hand its packets for one TCP port to the engine.

    OUTPUT -> GENEVA<queue>-OUT (outbound trees)
        -m mark --mark SENT/SENT -j NFQUEUE   the engine's own packets, back for their header
        -p tcp --dport PORT [--tcp-flags ALL F] -j NFQUEUE
    INPUT  -> GENEVA<queue>-IN (inbound trees)
        -p tcp --sport PORT [--tcp-flags ALL F] -j NFQUEUE

Only what a trigger can fire on leaves the kernel (DESIGN principle 6): when every tree
of a direction triggers on TCP flags, the rules select those flags only (a bulk
download's ACKs never cross into Python for ``[TCP:flags:PA]``); any other trigger
selects every packet of the port. Every NFQUEUE rule has --queue-bypass: with no engine
reading the queue the host's packets pass unchanged, so a dead engine leaves the host
working.
"""

from __future__ import annotations

import subprocess

from tools.circumvent.geneva import fields
from tools.circumvent.geneva.syntax import Tree

SENT = 0x10000000  # the mark on packets the engine sends (no other user in a lab host)
HOOKS = {"out": "OUTPUT", "in": "INPUT"}


def chain(queue: int, direction: str) -> str:
    return f"GENEVA{queue}-{direction.upper()}"


# TCP flag bits 0-5 as iptables names them; it has no match for ECE, CWR and NS (bits 6-8),
# so a selection ignores those bits and the trigger checks them.
IPTABLES_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")


def selection(trees: tuple[Tree, ...]) -> list[str]:
    """iptables matches for the packets ``trees`` can fire on ("" for all of them)."""
    if any((t.trigger.proto, t.trigger.field) != ("TCP", "flags") for t in trees):
        return [""]
    out = []
    for tree in trees:
        value = fields.field("TCP", "flags").parse(tree.trigger.value)
        assert isinstance(value, int)
        names = [name for bit, name in enumerate(IPTABLES_FLAGS) if value >> bit & 1] or ["NONE"]
        if (match := f"--tcp-flags ALL {','.join(names)}") not in out:
            out.append(match)
    return out


def rules(port: int, queue: int, trees: dict[str, tuple[Tree, ...]]) -> list[list[str]]:
    """iptables arguments that install a chain for each direction ("out", "in") with trees."""
    to_queue = f"-j NFQUEUE --queue-num {queue} --queue-bypass"
    out = []
    for direction, forest in trees.items():
        if not forest:
            continue
        name = chain(queue, direction)
        out.append(f"-N {name}")
        if direction == "out":
            out.append(f"-A {name} -m mark --mark {SENT:#x}/{SENT:#x} {to_queue}")
        port_match = f"--dport {port}" if direction == "out" else f"--sport {port}"
        out += [f"-A {name} -p tcp {port_match} {match} {to_queue}" for match in selection(forest)]
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


def install(port: int, queue: int, trees: dict[str, tuple[Tree, ...]]) -> None:
    remove(queue)  # what an engine killed on this queue left
    for args in rules(port, queue, trees):
        iptables(args)


def remove(queue: int) -> None:
    for args in cleanup(queue):
        iptables(args, check=False)
