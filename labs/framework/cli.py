"""The labs' command line.

    python -m labs lab N --student ID [--no-cli] [--script FILE] [--work DIR]
    python -m labs check N --student ID [--submission DIR] [--json] [--reveal]
    python -m labs handout [N] --out DIR
    python -m labs grade-all N --submissions DIR [--out DIR]
    python -m labs solve N --student ID --out DIR      (instructors: the reference submission)

``check`` exits 0 only when every task passes. Bad input (an unknown lab, an empty or
odd student id, a folder that does not exist, a malformed answers file) is one line
``kzlab: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labs.framework import environment, grading, handout, registry
from labs.framework.errors import EXIT_BAD_INPUT, BadInput
from labs.framework.variants import student_id


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(message)


def _folder(text: str, what: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise BadInput(f"{what} {text!r} is not a folder")
    return path


def cmd_lab(args: argparse.Namespace) -> int:
    lab = registry.find(args.lab)
    student_id(args.student)
    script = Path(args.script) if args.script else None
    if script is not None:
        environment.script_lines(script)  # bad input is reported before anything is built
    work = Path(args.work or f"lab{lab.number}-work").resolve()
    return environment.start(lab.number, args.student, not args.no_cli, work, script)


def cmd_inside(args: argparse.Namespace) -> int:
    definition = registry.find(args.lab).definition
    script = Path(args.script) if args.script else None
    return environment.inside(definition, args.student, not args.no_cli, Path(args.work), script)


def cmd_check(args: argparse.Namespace) -> int:
    lab = registry.find(args.lab).definition
    student = student_id(args.student)
    if args.reveal:
        print(json.dumps(lab.variant(student), indent=2))
        return 0
    submission = _folder(args.submission or ".", "submission")
    report = grading.grade(lab, student, submission)
    print(report.json() if args.json else report.text())
    return 0 if report.ok else 1


def cmd_handout(args: argparse.Namespace) -> int:
    labs = [registry.find(args.lab)] if args.lab is not None else registry.folders()
    for path in handout.write(labs, Path(args.out)):
        print(f"kzlab: handout: {path}")
    return 0


def cmd_grade_all(args: argparse.Namespace) -> int:
    lab = registry.find(args.lab).definition
    rows = grading.grade_all(lab, _folder(args.submissions, "submissions"))
    for path in grading.write(lab, rows, Path(args.out or args.submissions)):
        print(f"kzlab: grades: {path}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    folder = registry.find(args.lab)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return int(folder.solution().solve(folder.definition, student_id(args.student), out))


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m labs", description="kzlab course labs")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, func, hidden in (("lab", cmd_lab, False), ("_inside", cmd_inside, True)):
        s = sub.add_parser(name, help=argparse.SUPPRESS if hidden else "the lab's sealed environment for a student")
        s.add_argument("lab")
        s.add_argument("--student", required=True)
        s.add_argument("--no-cli", action="store_true", help="run the lab's script (or --script) and exit")
        s.add_argument("--script", help="a file of NODE COMMAND lines to run instead of the CLI")
        s.add_argument("--work", help="the folder for plans and captures (default ./labN-work)")
        s.set_defaults(func=func)
    s = sub.add_parser("check", help="grade a submission")
    s.add_argument("lab")
    s.add_argument("--student", required=True)
    s.add_argument("--submission", help="the submission's folder (default: the current one)")
    s.add_argument("--json", action="store_true", help="JSON, for a learning-management system")
    s.add_argument("--reveal", action="store_true", help="instructors: show the student's variant")
    s.set_defaults(func=cmd_check)
    s = sub.add_parser("handout", help="the student copy, without solutions")
    s.add_argument("lab", nargs="?")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_handout)
    s = sub.add_parser("grade-all", help="every student's submission into one CSV and JSON")
    s.add_argument("lab")
    s.add_argument("--submissions", required=True, help="a folder with one folder per student id")
    s.add_argument("--out", help="where the CSV and JSON go (default: the submissions folder)")
    s.set_defaults(func=cmd_grade_all)
    s = sub.add_parser("solve", help="instructors: make the reference submission in a live lab (root)")
    s.add_argument("lab")
    s.add_argument("--student", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_solve)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        return int(args.func(args))
    except (BadInput, PermissionError) as exc:
        print(f"kzlab: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
