"""What a strategy is worth: the outcome of one fetch through it, minus what it costs.

A fetch through a strategy (worker.py) says what the client got, in a few words: the page
with the real certificate, the page with another chain (the national one), or how the
fetch failed. Compared with what the same fetch gets with no strategy (the baseline, the
censor's own effect), the outcome is

    evaded     the page came with the real certificate (the censor is got around)
    censored   what the baseline got (the censor acted as without a strategy)
    broken     anything else: the strategy broke the connection itself

and the fitness is OUTCOME_SCORE of it, minus ACTION_COST for each tree and each action
of the strategy (smaller strategies are better, as Geneva's punish_complexity), minus
PACKET_COST for each packet it adds to each packet it acts on (Geneva's overhead), at most
PACKETS_CHARGED. Packets are counted per packet acted on, not per fetch, because a fetch
does not always send as many: a segment retransmitted under load is split again, and the
fitness must not change with that, or two searches from one seed would part ways. Costs
are bounded by the size limits of operators.py, so any evasion scores above anything
that does not evade, and a censored fetch above a broken one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

REAL = "page, real certificate"
EVADED, CENSORED, BROKEN = "evaded", "censored", "broken"
OUTCOME_SCORE = {EVADED: 100, CENSORED: 0, BROKEN: -100}
ACTION_COST = 2
PACKET_COST = 1
PACKETS_CHARGED = 20


@dataclass(frozen=True)
class Probe:
    """One fetch through a strategy, as the worker reports it."""

    got: str  # REAL, "page, certificate from ...", or the failure ("timeout", ...)
    triggered: int  # packets a tree fired on
    made: int  # packets the strategy sent in their place
    seconds: float

    @property
    def added(self) -> int:
        """Packets added to each packet acted on (rounded; a drop adds none)."""
        return round(max(0, self.made - self.triggered) / self.triggered) if self.triggered else 0


@dataclass(frozen=True)
class Evaluation:
    """A strategy (by its canonical text), what its fetch got, and its fitness."""

    strategy: str
    outcome: str
    got: str
    actions: int
    added: int  # packets added to each packet acted on
    fitness: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def outcome(got: str, baseline: str) -> str:
    if got == REAL:
        return EVADED
    return CENSORED if got == baseline else BROKEN


def score(outcome: str, actions: int, added: int) -> int:
    return OUTCOME_SCORE[outcome] - ACTION_COST * actions - PACKET_COST * min(added, PACKETS_CHARGED)


def evaluate(strategy: str, actions: int, probe: Probe, baseline: str) -> Evaluation:
    """The evaluation of ``strategy`` (canonical text, ``actions`` its complexity) from
    its fetch ``probe`` against what the fetch got without a strategy, ``baseline``."""
    result = outcome(probe.got, baseline)
    return Evaluation(
        strategy, result, probe.got, actions, probe.added, score(result, actions, probe.added), probe.seconds
    )
