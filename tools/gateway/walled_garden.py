"""The walled garden: subscribers without the national certificate see only the portal.

In 2019 ISPs showed subscribers a stub page asking them to install the certificate
(kazakhstan.md 1.1); in 2020 Beeline, Tele2 and Kcell redirected users to installation
pages (section 2). Here a walled subscriber's plain HTTP is redirected (DNAT) to the
portal, which answers with that stub page, and every HTTPS connection it makes is
intercepted whatever its name, so it fails until the national root is installed. The
first handshake the subscriber completes with the national chain lets it out.

The device consults the garden on its packet loop, so ``contains`` only reads two sets
under a lock held for no more than a set operation; the iptables changes that walling
and releasing need run on a thread of their own, in order, from a queue, never while
that lock is held (DESIGN principle 8: no blocking call on a packet loop).

A subscriber walled or released one by one costs an entry and an iptables rule, and
with enforcement any address whose handshake fails is walled, spoofed ones included; so
at most ``limit`` subscribers are (MAX_SUBSCRIBERS). Past it, the garden stays as it is:
a subscriber who rejects the chain is not walled, one who accepts it is not let out of a
walled block (said once on stderr).
"""

from __future__ import annotations

import ipaddress
import queue
import subprocess
import sys
import threading

from tools.gateway.surveillance import Log

CHAIN = "KZ_WALLED"
MAX_SUBSCRIBERS = 4096  # walled or released one by one, at most


def _nat(*args: str, check: bool = True) -> None:
    subprocess.run(["iptables", "-w", "-t", "nat", *args], check=check, capture_output=True)


class WalledGarden:
    def __init__(self, portal: str | None, blocks: list[str], log: Log, limit: int = MAX_SUBSCRIBERS) -> None:
        self.portal = portal
        self.blocks = [ipaddress.IPv4Network(b) for b in blocks]
        self.walled: set[str] = set()
        self.released: set[str] = set()
        self.limit, self.full_said = limit, False
        self.log = log
        self.lock = threading.Lock()  # guards the two sets only, never an iptables call
        self.changes: queue.Queue[tuple[str, ...] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._apply, daemon=True, name="walled-garden")

    def _dnat(self, source: str) -> list[str]:
        return [
            "-s",
            source,
            "-p",
            "tcp",
            "--dport",
            "80",
            "-j",
            "DNAT",
            "--to-destination",
            f"{self.portal}:80",
        ]

    def _masquerade(self) -> list[str]:
        """The portal may answer subscribers by a path that skips the gateway (it does in
        kz_isp): redirected flows leave with the gateway's address so replies come back."""
        return [
            "POSTROUTING",
            "-d",
            f"{self.portal}/32",
            "-p",
            "tcp",
            "--dport",
            "80",
            "-m",
            "conntrack",
            "--ctstate",
            "DNAT",
            "-j",
            "MASQUERADE",
        ]

    def install(self) -> None:
        """Install the chain (before the device's loop starts) and start the rule thread."""
        _nat("-N", CHAIN)
        _nat("-I", "PREROUTING", "-p", "tcp", "--dport", "80", "-j", CHAIN)
        _nat("-A", *self._masquerade())
        for block in self.blocks:
            _nat("-A", CHAIN, *self._dnat(str(block)))
            self.log.write("walled", str(block), reason="redirected to the portal from the start")
        self.thread.start()

    def remove(self) -> None:
        """Apply the changes still queued, stop the rule thread, take the chain out."""
        if self.thread.is_alive():
            self.changes.put(None)
            self.thread.join()
        _nat("-D", "PREROUTING", "-p", "tcp", "--dport", "80", "-j", CHAIN, check=False)
        _nat("-D", *self._masquerade(), check=False)
        _nat("-F", CHAIN, check=False)
        _nat("-X", CHAIN, check=False)

    def _apply(self) -> None:
        while (args := self.changes.get()) is not None:
            _nat(*args, check=False)

    def _in_blocks(self, subscriber: str) -> bool:
        ip = ipaddress.IPv4Address(subscriber)
        return any(ip in b for b in self.blocks)

    def contains(self, subscriber: str) -> bool:
        with self.lock:
            if subscriber in self.released:
                return False
            if subscriber in self.walled:
                return True
        return self._in_blocks(subscriber)

    def _full(self, subscriber: str) -> bool:
        """Under the lock: whether the garden holds ``limit`` subscribers, not this one."""
        if (
            len(self.walled) + len(self.released) < self.limit
            or subscriber in self.walled
            or subscriber in self.released
        ):
            return False
        if not self.full_said:
            self.full_said = True
            print(f"walled garden: {self.limit} subscribers, no more walled or released", file=sys.stderr, flush=True)
        return True

    def wall(self, subscriber: str, reason: str) -> None:
        with self.lock:
            if subscriber in self.walled or self._full(subscriber):
                return
            self.walled.add(subscriber)
            was_released = subscriber in self.released
            self.released.discard(subscriber)
        if was_released:
            self.changes.put(("-D", CHAIN, "-s", subscriber, "-j", "RETURN"))
        self.changes.put(("-A", CHAIN, *self._dnat(subscriber)))
        self.log.write("walled", subscriber, reason=reason)

    def release(self, subscriber: str) -> None:
        in_blocks = self._in_blocks(subscriber)
        with self.lock:
            if (
                subscriber in self.released
                or (subscriber not in self.walled and not in_blocks)
                or self._full(subscriber)
            ):
                return
            was_walled = subscriber in self.walled
            self.walled.discard(subscriber)
            if in_blocks:
                self.released.add(subscriber)
        if was_walled:
            self.changes.put(("-D", CHAIN, *self._dnat(subscriber)))
        if in_blocks:
            self.changes.put(("-I", CHAIN, "1", "-s", subscriber, "-j", "RETURN"))
        self.log.write("released", subscriber, reason="completed a handshake with the national chain")
