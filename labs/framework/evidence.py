"""The packets of a capture that prove a censor acted: what a student's pcap is graded on.

The capture goes through the censor's own logic offline (tools.censors.offline.grade, the
code the live censor runs), which says which packets it would act on; then the capture
itself must show the censor's tell-tale reply to each, not just a request:

| censor | the proof in the capture |
|---|---|
| ResetTrafficForTLSSNI | a RST from the server's address within 2 s of the ClientHello, before any server data |
| DropTrafficForTLSSNI | the ClientHello sent again (retransmitted), nothing from the server for 2 s after it |
| DropTrafficForServerEndpoint | a SYN sent again, nothing from the address in that flow |
| BlockpageForHTTPHost | the block page's title in a segment from the server's address |
| ThrottleTrafficForTLSSNI | the server's first data 2 s or more after the ClientHello |
| SpoofDNSResponse | two answers to one query, the first's addresses not the last's |
| ResolverBlocklist | the resolver's answer to the query: NXDOMAIN, or the censor's redirect address |

Packets are numbered from 1 in capture order, as Wireshark numbers frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scapy.layers.dns import DNS

from tools.censors.base import Censor
from tools.censors.blockpage_for_http_host import PAGE
from tools.censors.offline import grade
from tools.censors.registry import CENSORS
from tools.dpi import ipv4
from tools.dpi.pcap import Capture, CaptureError, Frame
from tools.lab.steps import Step

SLOW_S = 2.0  # OONI's throttling threshold for a TLS handshake (kazakhstan.md section 3)
SILENCE_S = 2.0
RESET_WITHIN_S = 2.0
BLOCKPAGE_TITLE = PAGE[PAGE.index(b"<title>") + 7 : PAGE.index(b"</title>")]


@dataclass(frozen=True)
class Numbered:
    n: int
    time: float
    pkt: ipv4.Packet
    raw: bytes


@dataclass(frozen=True)
class Evidence:
    """A packet that proves the censor acted (``packet``), the one it acted on
    (``trigger``), and a sentence saying what it shows."""

    packet: int
    trigger: int
    what: str


@dataclass(frozen=True)
class Finding:
    """What a capture shows for a censor: its evidence, and how many packets the censor
    acted on (so a hint can tell "nothing the censor acts on" from "no proof")."""

    evidence: tuple[Evidence, ...]
    acted_on: int


def censor_of(step: Step) -> Censor:
    """The censor an attach step makes, as the live lab makes it."""
    return CENSORS[step.censor](**step.params)


def read(path: Path) -> list[Numbered]:
    """Every IPv4 packet of a capture with its frame number; CaptureError if unreadable."""
    with Capture(path) as capture:
        out = []
        for n, frame in enumerate(capture.frames(), start=1):
            pkt = ipv4.parse(frame.ip) if frame.ip else None
            if pkt is not None and frame.ip is not None:
                out.append(Numbered(n, frame.time, pkt, frame.ip))
    if not out:
        raise CaptureError("no IPv4 packet in it")
    return out


def find(censor: Censor, path: Path) -> Finding:
    """The evidence ``censor`` explains in the capture at ``path`` (CaptureError if unreadable)."""
    packets = read(path)
    frames = [Frame(p.time, p.raw, False) for p in packets]
    acted = [v for v in grade(censor, frames) if v["note"] and not v["note"].startswith("flow ")]
    prove = PROOFS[censor.name]
    evidence = []
    for v in acted:
        found = prove(censor, packets[v["packet"] - 1], packets)
        if found is not None:
            evidence.append(found)
    return Finding(tuple(evidence), len(acted))


def _after(trigger: Numbered, packets: list[Numbered]) -> list[Numbered]:
    return [p for p in packets if p.n > trigger.n]


def _from_server(trigger: Numbered, p: Numbered) -> bool:
    return p.pkt.key == trigger.pkt.reverse_key


def _reset(_censor: Censor, trigger: Numbered, packets: list[Numbered]) -> Evidence | None:
    for p in _after(trigger, packets):
        if not _from_server(trigger, p):
            continue
        if p.pkt.payload:
            return None  # the server answered: whatever reset came later is not the censor's
        if p.pkt.flags & ipv4.RST and p.time - trigger.time <= RESET_WITHIN_S:
            ms = (p.time - trigger.time) * 1000
            return Evidence(p.n, trigger.n, f"RST from {p.pkt.src}:{p.pkt.sport} {ms:.1f} ms after the ClientHello")
    return None


def _retransmitted_unanswered(trigger: Numbered, packets: list[Numbered]) -> tuple[int, float] | None:
    """(how many times the trigger was sent again, over how long) if nothing came back."""
    again = [p for p in _after(trigger, packets) if p.pkt.key == trigger.pkt.key and p.pkt.seq == trigger.pkt.seq]
    if not again or any(_from_server(trigger, p) for p in _after(trigger, packets)):
        return None
    return len(again), again[-1].time - trigger.time


def _silence(_censor: Censor, trigger: Numbered, packets: list[Numbered]) -> Evidence | None:
    seen = _retransmitted_unanswered(trigger, packets)
    if seen is None or seen[1] < SILENCE_S:
        return None
    return Evidence(trigger.n, trigger.n, f"ClientHello sent {seen[0] + 1} times over {seen[1]:.1f} s, no answer")


def _unreachable(_censor: Censor, trigger: Numbered, packets: list[Numbered]) -> Evidence | None:
    if not trigger.pkt.tcp or not trigger.pkt.flags & ipv4.SYN:
        return None
    seen = _retransmitted_unanswered(trigger, packets)
    if seen is None:
        return None
    return Evidence(trigger.n, trigger.n, f"SYN to {trigger.pkt.dst} sent {seen[0] + 1} times, never answered")


def _blockpage(_censor: Censor, trigger: Numbered, packets: list[Numbered]) -> Evidence | None:
    for p in _after(trigger, packets):
        if _from_server(trigger, p) and BLOCKPAGE_TITLE in p.pkt.payload:
            return Evidence(p.n, trigger.n, f"block page ({BLOCKPAGE_TITLE.decode()}) from {p.pkt.src}")
    return None


def _throttled(_censor: Censor, trigger: Numbered, packets: list[Numbered]) -> Evidence | None:
    for p in _after(trigger, packets):
        if _from_server(trigger, p) and p.pkt.payload:
            late = p.time - trigger.time
            return (
                Evidence(p.n, trigger.n, f"server's first data {late:.1f} s after the ClientHello")
                if late >= SLOW_S
                else None
            )
    return None


def _answers(trigger: Numbered, packets: list[Numbered]) -> list[tuple[Numbered, DNS]]:
    """The DNS answers to the trigger's query (same ports, same id), in capture order."""
    query = _dns(trigger.pkt.payload)
    if query is None:
        return []
    out = []
    for p in _after(trigger, packets):
        if p.pkt.udp and _from_server(trigger, p):
            answer = _dns(p.pkt.payload)
            if answer is not None and answer.qr == 1 and answer.id == query.id:
                out.append((p, answer))
    return out


def _dns(payload: bytes) -> DNS | None:
    try:
        return DNS(payload)
    except Exception:  # noqa: BLE001 - a student's capture may hold anything on port 53
        return None


def addresses(answer: DNS) -> set[str]:
    out = set()
    for i in range(answer.ancount or 0):
        try:
            record = answer.an[i]
        except (IndexError, TypeError):
            break
        if getattr(record, "type", None) == 1:
            out.add(str(record.rdata))
    return out


def _spoofed(_censor: Censor, trigger: Numbered, packets: list[Numbered]) -> Evidence | None:
    answers = _answers(trigger, packets)
    if len(answers) < 2:
        return None
    (first, forged), (_, real) = answers[0], answers[-1]
    if addresses(forged) == addresses(real):
        return None
    shown = ", ".join(sorted(addresses(forged))) or "no address"
    return Evidence(first.n, trigger.n, f"first of {len(answers)} answers to one query ({shown}), then another")


def _resolver(censor: Censor, trigger: Numbered, packets: list[Numbered]) -> Evidence | None:
    redirect = censor.params.get("address")
    for p, answer in _answers(trigger, packets)[:1]:
        if redirect is None and answer.rcode == 3:
            return Evidence(p.n, trigger.n, f"NXDOMAIN from the resolver {p.pkt.src}")
        if redirect is not None and redirect in addresses(answer):
            return Evidence(p.n, trigger.n, f"the resolver {p.pkt.src} answers {redirect}")
    return None


PROOFS: dict[str, Callable[[Censor, Numbered, list[Numbered]], Evidence | None]] = {
    "ResetTrafficForTLSSNI": _reset,
    "DropTrafficForTLSSNI": _silence,
    "DropTrafficForServerEndpoint": _unreachable,
    "BlockpageForHTTPHost": _blockpage,
    "ThrottleTrafficForTLSSNI": _throttled,
    "SpoofDNSResponse": _spoofed,
    "ResolverBlocklist": _resolver,
}
