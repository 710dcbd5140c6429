"""The interception device's per-flow state, bounded in size and in time.

Every SYN the device sees makes a flow, and students can send SYNs from any address
(DESIGN principle 8), so the table is bounded three ways:

- idle expiry: a flow not seen for ``ttl`` seconds is dropped; every packet of the flow
  refreshes it (``get``). The table is an OrderedDict in least-recently-seen order, so
  expiry looks only at its oldest end and costs nothing per flow that stays;
- a maximum size: when it is full, a new flow evicts the least recently seen flow,
  whatever its state (a SYN flood evicts its own flows first, since real flows are
  refreshed by their packets); the caller passes the evicted flow's held packets on
  (fail open);
- a deadline on deciding: a flow whose decision (the device's own connection to the
  server) has not come back within ``decide_timeout`` is reported by ``expired`` so that
  its held packets are passed, whatever the worker is still doing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from tools.gateway.takeover import Segment

Key = tuple[str, int, str, int]  # client, client port, server, server port, as the first packet seen made them
HANDSHAKE, COLLECTING, DECIDING, DONE = "handshake", "collecting", "deciding", "done"


@dataclass(slots=True)
class Flow:
    seen: float
    client_options: bytes = b""  # raw TCP options of the client's SYN
    server_options: bytes = b""  # and of the server's SYN-ACK
    held: list = field(default_factory=list)  # netfilterqueue packets awaiting a verdict
    data: bytes = b""
    first: Segment | None = None
    state: str = HANDSHAKE
    sni: str | None = None
    handed_over: int | None = None  # taken over, its socket alive: the client's sequence number past what it was given

    def handed(self, seq: int, length: int) -> bool:
        """Whether a client segment (``seq``, ``length`` bytes) lies within what the
        takeover's socket was given: a retransmission the kernel queued before the socket
        existed (later ones reach the socket)."""
        if self.handed_over is None:
            return False
        return (self.handed_over - (seq + length)) & 0xFFFFFFFF < 0x80000000

    def done(self, handed_over: int | None = None) -> None:
        """Decided: the caller gave its held packets their verdicts (taken over: its socket
        was given the client's bytes up to ``handed_over``). It keeps no bytes: a decided
        flow stays in the table only so that its later packets get their verdict at once."""
        self.state, self.data, self.first, self.sni = DONE, b"", None, None
        self.handed_over = handed_over
        self.client_options = self.server_options = b""
        self.held.clear()


class FlowTable:
    def __init__(self, max_flows: int, ttl: float, decide_timeout: float) -> None:
        self.max_flows, self.ttl, self.decide_timeout = max_flows, ttl, decide_timeout
        self.flows: OrderedDict[Key, Flow] = OrderedDict()
        self.deadlines: OrderedDict[Key, float] = OrderedDict()  # deciding flows, by deadline

    def __len__(self) -> int:
        return len(self.flows)

    @property
    def deciding(self) -> int:
        return len(self.deadlines)

    def get(self, key: Key, now: float) -> Flow | None:
        """The flow, refreshed: a packet of it was seen at ``now``."""
        flow = self.flows.get(key)
        if flow is not None:
            flow.seen = now
            self.flows.move_to_end(key)
        return flow

    def peek(self, key: Key) -> Flow | None:
        """The flow, not refreshed (for a decision coming back, which is no packet)."""
        return self.flows.get(key)

    def new(self, key: Key, now: float) -> tuple[Flow, list[tuple[Key, Flow]]]:
        """A fresh flow for ``key``, and the flows it displaced: an older one with the same
        key, and the least recently seen one when the table is full."""
        displaced = []
        old = self.pop(key)
        if old is not None:
            displaced.append((key, old))
        while len(self.flows) >= self.max_flows:
            lru, flow = self.flows.popitem(last=False)
            self.deadlines.pop(lru, None)
            displaced.append((lru, flow))
        flow = self.flows[key] = Flow(now)
        return flow, displaced

    def pop(self, key: Key) -> Flow | None:
        self.deadlines.pop(key, None)
        return self.flows.pop(key, None)

    def start_deciding(self, key: Key, flow: Flow, now: float) -> None:
        flow.state = DECIDING
        self.deadlines[key] = now + self.decide_timeout

    def stop_deciding(self, key: Key) -> None:
        self.deadlines.pop(key, None)

    def expired(self, now: float) -> tuple[list[tuple[Key, Flow]], list[tuple[Key, Flow]]]:
        """Flows idle past the TTL (removed) and flows deciding past their deadline (kept,
        for the caller to pass), oldest first; looks only at what is due."""
        idle = []
        while self.flows:
            key, flow = next(iter(self.flows.items()))
            if now - flow.seen < self.ttl:
                break
            self.flows.popitem(last=False)
            self.deadlines.pop(key, None)
            idle.append((key, flow))
        overdue = []
        while self.deadlines:
            key, deadline = next(iter(self.deadlines.items()))
            if deadline > now:
                break
            self.deadlines.popitem(last=False)
            overdue.append((key, self.flows[key]))
        return idle, overdue
