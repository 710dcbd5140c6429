"""tools/circumvent/geneva/search: the fitness arithmetic (fitness.py), the genetic loop
(evolve.py) with a stand-in for the lab that evades exactly what the 2019 device let
through by segmentation, what the worker makes of curl's output (worker.py), and the
search's command line refusing bad arguments in one line (bench/strategy_search.py).
The search against the live device is tests/lab/test_geneva_search.py."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from bench import strategy_search
from tools.circumvent.geneva.parser import parse
from tools.circumvent.geneva.search import operators
from tools.circumvent.geneva.search.edit import canonical, complexity, size
from tools.circumvent.geneva.search.evolve import Result, Search, Settings
from tools.circumvent.geneva.search.fitness import (
    BROKEN,
    CENSORED,
    EVADED,
    PACKETS_CHARGED,
    REAL,
    Evaluation,
    Probe,
    evaluate,
    outcome,
    score,
)
from tools.circumvent.geneva.search.worker import got
from tools.circumvent.geneva.syntax import Fragment, Strategy
from tools.services.pki import CertificateAuthority, pem

QAZNET = "Qaznet Trust Network"
NATIONAL = f"page, certificate from CN={QAZNET},C=KZ"


# -- fitness ---------------------------------------------------------------------------


def test_an_outcome_is_read_against_the_baseline() -> None:
    assert outcome(REAL, NATIONAL) == EVADED
    assert outcome(NATIONAL, NATIONAL) == CENSORED
    assert outcome("timeout", NATIONAL) == BROKEN
    assert outcome("reset or TLS failure", "reset or TLS failure") == CENSORED  # a censor that resets
    assert outcome("timeout", "reset or TLS failure") == BROKEN


def test_the_score_is_the_outcome_minus_actions_and_added_packets() -> None:
    assert score(EVADED, 2, 4) == 100 - 2 * 2 - 4
    assert score(CENSORED, 0, 0) == 0
    assert score(BROKEN, 3, 0) == -100 - 6
    assert score(EVADED, 1, 1000) == 100 - 2 - PACKETS_CHARGED  # packets are charged up to a bound
    split = Probe(REAL, triggered=4, made=8, seconds=0.2)  # each of 4 data segments cut in two
    assert split.added == 1 == Probe(REAL, triggered=5, made=10, seconds=0.2).added  # one retransmitted too
    assert Probe(NATIONAL, triggered=3, made=0, seconds=0.1).added == 0  # drops add nothing
    assert Probe(NATIONAL, triggered=0, made=0, seconds=0.1).added == 0
    assert Probe(REAL, triggered=1, made=3, seconds=0.1).added == 2  # duplicate(,duplicate)
    assert evaluate("[TCP:flags:PA]-fragment{tcp:-1:True}-|", 2, split, NATIONAL) == Evaluation(
        "[TCP:flags:PA]-fragment{tcp:-1:True}-|", EVADED, REAL, 2, 1, 95, 0.2
    )


def test_any_evasion_scores_above_anything_else_and_censored_above_broken() -> None:
    largest = operators.MAX_TREES * (1 + operators.MAX_ACTIONS)
    assert score(EVADED, largest, 10**6) > score(CENSORED, 0, 0)
    assert score(CENSORED, largest, 10**6) > score(BROKEN, 0, 0)


# -- the genetic loop, with a stand-in for the lab ---------------------------------------


def splits_the_hello(strategy: Strategy) -> bool:
    """What the 2019 device let through (kazakhstan.md section 6), as far as segmentation goes."""
    return any(
        t.trigger.value == "PA" and isinstance(t.action, Fragment) and t.action.proto == "tcp"
        for t in strategy.outbound
    )


class StandIn:
    """Evaluates like the lab would for the device: segmentation evades, a drop breaks,
    anything else is intercepted; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, strategies: list[Strategy]) -> list[Evaluation]:
        out = []
        for s in strategies:
            self.asked.append(canonical(s))
            got = REAL if splits_the_hello(s) else "timeout" if "drop" in canonical(s) else NATIONAL
            out.append(evaluate(canonical(s), complexity(s), Probe(got, 0, 0, 0.1), NATIONAL))
        return out


def run(seed: int, **settings: Any) -> tuple[StandIn, Result]:
    """A search against the stand-in, on a clock that ticks once per reading."""
    stand_in, ticks = StandIn(), itertools.count()
    chosen = Settings(**{"population": 8, "generations": 6, "batch": 2, **settings})
    return stand_in, Search(chosen, seed, stand_in, clock=lambda: float(next(ticks))).run()


def test_a_seed_gives_the_same_search_and_another_seed_another() -> None:
    first, result = run(5)
    again, same = run(5)
    other, _ = run(6)
    assert first.asked == again.asked and result == same
    assert first.asked != other.asked


def test_it_starts_empty_and_evaluates_no_strategy_twice() -> None:
    stand_in, result = run(1, generations=10)
    assert stand_in.asked[0] == "\\/"  # the empty start: the censor's baseline
    assert len(stand_in.asked) == len(set(stand_in.asked)) == len(result.evaluations)
    first_generation = [parse(t) for t in stand_in.asked[1 : 1 + 8 - Settings.elite]]
    assert all(len(s.outbound) == 1 and size(s.outbound[0].action) == 1 for s in first_generation)


def test_the_best_never_gets_worse_and_an_evasion_is_found() -> None:
    _, result = run(3, generations=12)
    best = [g.best.fitness for g in result.generations]
    assert best == sorted(best)  # the elites carry the best over
    assert result.first_evasion is not None and result.best(1)[0].outcome == EVADED
    assert [g.index for g in result.generations] == list(range(13))


def test_it_stops_at_the_first_evasion_when_asked() -> None:
    stand_in, result = run(3, generations=50, stop_on_evasion=True)
    assert result.stopped == "evasion" and result.first_evasion is not None
    assert stand_in.asked[-2:].count(result.first_evasion.strategy) == 1  # in the last batch
    assert result.first_evasion.evaluations <= len(result.evaluations)


def test_it_stops_when_the_budget_is_spent() -> None:
    stand_in, result = run(2, generations=50, budget_seconds=10)
    assert result.stopped == "budget" and len(stand_in.asked) < 30


def test_an_elite_as_large_as_the_population_is_refused() -> None:
    with pytest.raises(ValueError, match="elite"):
        Search(Settings(population=2, elite=2), 1, StandIn())


# -- what the worker makes of curl's output ------------------------------------------------


def chain(ca: CertificateAuthority) -> str:
    leaf, _ = ca.issue_leaf(("facebook.com",))
    return "".join(f"Subject:{c.subject.rfc4514_string()}\n{pem(c).decode()}" for c in (leaf, ca.cert))


def test_the_worker_reads_the_chain_curl_was_sent() -> None:
    real = CertificateAuthority.new_root()
    qaznet = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Qaznet Trust Network"),
    ]
    national = CertificateAuthority.new_root(x509.Name(qaznet))
    root = real.cert.subject
    assert got(0, "200\n" + chain(real), root) == REAL
    assert got(0, "301\n" + chain(real), root) == REAL
    assert got(0, "200\n" + chain(national), root) == NATIONAL
    assert got(0, "404\n" + chain(real), root) == "HTTP 404"
    assert got(28, "000\n", root) == "timeout"
    assert got(35, "000\n", root) == got(56, "000\n", root) == "reset or TLS failure"
    assert got(60, "000\n", root) == "certificate rejected"
    assert got(47, "000\n", root) == "curl exit 47"


# -- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ([], "the following arguments are required: --censor"),
        (["--censor", "Nope"], "unknown censor 'Nope'"),
        (["--censor", "NationalInterception", "--param", "generation=2018"], "parameter 'generation' expects"),
        (["--censor", "NationalInterception", "--param", "x"], "--param 'x': expected NAME=VALUE"),
        (["--censor", "NationalInterception", "--population", "2"], "--population must be 3 or more"),
        (["--censor", "NationalInterception", "--generations", "0"], "--generations must be 1 or more"),
        (["--censor", "NationalInterception", "--seed", "x"], "invalid int value: 'x'"),
        (["--censor", "NationalInterception", "--budget-minutes", "0"], "--budget-minutes must be more than 0"),
        (["--censor", "NationalInterception", "--hosts", "home1,gw"], "'gw' is not a subscriber of kz_isp"),
        (["--censor", "NationalInterception", "--hosts", "home1,home1"], "name each subscriber once"),
        (["--censor", "NationalInterception", "--node", "home1"], "'home1' is not where a censor attaches"),
        (["--censor", "NationalInterception", "--target", "a..b"], "--target: 'a..b' is not a DNS name"),
        (["--censor", "NationalInterception", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        strategy_search.main(argv)
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("kzlab: error: ") and err.count("\n") == 1 and says in err, err


def test_a_censor_of_names_is_given_the_target_and_the_device_its_roots() -> None:
    args = strategy_search.arguments(["--censor", "ResetTrafficForTLSSNI", "--target", "vk.com"])
    assert args.params == {"domains": ["vk.com"]} and args.roots is None
    args = strategy_search.arguments(["--censor", "NationalInterception", "--param", 'generation="2020"'])
    assert args.params == {"generation": "2020"} and args.roots == "2020"
