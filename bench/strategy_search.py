"""Strategy search (issue 11, item 5): a genetic search over Geneva's strategy syntax,
each candidate tried live against a censor in a sealed lab, from an empty start.

    python -m bench.strategy_search --censor NationalInterception [--param NAME=VALUE ...] \\
        --seed N --population P --generations G [--budget-minutes M] [--stop-on-evasion]

It builds its own lab (kz_isp in a sealed run, torn down at the end: nothing is left),
attaches the censor at ``--node`` (gw), and starts one worker in each of ``--hosts``
(home1 and home2: two candidates at a time, one per core); with NationalInterception they
install the national root first, as a compliant subscriber did. Each candidate is applied
to a subscriber's own packets while it fetches https://TARGET/; it evades when the page
comes with the real certificate (not the national one; for a blocking censor, when the
page comes at all). The search itself is tools/circumvent/geneva/search/ (evolve.py:
selection and caching; operators.py: mutation and crossover; fitness.py: the score).

It prints the fetch without a strategy (the censor's baseline), one line per generation
(the best strategy, its fitness and outcome), and at the end the first evasion found
(generation, evaluations, minutes) and the ``--best`` fittest strategies, each evasion
among them fetched through once more (``confirmed``). The same goes to a JSON file
(``--output``, by default results/bench/strategy_search-CENSOR-seedN.json), with every
strategy evaluated, in order. Bad arguments are one line and exit status 2; a lab or a
worker that fails, one line and 1.

The search's layers: it builds a lab, so it sits above tools/lab (pyproject.toml's
contract); the search it drives sits with the engine, below.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from bench.results import write
from tools.basics.params import domain_name
from tools.censors.base import CensorError
from tools.censors.national_interception import NationalInterception
from tools.censors.offline import make_censor, parse_param
from tools.circumvent.geneva.search.evolve import Generation, Result, Search, Settings
from tools.circumvent.geneva.search.fitness import EVADED, REAL, Evaluation
from tools.circumvent.geneva.search.pool import Pool, PoolError
from tools.lab.session import LabSession, LabSessionError
from topologies.kz_isp import build

EXIT_BAD_ARGUMENTS, EXIT_FAILED = 2, 1


class SearchFailed(RuntimeError):
    """The lab, a worker or the censor failed; one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        bad(message)


def bad(message: str) -> NoReturn:
    print(f"kzlab: error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_ARGUMENTS)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="python -m bench.strategy_search", description=__doc__.splitlines()[0])
    parser.add_argument("--censor", required=True, help="the censor to get around (e.g. NationalInterception)")
    parser.add_argument("--param", action="append", default=[], help="a censor parameter, NAME=VALUE (JSON or text)")
    parser.add_argument("--node", default="gw", help="where the censor attaches (default gw)")
    parser.add_argument("--target", default="facebook.com", help="the name fetched, https://TARGET/")
    parser.add_argument("--hosts", default="home1,home2", help="subscribers that try candidates, comma-separated")
    parser.add_argument("--seed", type=int, default=1, help="the search's random seed")
    parser.add_argument("--population", type=int, default=20, help="strategies per generation")
    parser.add_argument("--generations", type=int, default=20, help="generations after the empty start")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="stop after this long (the search only)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds one fetch may take")
    parser.add_argument("--stop-on-evasion", action="store_true", help="stop at the first evasion found")
    parser.add_argument("--best", type=int, default=5, help="how many of the fittest strategies to report")
    parser.add_argument("--output", type=Path, help="the JSON file to write")
    args = parser.parse_args(argv)
    for name, least in (("population", Settings.elite + 1), ("generations", 1), ("best", 1)):
        if getattr(args, name) < least:
            bad(f"--{name} must be {least} or more, got {getattr(args, name)}")
    for name in ("budget_minutes", "timeout"):
        if not getattr(args, name) > 0:
            bad(f"--{name.replace('_', '-')} must be more than 0, got {getattr(args, name)}")
    try:
        args.target = domain_name(args.target)
    except ValueError as exc:
        bad(f"--target: {exc}")
    args.hosts = [h for h in args.hosts.split(",") if h]
    model = build()
    for host in args.hosts:
        if host not in model.graph or model.role(host) != "subscriber":
            bad(f"--hosts: {host!r} is not a subscriber of kz_isp ({', '.join(model.nodes('subscriber'))})")
    if len(set(args.hosts)) != len(args.hosts) or not args.hosts:
        bad(f"--hosts: name each subscriber once, got {','.join(args.hosts) or 'none'}")
    if args.node not in model.graph or not model.graph.nodes[args.node].get("censor_point"):
        points = [n for n, d in model.graph.nodes(data=True) if d.get("censor_point")]
        bad(f"--node: {args.node!r} is not where a censor attaches in kz_isp ({', '.join(points)})")
    try:
        args.params = dict(parse_param(p) for p in args.param)
        censor = make_censor(args.censor, args.param)
    except CensorError as exc:
        bad(str(exc))
    if "domains" in censor.fields and "domains" not in args.params:
        args.params["domains"] = [args.target]  # a censor of names: this one
    args.roots = censor.params["generation"] if isinstance(censor, NationalInterception) else None
    return args


def show(evaluation: Evaluation) -> str:
    return f"{evaluation.fitness:4d} {evaluation.outcome:8} {evaluation.strategy}"


def progress(generation: Generation) -> None:
    print(
        f"generation {generation.index:3d}: {generation.evaluated:3d} new, {generation.evaluations:4d} evaluated, "
        f"{generation.seconds / 60:5.1f} min, mean {generation.mean:7.1f}, best {show(generation.best)}",
        flush=True,
    )


def confirm(pool: Pool, best: list[Evaluation]) -> dict[str, bool]:
    """Each evasion among ``best`` fetched through once more: whether it evaded again."""
    evasions = [e.strategy for e in best if e.outcome == EVADED]
    again = pool.probe(evasions)
    return {text: probe.got == REAL for text, probe in zip(evasions, again, strict=True)}


def search(args: argparse.Namespace) -> dict[str, Any]:
    """Build the lab, run the search in it, and say what it found."""
    with LabSession() as lab:
        lab.attach("censor", args.censor, args.node, **args.params)
        if args.roots:
            for host in args.hosts:
                lab.install_root(host, args.roots)
        with Pool(lab, args.hosts, f"https://{args.target}/", args.timeout, args.seed) as pool:
            baseline = pool.measure_baseline()
            print(f"without a strategy: {baseline}", flush=True)
            if baseline == REAL:
                raise SearchFailed(
                    f"{args.censor} at {args.node} lets https://{args.target}/ through: nothing to evade"
                )
            settings = Settings(
                population=args.population,
                generations=args.generations,
                batch=len(args.hosts),
                budget_seconds=args.budget_minutes * 60,
                stop_on_evasion=args.stop_on_evasion,
            )
            result = Search(settings, args.seed, pool.evaluate).run(progress)
            best = result.best(args.best)
            confirmed = confirm(pool, best)
        if dead := lab.dead_censors():
            raise SearchFailed(f"the censor died during the search, so its outcomes mean nothing: {dead}")
    return summary(args, settings, baseline, result, best, confirmed)


def summary(
    args: argparse.Namespace,
    settings: Settings,
    baseline: str,
    result: Result,
    best: list[Evaluation],
    confirmed: dict[str, bool],
) -> dict[str, Any]:
    first = result.first_evasion
    return {
        "censor": args.censor,
        "params": args.params,
        "node": args.node,
        "target": args.target,
        "hosts": args.hosts,
        "seed": args.seed,
        "settings": vars(settings),
        "baseline": baseline,
        "stopped": result.stopped,
        "minutes": round(result.seconds / 60, 2),
        "evaluations": len(result.evaluations),
        "generations": [
            {
                "generation": g.index,
                "evaluated": g.evaluated,
                "evaluations": g.evaluations,
                "minutes": round(g.seconds / 60, 2),
                "mean": round(g.mean, 1),
                "best": g.best.as_json(),
            }
            for g in result.generations
        ],
        "first_evasion": first and {**vars(first), "minutes": round(first.seconds / 60, 2)},
        "best": [{**e.as_json(), "confirmed": confirmed.get(e.strategy)} for e in best],
        "evaluated": [e.as_json() for e in result.evaluations.values()],  # in the order evaluated
    }


def report(found: dict[str, Any]) -> None:
    first = found["first_evasion"]
    if first:
        print(
            f"first evasion: generation {first['generation']}, evaluation {first['evaluations']}, "
            f"{first['minutes']:.1f} min: {first['strategy']}"
        )
    else:
        print(f"no evasion found in {found['evaluations']} evaluations ({found['minutes']:.1f} min)")
    print(f"best strategies ({found['stopped']} reached, {found['evaluations']} evaluated):")
    for e in found["best"]:
        again = {True: "  confirmed", False: "  NOT confirmed", None: ""}[e["confirmed"]]
        print(f"  {e['fitness']:4d} {e['outcome']:8} {e['strategy']}   ({e['got']}){again}")


def main(argv: list[str] | None = None) -> int:
    args = arguments(sys.argv[1:] if argv is None else argv)
    start = time.monotonic()
    try:
        found = search(args)
    except (LabSessionError, PoolError, SearchFailed) as exc:
        print(f"kzlab: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILED
    found["wall_minutes"] = round((time.monotonic() - start) / 60, 2)
    report(found)
    name = f"strategy_search-{args.censor}-seed{args.seed}"
    if args.output:
        args.output.write_text(json.dumps(found, indent=2) + "\n")
        path = args.output
    else:
        path = write(name, found)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
