"""What a method changes in its host besides its processes: commands run inside the host
(routes, iptables) and the host's resolver.

Everything acts inside the lab host's own namespaces: commands through the host's
``popen`` (its network namespace), and ``/etc/resolv.conf`` as the host sees it, which is
the host's private copy bind-mounted in its own mount namespace (topologies/build.py,
private_files). A host without that copy is refused rather than have the machine's own
resolv.conf rewritten.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from mininet.node import Node

from tools.circumvent.method import MethodError


def run(host: Node, argv: list[str], check: bool = True) -> str:
    """``argv`` inside ``host``, its output; MethodError with its last line if it fails
    and ``check``."""
    proc = host.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out = proc.communicate()[0].decode(errors="replace")
    if check and proc.returncode != 0:
        last = out.strip().splitlines()[-1] if out.strip() else "no output"
        raise MethodError(f"{' '.join(argv)}: exit {proc.returncode}: {last}")
    return out


class Resolver:
    """The host's resolver pointed elsewhere while a method is on, and restored after."""

    def __init__(self, host: Node) -> None:
        self.path = Path(f"/proc/{host.pid}/root/etc/resolv.conf")  # the file the host reads
        mine, its = os.stat("/etc/resolv.conf"), os.stat(self.path)
        if (mine.st_dev, mine.st_ino) == (its.st_dev, its.st_ino):
            raise MethodError(f"host {host.name} has no private /etc/resolv.conf: its resolver is left alone")
        self.saved: str | None = None

    def point(self, address: str) -> None:
        """Only ``address`` as nameserver; the options lines kept."""
        text = self.path.read_text()
        options = [line for line in text.splitlines() if not line.startswith("nameserver")]
        if self.saved is None:
            self.saved = text
        self.path.write_text("\n".join([f"nameserver {address}", *options, ""]))  # in place: the mount stays

    def restore(self) -> None:
        if self.saved is not None:
            self.path.write_text(self.saved)
            self.saved = None


CHECK_NAME = "google.com"  # any name the lab's DNS answers
ADDRESS_LINE = re.compile(r"^\d+\.\d+\.\d+\.\d+$", re.MULTILINE)


def answered(host: Node, server: str, tcp: bool) -> bool:
    """Whether ``server`` answers an A query for CHECK_NAME from ``host`` within a second."""
    argv = ["dig", "+short", "+time=1", "+tries=1", *(["+tcp"] if tcp else []), f"@{server}", CHECK_NAME]
    return ADDRESS_LINE.search(run(host, argv, check=False)) is not None
