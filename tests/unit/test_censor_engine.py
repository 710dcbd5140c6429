"""The engine's one trip per packet (tools/censors/engine.py), without root: every censor
that selected a packet (its bit in the packet's mark) decides it in turn, in the
kernel's chain order, and one verdict carries every decided flow's mark back to the
chains (tools/censors/queue.py); the rules that make that happen in the kernel."""

from __future__ import annotations

import io
import json
from typing import Any

from tools.censors.base import Decision
from tools.censors.engine import Engine
from tools.censors.queue import CENSOR_BITS, CLOSED, DROP_NOW, OPEN, VERDICT, QueueCensor, marks
from tools.dpi import ipv4
from tools.dpi.ipv4 import ACK, PSH

CLIENT, SERVER = "95.56.1.1", "87.240.132.72"
DEVICE_BITS = 0x3  # the interception device's marks: the engine must leave them as they are


class Scripted(QueueCensor):
    """A censor whose decision is given, and that notes every packet it is asked about."""

    def __init__(self, decision: Decision, **params: Any) -> None:
        super().__init__(**params)
        self.decision, self.asked = decision, 0

    def selection(self) -> list[str]:
        return ["-p tcp --dport 443"]

    def decide(self, pkt: ipv4.Packet, flows: dict[tuple, str]) -> Decision:
        self.asked += 1
        if isinstance(self.decision, Exception):
            raise self.decision
        return self.decision


class Queued:
    """A packet as netfilterqueue hands it over, recording its verdict and mark."""

    def __init__(self, mark: int, payload: bytes | None = None) -> None:
        self.payload = payload if payload is not None else segment()
        self.mark, self.verdicts = mark, list[str]()

    def get_payload(self) -> bytes:
        return self.payload

    def get_mark(self) -> int:
        return self.mark

    def set_mark(self, mark: int) -> None:
        self.mark = mark

    def accept(self) -> None:
        self.verdicts.append("accept")

    def drop(self) -> None:
        self.verdicts.append("drop")

    def repeat(self) -> None:
        self.verdicts.append("repeat")


class Injector:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, packet: Any) -> None:
        self.sent.append(bytes(packet))


def segment() -> bytes:
    return ipv4.tcp_segment(CLIENT, 40000, SERVER, 443, 1, 1, PSH | ACK, b"\x16\x03\x01" + bytes(80)).data


def engine_with(*censors: QueueCensor) -> tuple[Engine, list[io.StringIO]]:
    """An engine serving ``censors`` as censors 1, 2, ... attached in that order (so the
    last one's chain comes first)."""
    engine, logs = Engine(Injector()), []
    for index, censor in enumerate(censors, 1):
        logs.append(io.StringIO())
        engine.add(censor, index, logs[-1])
    return engine, logs


def selected(*indices: int) -> int:
    return sum(marks(i)[0] for i in indices) | DEVICE_BITS


def test_every_censor_that_selected_a_packet_decides_it_in_one_trip() -> None:
    first, second, idle = (Scripted(Decision(flow="pass")) for _ in range(3))
    engine, _ = engine_with(first, second, idle)
    pkt = Queued(selected(1, 2))
    engine.handle(pkt)
    assert (first.asked, second.asked, idle.asked) == (1, 1, 0)
    assert pkt.verdicts == ["repeat"]  # once, back through the chains, which save both marks
    assert pkt.mark == VERDICT | marks(1)[0] | marks(2)[0] | DEVICE_BITS


def test_a_blocking_censor_ends_the_turn_and_those_behind_it_never_see_the_packet() -> None:
    behind = Scripted(Decision(flow="pass"))
    blocker = Scripted(Decision("drop", flow="block", note="reset: SNI facebook.com"))
    engine, logs = engine_with(behind, blocker)  # blocker attached last: its chain is first
    pkt = Queued(selected(1, 2))
    engine.handle(pkt)
    assert (blocker.asked, behind.asked) == (1, 0)
    assert pkt.verdicts == ["repeat"] and pkt.mark == VERDICT | marks(2)[1] | DEVICE_BITS  # no "selected" bit left
    assert [json.loads(line)["note"] for line in logs[1].getvalue().splitlines()] == ["reset: SNI facebook.com"]
    assert logs[0].getvalue() == ""


def test_a_dropped_packet_still_carries_the_flows_decided_before_it() -> None:
    dropper, passer = Scripted(Decision("drop")), Scripted(Decision(flow="pass"))
    engine, _ = engine_with(dropper, passer)
    pkt = Queued(selected(1, 2))
    engine.handle(pkt)
    assert pkt.verdicts == ["repeat"] and pkt.mark == VERDICT | DROP_NOW | marks(2)[0] | DEVICE_BITS
    alone = Queued(selected(1))
    engine.handle(alone)
    assert alone.verdicts == ["drop"]


def test_a_packet_no_served_censor_selected_is_accepted_as_it_is() -> None:
    censor = Scripted(Decision("drop", flow="block"))
    engine, _ = engine_with(censor)
    pkt = Queued(selected(5))
    engine.handle(pkt)
    assert censor.asked == 0 and pkt.verdicts == ["accept"]


def test_a_censor_that_fails_open_leaves_the_packet_to_the_next_one_and_a_fail_closed_one_drops_it() -> None:
    after, failing = Scripted(Decision(flow="pass")), Scripted(UnicodeError("label too long"))  # type: ignore[arg-type]
    engine, logs = engine_with(after, failing)
    pkt = Queued(selected(1, 2))
    engine.handle(pkt)
    assert after.asked == 1 and pkt.verdicts == ["repeat"] and pkt.mark & CENSOR_BITS == marks(1)[0]
    assert json.loads(logs[1].getvalue())["note"] == "failure verdict: UnicodeError in decide"
    closed = Scripted(UnicodeError("label too long"), fail_closed=True)  # type: ignore[arg-type]
    engine, _ = engine_with(after, closed)
    pkt = Queued(selected(1, 2))
    engine.handle(pkt)
    assert after.asked == 1 and pkt.verdicts == ["drop"]


def test_an_unreadable_packet_gets_each_selecting_censors_failure_verdict() -> None:
    opened, closed = Scripted(Decision(flow="pass")), Scripted(Decision(flow="pass"), fail_closed=True)
    engine, logs = engine_with(closed, opened)
    pkt = Queued(selected(1, 2), payload=b"\xff" * 7)
    engine.handle(pkt)
    assert (opened.asked, closed.asked) == (0, 0) and pkt.verdicts == ["drop"] and engine.unreadable == 1
    assert all(json.loads(log.getvalue())["note"] == "failure verdict: unreadable packet" for log in logs)


def test_a_held_packet_is_decided_by_the_censors_behind_the_holder_when_it_is_let_go() -> None:
    behind, holder = Scripted(Decision(flow="pass")), Scripted(Decision(flow="throttle", delay=60.0))
    engine, _ = engine_with(behind, holder)
    pkt = Queued(selected(1, 2))
    engine.handle(pkt)
    other = Queued(selected(1))
    engine.handle(other)  # the loop goes on deciding meanwhile
    engine.release_due()
    assert pkt.verdicts == [] and behind.asked == 1 and other.verdicts == ["repeat"]
    assert engine.wait() == 0.5  # due in a minute: the loop sleeps its longest
    engine.release_due(everything=True)
    assert behind.asked == 2 and pkt.verdicts == ["repeat"]
    assert pkt.mark == VERDICT | marks(1)[0] | holder.flow_mark("throttle", 2) | DEVICE_BITS


def test_a_censor_detached_lets_the_packets_it_holds_go_at_once() -> None:
    behind, holder = Scripted(Decision(flow="pass")), Scripted(Decision(flow="throttle", delay=60.0))
    engine, _ = engine_with(behind, holder)
    pkt = Queued(selected(1, 2))
    engine.handle(pkt)
    engine.remove(2)
    engine.release_due()
    assert pkt.verdicts == ["repeat"] and behind.asked == 1
    later = Queued(selected(1, 2))
    engine.handle(later)
    assert holder.asked == 1 and later.verdicts == ["repeat"]


def test_the_rules_select_before_the_verdict_and_queue_once_after_every_chain() -> None:
    opened, closed = Scripted(Decision()), Scripted(Decision(), fail_closed=True)
    done, block = marks(3)
    rules = [" ".join(r) for r in opened.rules(3)]
    assert f"-A KZC3 -p tcp --dport 443 -m mark --mark 0x0/{VERDICT:#x} -j MARK --or-mark {done:#x}" in rules
    assert f"-A KZC3 -m mark --mark {VERDICT | block:#x}/{VERDICT | block:#x} -j DROP" in rules
    queue = f"-m mark --mark {done:#x}/{done | VERDICT:#x} -j NFQUEUE --queue-num 103"
    assert f"-I {OPEN} {queue} --queue-bypass" in rules  # fail open: the newest first
    assert f"-A {CLOSED} {queue}" in [" ".join(r) for r in closed.rules(3)]  # fail closed: the oldest first
    assert rules[-1] == "-I FORWARD -j KZC3"
    assert ["-D", OPEN, *queue.split(), "--queue-bypass"] in opened.cleanup(3)
