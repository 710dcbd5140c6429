"""The scenario command line: list scenarios, run one sealed, clean what a killed run left.

    python -m scenarios list
    python -m scenarios run NAME|PATH [--cli] [--pcap] [--results DIR] [--param KEY=N ...]
                                      [--seconds-per-hour S]
    python -m scenarios clean

``run`` validates the scenario and its topology first (a bad one gets one line naming
the problem and exit status 2, and nothing is left behind), then creates a sealed run,
plays the scenario inside it, and removes the run whatever happens. A scenario given as
a file (PATH) is code run as root: it is imported only inside the seal (its own network
and PID namespaces), never in the host's, so it is validated there (same one line and
exit status 2; the sealed run is removed). A shipped scenario (NAME, scenarios/NAME.py)
is part of this repository and is validated before the seal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

from tools.basics.clock import DEFAULT_SECONDS_PER_HOUR
from tools.basics.paths import REPO
from tools.lab import clean, seal
from tools.play.spec import Scenario, ScenarioError

RESULTS = REPO / "results"
EXIT_BAD_INPUT = 2
PARAM_KEY = re.compile(r"[a-z_][a-z0-9_]*")
PARAM_VALUE = re.compile(r"[0-9]{1,6}")  # ASCII digits: str.isdigit() also takes "²" and "٣"
SCENARIOS = REPO / "scenarios"  # the shipped scenarios, imported by name (they sit above this package)
PARAM_EXPECTS = "expected KEY=N with N a whole number of at most 6 digits 0-9, e.g. subscribers=16"


def is_file_ref(ref: str) -> bool:
    """Whether a scenario reference names a file (PATH) rather than a shipped scenario."""
    return ref.endswith(".py") or "/" in ref


def load(ref: str, params: dict[str, int] | None = None) -> Scenario:
    """A scenario by name (scenarios/NAME.py) or by the path of a scenario file; with
    ``params``, the one its module's ``build(**params)`` makes (its size, say)."""
    shipped = SCENARIOS / f"{ref}.py"
    path = Path(ref) if is_file_ref(ref) else shipped
    if not path.is_file() or (path == shipped and not ref.isidentifier()):
        known = ", ".join(names())
        raise ScenarioError(
            f"no scenario file {ref!r}" if path != shipped else f"unknown scenario {ref!r} (known: {known})"
        )
    module = _import(path, f"scenarios.{ref}" if path == shipped else None)
    scenario = getattr(module, "SCENARIO", None)
    if params:
        if not callable(getattr(module, "build", None)):
            raise ScenarioError(f"scenario {ref!r} takes no parameters (its file has no build())")
        try:
            scenario = module.build(**params)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"scenario {ref!r}: parameters {params}: {exc}") from None
    if not isinstance(scenario, Scenario):
        if path == shipped:
            raise ScenarioError(f"unknown scenario {ref!r} (known: {', '.join(names())})")
        raise ScenarioError(f"scenario {ref!r} defines no SCENARIO = Scenario(...)")
    return scenario


def _import(path: Path, package_name: str | None) -> ModuleType:
    """Import a scenario file (one of the package's by its module name); any error in it
    is bad input, reported in one line."""
    try:
        if package_name:
            return importlib.import_module(package_name)
        spec = importlib.util.spec_from_file_location(f"kzlab_scenario_{path.stem}", path)
        if spec is None or spec.loader is None:  # a file name Python imports nothing from
            raise ImportError("not a Python source file (.py)")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    except Exception as exc:  # noqa: BLE001
        raise ScenarioError(f"scenario file {path}: {type(exc).__name__}: {exc}") from None


def names() -> list[str]:
    """The scenarios shipped in scenarios/: the modules that define SCENARIO. One that does
    not import is left out here and reports its error when run by name."""
    found = []
    for m in pkgutil.iter_modules([str(SCENARIOS)]):
        if m.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"scenarios.{m.name}")
        except Exception:  # noqa: BLE001 - listed as broken by load() when asked for
            continue
        if isinstance(getattr(module, "SCENARIO", None), Scenario):
            found.append(m.name)
    return sorted(found)


def results_dir(scenario: Scenario, base: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = base / scenario.name / stamp
    n = 1
    while path.exists():
        n += 1
        path = base / scenario.name / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def _shown(text: str, most: int = 40) -> str:
    return repr(text) if len(text) <= most else repr(text[: most - 3]) + "..."


def parse_params(pairs: list[str]) -> dict[str, int]:
    """KEY=N pairs of --param; ScenarioError names a malformed one and what it expects.
    The builder the scenario hands them to checks their range."""
    out: dict[str, int] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not PARAM_KEY.fullmatch(key):
            raise ScenarioError(f"--param {_shown(pair)}: {PARAM_EXPECTS}")
        if not PARAM_VALUE.fullmatch(value):
            raise ScenarioError(f"--param {key}={_shown(value)}: {PARAM_EXPECTS}")
        if key in out:
            raise ScenarioError(f"--param {key}: given twice")
        out[key] = int(value)
    return out


def validated(ref: str, params: dict[str, int]) -> Scenario:
    scenario = load(ref, params)
    scenario.validate()
    return scenario


def bad_input(exc: ScenarioError) -> int:
    print(f"kzlab: error: {' '.join(str(exc).split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_run(args: argparse.Namespace) -> int:
    try:
        params = parse_params(args.param)
        if not is_file_ref(args.scenario):
            validated(args.scenario, params)
        elif not Path(args.scenario).is_file():
            raise ScenarioError(f"no scenario file {args.scenario!r}")
    except ScenarioError as exc:
        return bad_input(exc)
    inner = [sys.executable, "-m", "scenarios", "_inside", args.scenario, f"--results={args.results}"]
    inner += ["--cli"] * args.cli + ["--pcap"] * args.pcap + [f"--param={p}" for p in args.param]
    inner += [f"--seconds-per-hour={args.seconds_per_hour}"]
    # The venv first on PATH: `python` in the Mininet CLI's hosts is the lab's python.
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    return seal.sealed(inner, env={"PYTHONPATH": str(REPO), "PATH": path})


def cmd_inside(args: argparse.Namespace) -> int:
    """Inside the seal: load (a file: for the first time) and validate, then run."""
    from tools.play import runner

    try:
        scenario = validated(args.scenario, parse_params(args.param))
    except ScenarioError as exc:
        return bad_input(exc)
    results = results_dir(scenario, Path(args.results))
    return runner.main(scenario, results, cli=args.cli, pcap=args.pcap, seconds_per_hour=args.seconds_per_hour)


def _seconds_per_hour(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..3600")
    return value


def cmd_list(_args: argparse.Namespace) -> int:
    for name in names():
        scenario = load(name)
        print(f"{name:22} {scenario.description}")
    return 0


def cmd_clean(_args: argparse.Namespace) -> int:
    return clean.main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios", description="kzlab scenarios")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the scenarios").set_defaults(func=cmd_list)
    sub.add_parser("clean", help="remove what killed runs left").set_defaults(func=cmd_clean)
    for name, func in (("run", cmd_run), ("_inside", cmd_inside)):
        p = sub.add_parser(name, help="run a scenario in a sealed lab" if name == "run" else argparse.SUPPRESS)
        p.add_argument(
            "scenario",
            help="a shipped scenario's NAME, or the PATH of a scenario file: a file is code run as root, so it is "
            "imported only inside the seal, never in the host's namespaces (its errors are reported from there, "
            "exit status 2)",
        )
        p.add_argument("--results", default=str(RESULTS), help="results base directory")
        p.add_argument("--cli", action="store_true", help="open the Mininet CLI with the lab up")
        p.add_argument("--pcap", action="store_true", help="capture the scenario's links")
        p.add_argument("--param", action="append", default=[], help="KEY=N for the scenario's build() (its size)")
        p.add_argument(
            "--seconds-per-hour",
            type=_seconds_per_hour,
            default=DEFAULT_SECONDS_PER_HOUR,
            help="wall seconds per hour of a timed scenario's timeline (default 1; 0: no pauses)",
        )
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PermissionError as exc:
        print(f"kzlab: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def script_main(scenario: Scenario) -> None:
    """``python scenarios/NAME.py [--cli] [--pcap]``: run this scenario file."""
    sys.exit(main(["run", scenario.name, *sys.argv[1:]]))
