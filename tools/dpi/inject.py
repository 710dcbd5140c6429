"""Sending forged packets from a censor's node: one raw socket, opened once.

scapy's ``send()`` opens and closes a socket per call (tens of milliseconds each); a
censor that injects on its decision path keeps one raw IP socket instead and hands it
the packets it built (tools/dpi/ipv4.py's builders, or scapy's: anything with ``dst``
whose bytes are a whole IPv4 packet).
"""

from __future__ import annotations

import socket
import threading
from typing import Any


class Injector:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.lock = threading.Lock()

    def send(self, packet: Any) -> None:
        """Send an IPv4 packet as built (its source address may be anyone's)."""
        with self.lock:
            self.sock.sendto(bytes(packet), (packet.dst, 0))

    def close(self) -> None:
        self.sock.close()
