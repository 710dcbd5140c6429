"""Scenario runs the lab tests look at, played side by side (issue 10: the suite stays
well under 15 minutes).

A scenario run mostly waits: on the lab clock between phases, on probes' timeouts. So
the suite starts every run its selected tests need (each test says which with a ``play``
mark) as soon as the first of those tests starts, PARALLEL at a time, and each test waits
for its own. Those tests run before every other lab test (conftest.py orders them), so in
one process nothing else runs beside the plays; with workers they all run on one
(tests/conftest.py's group) while the others go on with other modules. A ``solo`` play
(its test compares handshake times or forges many keys at once) plays after the others,
one at a time.
"""

from __future__ import annotations

import hashlib
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.lab import support

PARALLEL = 3

Played = tuple[subprocess.CompletedProcess, dict, Path]


@dataclass(frozen=True)
class Play:
    """One ``python -m scenarios run NAME ARGS``."""

    name: str
    args: tuple[str, ...] = ()
    solo: bool = False

    @property
    def param(self) -> Any:
        """This play as a pytest parameter that carries its mark."""
        return pytest.param(self, marks=pytest.mark.play(self), id=self.name)


class Plays:
    """The runs of ``wanted``, started at once (PARALLEL at a time, solo ones after)."""

    def __init__(self, root: Path, wanted: list[Play]) -> None:
        self.root = root
        self.pools = [ThreadPoolExecutor(PARALLEL), ThreadPoolExecutor(1)]
        shared = {play: self.pools[0].submit(self._run, play) for play in wanted if not play.solo}
        self.futures: dict[Play, Future[Played]] = dict(shared)
        for play in (p for p in wanted if p.solo):
            self.futures[play] = self.pools[1].submit(self._after, list(shared.values()), play)

    def _after(self, others: list[Future[Played]], play: Play) -> Played:
        wait(others)
        return self._run(play)

    def _run(self, play: Play) -> Played:
        label = hashlib.sha256(repr(play).encode()).hexdigest()[:8]
        results = self.root / f"{play.name}-{label}"
        results.mkdir()
        return support.run_scenario(play.name, results, *play.args)

    def result(self, play: Play) -> Played:
        """``play``'s process, summary.json and results directory, once it has ended."""
        if play not in self.futures:  # a test not collected with its mark: play it now
            self.futures[play] = self.pools[0].submit(self._run, play)
        return self.futures[play].result()

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=True)
