"""Binding an NFQUEUE as every packet reader of the lab does (censor engines, the
interception device, the Geneva engine): one queue of QUEUE_LENGTH packets, copies of at
most COPY_BYTES (netfilterqueue reads each message, the copy and the kernel's metadata,
into 4 KiB and skips a longer one, whose packet would never get a verdict), and a receive
buffer sized for a full queue of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from netfilterqueue import NetfilterQueue

from tools.dpi.ipv4 import COPY_BYTES, QUEUE_LENGTH, QUEUE_SOCKET_BYTES


def bind(queue_num: int, callback: Callable[[Any], None]) -> NetfilterQueue:
    queue = NetfilterQueue()
    queue.bind(queue_num, callback, max_len=QUEUE_LENGTH, range=COPY_BYTES, sock_len=QUEUE_SOCKET_BYTES)
    return queue
