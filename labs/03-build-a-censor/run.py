"""Lab 3's own commands: the starter file, and your censor run offline, live and probed.

    python labs/03-build-a-censor/run.py start --student ID [--work lab3-work]
    python labs/03-build-a-censor/run.py offline --student ID CENSOR.py CAPTURE.pcap [--json]
    python labs/03-build-a-censor/run.py live --student ID CENSOR.py        (in a lab node: gw)
    python labs/03-build-a-censor/run.py probe --student ID [--json]        (in a subscriber: home1)
    python labs/03-build-a-censor/run.py evaluate --student ID CENSOR.py --out RESULTS.json  (the checker's)

``start`` writes the starter file of your variant (never over an existing one) and
prints your rule. ``offline`` grades a capture with your censor exactly as
``python -m tools.censors.offline`` grades one with a censor of kzlab's catalogue, and
``live`` runs it as kzlab runs its own, in the node you type it in: the DPI engine
(tools/censors/engine.py) with your class registered by name and built with your
variant's parameters, in the background; it returns once the engine's rules are in and
says the engine's PID, which it also keeps beside its output while it runs
(``censor.pid`` beside ``censor.log``): ``kill PID`` stops it, and it removes its rules. ``probe`` reaches
what your rule blocks and what it leaves alone, as the checker does. Bad input, or a
censor that cannot start, is one line ``kzlab: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]  # this lab's package, then kzlab (a lab folder is no package)

from build_a_censor import rules  # noqa: E402
from build_a_censor.background import INDEX  # noqa: E402

from labs.framework.errors import EXIT_BAD_INPUT, BadInput  # noqa: E402
from labs.framework.variants import student_id  # noqa: E402
from tools.dpi.hostile import inside_a_lab  # noqa: E402

if TYPE_CHECKING:
    from tools.censors.queue import QueueCensor

# Each command imports what it needs, no more: a live check starts three of them.


def cmd_start(args: argparse.Namespace) -> int:
    from build_a_censor import starter

    variant = rules.variant(args.student)
    path = Path(args.work) / starter.FILE
    if path.exists():
        raise BadInput(f"{path} exists: your work is never overwritten (move it away for a fresh starter)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter.render(variant))
    print(f"lab 3, student {args.student}: your censor is {variant['censor']}, in {path}\n")
    print(textwrap.fill(rules.describe(variant), 88))
    return 0


def _censor_class(args: argparse.Namespace) -> tuple[type[QueueCensor], dict[str, Any]]:
    from build_a_censor import loading

    variant = rules.variant(args.student)
    cls = loading.load_class(Path(args.censor), variant["censor"])
    loading.build(cls, variant["params"])  # a refused parameter is said here, in one line
    loading.register(cls)
    return cls, variant["params"]


def cmd_offline(args: argparse.Namespace) -> int:
    from tools.censors import offline

    cls, params = _censor_class(args)
    argv = [cls.name, args.capture, *(f"--param={k}={json.dumps(v)}" for k, v in params.items())]
    return offline.main(argv + ["--json"] * args.json)


def cmd_live(args: argparse.Namespace) -> int:
    if not inside_a_lab():
        raise BadInput("not inside a lab node: run it in the gateway (mininet> gw python labs/03-build-a-censor/...)")
    folder = Path(args.censor).resolve().parent
    decisions = Path(args.log or folder / "decisions.jsonl").resolve()
    output = Path(args.output or folder / "censor.log").resolve()
    if args.foreground:
        cls, params = _censor_class(args)
        pidfile = output.with_suffix(".pid")  # what the handout's `gw kill $(cat lab3-work/censor.pid)` reads
        pidfile.write_text(f"{os.getpid()}\n")
        try:
            return _engine(cls.name, params, args.index, decisions)
        finally:
            pidfile.unlink(missing_ok=True)
    from build_a_censor import background

    name = rules.variant(args.student)["censor"]
    argv = [sys.executable, str(Path(__file__).resolve()), "live", "--foreground", "--student", args.student,
            "--index", str(args.index), "--log", str(decisions), "--output", str(output),
            str(Path(args.censor).resolve())]  # fmt: skip
    pid = background.start(argv, output, name)  # the engine's own process says what stops it
    if args.json:
        print(json.dumps({"pid": pid, "output": str(output), "decisions": str(decisions)}))
    else:
        print(f"run.py: {name} is ready in this node (pid {pid}); stop it with: kill {pid}\n"
              f"  its output goes to {output}, its decisions to {decisions}")  # fmt: skip
    return 0


def _engine(name: str, params: dict[str, Any], index: int, decisions: Path) -> int:
    """kzlab's DPI engine with the censor registered as ``name``, in this process."""
    from tools.censors import engine

    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="lab03-engine-") as config:
        json.dump({"censor": name, "params": params, "index": index, "log": str(decisions)}, config)
        config.flush()
        return engine.main([config.name])


def cmd_probe(args: argparse.Namespace) -> int:
    from build_a_censor import probes

    if not inside_a_lab():
        raise BadInput(
            "not inside a lab node: run it in a subscriber (mininet> home1 python labs/03-build-a-censor/...)"
        )
    seen = probes.run(rules.variant(args.student))
    if args.json:
        print(json.dumps(seen))
    else:
        for key, probe in seen.items():
            mark = "as expected" if probe["ok"] else f"expected {probe['expected']}"
            print(f"{key:8} {probe['target']}: {probe['seen']} ({mark})")
    return 0 if all(p["ok"] for p in seen.values()) else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from build_a_censor import evaluate, loading

    variant = rules.variant(args.student)
    out = Path(args.out)

    def write(results: dict[str, Any]) -> None:
        out.write_text(json.dumps(results))

    try:
        cls = loading.load_class(Path(args.censor), variant["censor"])
        loading.build(cls, variant["params"])
    except loading.Unusable as exc:
        write({"unusable": str(exc)})
        return 0
    evaluate.evaluate(lambda: loading.build(cls, variant["params"]), variant, write)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    commands = {
        "start": (cmd_start, "write your starter file and print your rule"),
        "offline": (cmd_offline, "grade a capture with your censor"),
        "live": (cmd_live, "run your censor in this lab node"),
        "probe": (cmd_probe, "probe what your rule blocks and what it leaves alone"),
        "evaluate": (cmd_evaluate, "the checker's offline evaluation (JSON)"),
    }
    for name, (func, text) in commands.items():
        s = sub.add_parser(name, help=text)
        s.add_argument("--student", required=True)
        if name in ("offline", "live", "evaluate"):
            s.add_argument("censor", help="your censor.py")
        s.set_defaults(func=func)
        if name == "start":
            s.add_argument("--work", default="lab3-work", help="where the starter goes (default lab3-work)")
        elif name == "offline":
            s.add_argument("capture", help="a pcap or pcapng file")
            s.add_argument("--json", action="store_true")
        elif name == "live":
            s.add_argument("--index", type=int, default=INDEX, help=argparse.SUPPRESS)
            s.add_argument("--log", help="where its decisions go (default: decisions.jsonl beside the censor)")
            s.add_argument("--output", help="its output (default: censor.log beside the censor; censor.pid beside it)")
            s.add_argument("--foreground", action="store_true", help="run the engine here, not in the background")
            s.add_argument("--json", action="store_true")
        elif name == "probe":
            s.add_argument("--json", action="store_true")
        elif name == "evaluate":
            s.add_argument("--out", required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        student_id(args.student)
        return int(args.func(args))
    except BadInput as exc:  # and Unusable, a censor file that cannot be used
        print(f"kzlab: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
