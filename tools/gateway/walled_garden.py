"""The walled garden: subscribers without the national certificate see only the portal.

In 2019 ISPs showed subscribers a stub page asking them to install the certificate
(kazakhstan.md 1.1); in 2020 Beeline, Tele2 and Kcell redirected users to installation
pages (section 2). Here a walled subscriber's plain HTTP is redirected (DNAT) to the
portal, which answers with that stub page, and every HTTPS connection it makes is
intercepted whatever its name, so it fails until the national root is installed. The
first handshake the subscriber completes with the national chain lets it out.
"""

from __future__ import annotations

import ipaddress
import subprocess
import threading

from tools.gateway.surveillance import Log

CHAIN = "KZ_WALLED"


def _nat(*args: str, check: bool = True) -> None:
    subprocess.run(["iptables", "-w", "-t", "nat", *args], check=check, capture_output=True)


class WalledGarden:
    def __init__(self, portal: str | None, blocks: list[str], log: Log) -> None:
        self.portal = portal
        self.blocks = [ipaddress.IPv4Network(b) for b in blocks]
        self.walled: set[str] = set()
        self.released: set[str] = set()
        self.log = log
        self.lock = threading.Lock()

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
        _nat("-N", CHAIN)
        _nat("-I", "PREROUTING", "-p", "tcp", "--dport", "80", "-j", CHAIN)
        _nat("-A", *self._masquerade())
        for block in self.blocks:
            _nat("-A", CHAIN, *self._dnat(str(block)))
            self.log.write("walled", str(block), reason="redirected to the portal from the start")

    def remove(self) -> None:
        _nat("-D", "PREROUTING", "-p", "tcp", "--dport", "80", "-j", CHAIN, check=False)
        _nat("-D", *self._masquerade(), check=False)
        _nat("-F", CHAIN, check=False)
        _nat("-X", CHAIN, check=False)

    def contains(self, subscriber: str) -> bool:
        with self.lock:
            if subscriber in self.released:
                return False
            ip = ipaddress.IPv4Address(subscriber)
            return subscriber in self.walled or any(ip in b for b in self.blocks)

    def wall(self, subscriber: str, reason: str) -> None:
        with self.lock:
            if subscriber in self.walled:
                return
            self.walled.add(subscriber)
            if subscriber in self.released:
                self.released.discard(subscriber)
                _nat("-D", CHAIN, "-s", subscriber, "-j", "RETURN", check=False)
            _nat("-A", CHAIN, *self._dnat(subscriber))
        self.log.write("walled", subscriber, reason=reason)

    def release(self, subscriber: str) -> None:
        if not self.contains(subscriber):
            return
        with self.lock:
            if subscriber in self.walled:
                self.walled.discard(subscriber)
                _nat("-D", CHAIN, *self._dnat(subscriber), check=False)
            if any(ipaddress.IPv4Address(subscriber) in b for b in self.blocks):
                self.released.add(subscriber)
                _nat("-I", CHAIN, "1", "-s", subscriber, "-j", "RETURN")
        self.log.write("released", subscriber, reason="completed a handshake with the national chain")
