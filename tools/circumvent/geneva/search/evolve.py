"""The genetic search: a population of strategies, evolved generation by generation.

It starts empty: every individual is the strategy with no tree (what the client does
anyway; its fetch is the censor's baseline). Each generation draws parents by tournament
(the fittest of ``tournament`` drawn at random), lets pairs of them cross over (with
probability ``crossover``), mutates each child (``mutation``), and keeps the ``elite``
fittest of the last generation unchanged; a child
already evaluated is mutated again (up to ``retries`` times, first from its parent, then
from the last try) so that evaluations go to new strategies. Fitness is cached by the
strategy's canonical text, so no strategy is fetched through twice.

Everything random comes from one ``random.Random(seed)`` and evaluations are taken in
the order the candidates were made, ``batch`` at a time (one per worker), so a seed gives
the same search whenever the evaluations come out the same. It stops after
``generations``, when ``budget_seconds`` have passed (checked before each batch), or at
the first evasion with ``stop_on_evasion``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.circumvent.geneva.search import operators
from tools.circumvent.geneva.search.edit import canonical, normal
from tools.circumvent.geneva.search.fitness import EVADED, Evaluation
from tools.circumvent.geneva.syntax import Strategy

Evaluate = Callable[[list[Strategy]], list[Evaluation]]


@dataclass(frozen=True)
class Settings:
    population: int = 20
    generations: int = 20
    elite: int = 2
    tournament: int = 3
    crossover: float = 0.3
    mutation: float = 0.9
    retries: int = 8
    batch: int = 1
    budget_seconds: float | None = None
    stop_on_evasion: bool = False


@dataclass(frozen=True)
class Generation:
    index: int
    evaluated: int  # strategies fetched through in this generation
    evaluations: int  # in all so far
    seconds: float  # since the search started
    best: Evaluation
    mean: float  # the population's mean fitness


@dataclass(frozen=True)
class FirstEvasion:
    strategy: str
    generation: int
    evaluations: int  # how many strategies had been evaluated, this one included
    seconds: float


@dataclass
class Result:
    generations: list[Generation] = field(default_factory=list)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)  # in the order evaluated
    first_evasion: FirstEvasion | None = None
    stopped: str = "generations"  # or "budget", "evasion"
    seconds: float = 0.0

    def best(self, count: int) -> list[Evaluation]:
        """The ``count`` fittest strategies evaluated (the earlier first among equals)."""
        return sorted(self.evaluations.values(), key=lambda e: -e.fitness)[:count]


class Search:
    def __init__(
        self, settings: Settings, seed: int, evaluate: Evaluate, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if settings.population < 2 or not 0 <= settings.elite < settings.population:
            raise ValueError(f"population {settings.population} with elite {settings.elite}: need 0 <= elite < size")
        self.settings, self.evaluate, self.clock = settings, evaluate, clock
        self.rng = random.Random(seed)
        self.strategies: dict[str, Strategy] = {}
        self.result = Result()
        self.start = 0.0
        self.generation = 0

    def run(self, progress: Callable[[Generation], None] = lambda _: None) -> Result:
        self.start = self.clock()
        population = self.admit([Strategy()] * self.settings.population)
        finished = self.score(population)
        progress(self.report(population, len(self.result.evaluations)))
        while finished and self.generation < self.settings.generations:
            self.generation += 1
            before = len(self.result.evaluations)
            children = self.admit(self.offspring(population))
            finished = self.score(children)
            scored = [t for t in children if t in self.result.evaluations]
            if not scored:  # stopped before the first child
                break
            population = self.elites(population) + scored
            progress(self.report(population, len(self.result.evaluations) - before))
        if not finished:
            self.result.stopped = "evasion" if self.settings.stop_on_evasion and self.result.first_evasion else "budget"
        self.result.seconds = self.clock() - self.start
        return self.result

    def admit(self, strategies: list[Strategy]) -> list[str]:
        """Their canonical texts, each strategy kept under its own."""
        texts = []
        for strategy in strategies:
            text = canonical(strategy)
            self.strategies.setdefault(text, normal(strategy))
            texts.append(text)
        return texts

    def fitness(self, text: str) -> int:
        return self.result.evaluations[text].fitness

    def tournament(self, population: list[str]) -> str:
        drawn = [self.rng.choice(population) for _ in range(self.settings.tournament)]
        return max(drawn, key=self.fitness)

    def elites(self, population: list[str]) -> list[str]:
        unique = sorted(dict.fromkeys(population), key=lambda t: -self.fitness(t))
        return unique[: self.settings.elite]

    def offspring(self, population: list[str]) -> list[Strategy]:
        s = self.settings
        kids = [self.strategies[self.tournament(population)] for _ in range(s.population - s.elite)]
        for i in range(0, len(kids) - 1, 2):
            if self.rng.random() < s.crossover:
                kids[i], kids[i + 1] = operators.crossover(kids[i], kids[i + 1], self.rng)
        made: set[str] = set()
        out = []
        for kid in kids:
            child = operators.mutate(kid, self.rng) if self.rng.random() < s.mutation else kid
            for attempt in range(s.retries):
                if canonical(child) not in self.result.evaluations and canonical(child) not in made:
                    break
                child = operators.mutate(kid if attempt < s.retries // 2 else child, self.rng)
            made.add(canonical(child))
            out.append(child)
        return out

    def over_budget(self) -> bool:
        budget = self.settings.budget_seconds
        return budget is not None and self.clock() - self.start >= budget

    def score(self, texts: list[str]) -> bool:
        """Evaluate the texts not evaluated yet, a batch at a time; False if the budget ran
        out or the search stops at its first evasion."""
        new = [t for t in dict.fromkeys(texts) if t not in self.result.evaluations]
        for at in range(0, len(new), self.settings.batch):
            if self.result.evaluations and self.over_budget():  # the baseline is always evaluated
                return False
            batch = new[at : at + self.settings.batch]
            for text, evaluation in zip(batch, self.evaluate([self.strategies[t] for t in batch]), strict=True):
                assert evaluation.strategy == text, (evaluation.strategy, text)
                self.result.evaluations[text] = evaluation
                if evaluation.outcome == EVADED and self.result.first_evasion is None:
                    self.result.first_evasion = FirstEvasion(
                        text, self.generation, len(self.result.evaluations), self.clock() - self.start
                    )
            if self.settings.stop_on_evasion and self.result.first_evasion:
                return False
        return True

    def report(self, population: list[str], evaluated: int) -> Generation:
        fitness = [self.fitness(t) for t in population]
        best = max(population, key=self.fitness)
        self.result.generations.append(
            Generation(
                self.generation,
                evaluated,
                len(self.result.evaluations),
                self.clock() - self.start,
                self.result.evaluations[best],
                sum(fitness) / len(fitness),
            )
        )
        return self.result.generations[-1]
