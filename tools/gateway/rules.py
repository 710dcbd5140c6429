"""The interception device's kernel fast path: which packets go to its queue, and how a
taken-over connection's later packets reach its socket. Installed in the gateway node's
own namespace; ``remove`` takes out exactly what ``install`` put in.

- mangle PREROUTING -> KZ_MITM: a packet of a connection the device has taken over
  (``-m socket --transparent``) is marked for local delivery (a ``local`` route in
  table 100 for that mark, as TPROXY does); a connection already decided (connmark)
  leaves the chain; the device's own connections are never queued; port-443 packets of
  undecided flows and the servers' SYN-ACKs go to the queue, with --queue-bypass so
  traffic flows on if the device is gone (fail open).
- mangle FORWARD -> KZ_MITM_SAVE: the verdict's mark becomes the connection's mark.
"""

from __future__ import annotations

import subprocess

PORT = 443  # the servers' port whose flows the device watches
MARK_LOCAL = 0x1
MARK_PASS = 0x2
TABLE = 100
CHAIN, SAVE = "KZ_MITM", "KZ_MITM_SAVE"


def _queue(queue: int) -> str:
    return f"-j NFQUEUE --queue-num {queue} --queue-bypass"


def _rules(queue: int) -> list[str]:
    return [
        f"-N {CHAIN}",
        f"-A {CHAIN} -p tcp -m socket --transparent -j MARK --set-xmark {MARK_LOCAL:#x}/{MARK_LOCAL:#x}",
        f"-A {CHAIN} -m mark --mark {MARK_LOCAL:#x}/{MARK_LOCAL:#x} -j RETURN",
        f"-A {CHAIN} -m connmark --mark {MARK_PASS:#x}/{MARK_PASS:#x} -j RETURN",
        f"-A {CHAIN} -m addrtype --dst-type LOCAL -j RETURN",
        f"-A {CHAIN} -p tcp --dport {PORT} {_queue(queue)}",
        f"-A {CHAIN} -p tcp --sport {PORT} --tcp-flags SYN,ACK SYN,ACK {_queue(queue)}",
        f"-I PREROUTING -j {CHAIN}",
        f"-N {SAVE}",
        f"-A {SAVE} -m mark --mark {MARK_PASS:#x}/{MARK_PASS:#x}"
        f" -j CONNMARK --save-mark --nfmask {MARK_PASS:#x} --ctmask {MARK_PASS:#x}",
        f"-I FORWARD -j {SAVE}",
    ]


def _iptables(rule: str, check: bool = True) -> None:
    subprocess.run(["iptables", "-w", "-t", "mangle", *rule.split()], check=check, capture_output=True)


def install(queue: int) -> None:
    for rule in _rules(queue):
        _iptables(rule)
    subprocess.run(
        ["ip", "rule", "add", "fwmark", f"{MARK_LOCAL:#x}/{MARK_LOCAL:#x}", "lookup", str(TABLE)], check=True
    )
    subprocess.run(["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", str(TABLE)], check=True)


def remove(queue: int) -> None:
    for rule in (
        f"-D PREROUTING -j {CHAIN}",
        f"-F {CHAIN}",
        f"-X {CHAIN}",
        f"-D FORWARD -j {SAVE}",
        f"-F {SAVE}",
        f"-X {SAVE}",
    ):
        _iptables(rule, check=False)
    subprocess.run(
        ["ip", "rule", "del", "fwmark", f"{MARK_LOCAL:#x}/{MARK_LOCAL:#x}", "lookup", str(TABLE)],
        capture_output=True,
    )
    subprocess.run(["ip", "route", "flush", "table", str(TABLE)], capture_output=True)
