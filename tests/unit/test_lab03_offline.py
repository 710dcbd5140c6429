"""Lab 3, Build a censor, without a lab: variants, the starter file, the offline and hostile
grading of the reference, of the untouched starter and of wrong censors, run.py, the handout.

The live task is tests/lab/test_lab03.py's; here no censor that blocks anything goes
through ``LAB.check`` (as root it would build a lab): the offline tasks are graded with
the checker's own functions.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from labs.framework import registry
from labs.framework.checks import TaskResult
from tools.basics.paths import REPO

FOLDER = registry.find(3)
LAB3 = FOLDER.definition  # loading it puts the lab's own package on sys.path
checker = importlib.import_module("build_a_censor.checker")
evaluate = importlib.import_module("build_a_censor.evaluate")
loading = importlib.import_module("build_a_censor.loading")
rules = importlib.import_module("build_a_censor.rules")
starter = importlib.import_module("build_a_censor.starter")

RUN = FOLDER.path / "run.py"
REFERENCE = FOLDER.path / "solution" / "censor.py"


def student_with(rule: str) -> str:
    return next(s for s in (f"s{i}" for i in range(200)) if LAB3.variant(s)["rule"] == rule)


RESET = student_with("tls_sni_reset")


def run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd)


def submit(tmp_path: Path, source: str) -> Path:
    (tmp_path / "censor.py").write_text(source)
    return tmp_path / "censor.py"


def offline_tasks(student: str, censor: Path) -> dict[str, TaskResult]:
    """The offline tasks as the checker grades them, in the child process it runs."""
    return _graded(checker.offline(student, censor))


def in_process(student: str, censor: Path) -> dict[str, TaskResult]:
    """The same grades from the same evaluation, run in this process (faster: no child)."""
    variant = LAB3.variant(student)
    results: dict[str, Any] = {}
    evaluate.evaluate(lambda: loading.load(censor, variant["censor"], variant["params"]), variant, results.update)
    return _graded(results)


def _graded(results: dict[str, Any]) -> dict[str, TaskResult]:
    assert "unusable" not in results, results
    recall, precision, _, hostile = LAB3.tasks
    graded = (checker.recall(recall, results), checker.precision(precision, results), checker.hostile(hostile, results))
    return {r.key: r for r in graded}


def changed(name: str, body: str) -> str:
    """The reference censors, with the class ``name`` replaced by a subclass of itself."""
    return REFERENCE.read_text() + f"\n\nclass {name}({name}):\n" + body


# -- variants ---------------------------------------------------------------------------------
def test_variants_are_deterministic_per_id_and_differ_between_ids() -> None:
    assert LAB3.variant("alice") == LAB3.variant("alice")
    variants = [LAB3.variant(f"student{i}") for i in range(400)]
    assert set(Counter(v["rule"] for v in variants)) == set(rules.BY_KEY)
    assert min(Counter(v["rule"] for v in variants).values()) >= 40
    assert len({json.dumps(v, sort_keys=True) for v in variants}) == 400
    assert len({json.dumps([v["rule"], v["params"]], sort_keys=True) for v in variants}) >= 250
    assert LAB3.variant("alice") != LAB3.variant("bob")


def test_reveal_is_the_variant_seeded_by_sha256() -> None:
    out = run("-m", "labs", "check", "3", "--student", "alice", "--reveal")
    assert out.returncode == 0 and json.loads(out.stdout) == LAB3.variant("alice")


def test_the_hidden_captures_are_the_same_at_every_check() -> None:
    flows = importlib.import_module("build_a_censor.flows")
    variant = LAB3.variant(RESET)
    first, again = flows.hidden(variant), flows.hidden(variant)
    assert [(f.what, f.block) for f in first] == [(f.what, f.block) for f in again]
    assert {f.block for f in first} == {True, False}


# -- the reference --------------------------------------------------------------------------
@pytest.mark.parametrize("rule", sorted(rules.BY_KEY))
def test_the_reference_decides_every_hidden_flow_as_its_rule_says(rule: str) -> None:
    variant = LAB3.variant(student_with(rule))
    results: dict[str, Any] = {}
    evaluate.evaluate(lambda: loading.load(REFERENCE, variant["censor"], variant["params"]), variant, results.update)
    wrong = [f["what"] for f in results["captured"]["flows"] if f["block"] != f["blocked"]]
    assert not wrong and results["captured"]["raised"] == 0
    h = results["hostile"]
    assert h["crash"] is None and h["closed"] == 0 and h["after"]["blocked"] and h["after"]["passed"], h


def test_the_reference_gets_the_offline_marks_through_the_child_process() -> None:
    graded = offline_tasks(RESET, REFERENCE)
    assert all(r.ok for r in graded.values()), graded


# -- empty and untouched ----------------------------------------------------------------------
def test_an_empty_submission_gets_zero_with_a_hint_per_task(tmp_path: Path) -> None:
    out = run("-m", "labs", "check", "3", "--student", "alice", "--submission", str(tmp_path), "--json")
    report = json.loads(out.stdout)
    assert out.returncode == 1 and report["earned"] == 0
    assert [t["key"] for t in report["tasks"]] == ["recall", "precision", "live", "hostile"]
    hints = [t["hint"] for t in report["tasks"]]
    assert all(hints) and len(set(hints)) == 4


def test_the_untouched_starter_gets_zero_with_a_hint_per_task(tmp_path: Path) -> None:
    submit(tmp_path, starter.render(LAB3.variant(RESET)))
    report = LAB3.check(LAB3.variant(RESET), tmp_path)
    assert sum(r.earned for r in report) == 0
    hints = {r.key: r.hint for r in report}
    assert all(hints.values()) and len(set(hints.values())) == 4
    assert hints["recall"].startswith("recall 0.00") and "blocked no flow" in hints["precision"]
    assert hints["live"].startswith("not run") and "no longer blocks" in hints["hostile"]


def test_a_broken_censor_file_fails_every_task_with_its_error(tmp_path: Path) -> None:
    variant = LAB3.variant(RESET)
    submit(tmp_path, starter.render(variant).replace("return []", "return [", 1))
    report = LAB3.check(variant, tmp_path)
    assert [r.earned for r in report] == [0, 0, 0, 0] and all("censor.py, line" in r.hint for r in report)
    renamed = submit(tmp_path, REFERENCE.read_text().replace("class ResetTLSBySNI", "class Renamed"))
    with pytest.raises(loading.Unusable, match="defines no class ResetTLSBySNI derived from QueueCensor"):
        loading.load_class(renamed, variant["censor"])


# -- wrong censors fail the right task --------------------------------------------------------
def test_a_censor_that_blocks_everything_fails_precision_and_fails_closed(tmp_path: Path) -> None:
    body = """\
    def selection(self) -> list[str]:
        return ["-p tcp", "-p udp", "-p icmp"]

    def selects(self, pkt: Packet) -> bool:
        return True

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        flows[pkt.key] = "block"
        return Decision("drop", flow="block", note="everything")
"""
    graded = offline_tasks(RESET, submit(tmp_path, changed("ResetTLSBySNI", body)))
    assert graded["recall"].ok
    assert not graded["precision"].ok and graded["precision"].hint.startswith("precision 0.")
    assert not graded["hostile"].ok and "fail open" in graded["hostile"].hint


CASES: dict[str, tuple[str, Callable[[TaskResult], bool]]] = {
    # IndexError on a payload under 6 bytes: the engine fails open for those packets, the censor is fine
    "raises on short packets": (
        "    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:\n"
        "        pkt.payload[5]\n        return super().decide(pkt, flows)\n",
        lambda r: r.ok,
    ),
    "drops what it cannot read": (
        "    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:\n"
        "        if parse_client_hello(pkt.payload).sni is None:\n"
        "            flows[pkt.key] = 'block'\n            return Decision('drop', flow='block')\n"
        "        return super().decide(pkt, flows)\n",
        lambda r: not r.ok and "fail open" in r.hint,
    ),
    "spins once on a long name": (
        "    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:\n"
        "        if len(pkt.payload) > 10000 and not getattr(self, 'spun', False):\n"
        "            import time\n            self.spun = True\n"
        "            end = time.process_time() + 0.3\n            while time.process_time() < end:\n"
        "                pass\n        return super().decide(pkt, flows)\n",
        lambda r: not r.ok and "s of CPU on a malformed sni_names packet" in r.hint,
    ),
    "exits on long names": (
        "    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:\n"
        "        if len(pkt.payload) > 10000:\n            raise SystemExit('bye')\n"
        "        return super().decide(pkt, flows)\n",
        lambda r: not r.ok and r.hint.startswith("SystemExit: bye on a malformed") and "kills it" in r.hint,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_packets(tmp_path: Path, case: str) -> None:
    body, expected = CASES[case]
    graded = in_process(RESET, submit(tmp_path, changed("ResetTLSBySNI", body)))
    assert expected(graded["hostile"]), graded["hostile"]
    assert graded["recall"].ok


def test_a_censor_that_matches_by_suffix_fails_precision(tmp_path: Path) -> None:
    student = student_with("dns_drop")  # a rule on names: "myfacebook.com" ends like "facebook.com"
    body = (
        "    def covers(self, name: str | None) -> bool:\n"
        "        return bool(name) and any(name.lower().endswith(n) for n in self.listed)\n"
    )
    graded = in_process(student, submit(tmp_path, changed("DropDNSQueries", body)))
    assert graded["recall"].ok and not graded["precision"].ok and "it only looks like" in graded["precision"].hint


# -- the student's commands ---------------------------------------------------------------------
def test_start_writes_the_starter_once(tmp_path: Path) -> None:
    out = run(str(RUN), "start", "--student", RESET, "--work", str(tmp_path / "work"))
    assert out.returncode == 0 and "ResetTLSBySNI" in out.stdout and "Reset every TLS connection" in out.stdout
    written = (tmp_path / "work" / "censor.py").read_text()
    assert written == starter.render(LAB3.variant(RESET))
    again = run(str(RUN), "start", "--student", RESET, "--work", str(tmp_path / "work"))
    assert again.returncode == 2 and again.stderr.startswith("kzlab: error: ") and "never overwritten" in again.stderr


def test_the_starter_of_every_rule_runs_and_blocks_nothing() -> None:
    for rule in rules.BY_KEY:
        variant = LAB3.variant(student_with(rule))
        namespace: dict[str, Any] = {}
        exec(compile(starter.render(variant), "censor.py", "exec"), namespace)
        censor = namespace[variant["censor"]](**variant["params"])
        assert censor.selection() == [] and censor.params["fail_closed"] is False


def test_offline_grades_a_capture_with_the_students_censor(tmp_path: Path) -> None:
    from scapy.layers.inet import IP
    from scapy.utils import wrpcap

    flows = importlib.import_module("build_a_censor.flows")
    hidden = flows.hidden(LAB3.variant(RESET))
    wrpcap(str(tmp_path / "c.pcap"), [IP(p) for f in hidden[:20] for p in f.packets])
    out = run(str(RUN), "offline", "--student", RESET, str(REFERENCE), str(tmp_path / "c.pcap"))
    assert out.returncode == 0, out.stderr
    assert "ResetTLSBySNI:" in out.stderr and ("reset: SNI" in out.stdout) == any(f.block for f in hidden[:20])


def test_live_and_probe_refuse_to_run_outside_a_lab() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KZLAB_RUN"}
    for argv in (("live", "--student", RESET, str(REFERENCE)), ("probe", "--student", RESET)):
        out = subprocess.run([sys.executable, str(RUN), *argv], capture_output=True, text=True, env=env)
        assert out.returncode == 2 and "not inside a lab node" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_solve_writes_the_reference(tmp_path: Path) -> None:
    out = run("-m", "labs", "solve", "3", "--student", RESET, "--out", str(tmp_path))
    assert out.returncode == 0 and (tmp_path / "censor.py").read_text() == REFERENCE.read_text()


def test_the_handout_holds_no_solution(tmp_path: Path) -> None:
    out = run("-m", "labs", "handout", "3", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    lab = "labs/03-build-a-censor"
    assert {f"{lab}/README.md", f"{lab}/lab.py", f"{lab}/run.py", f"{lab}/build_a_censor/checker.py"} <= files
    assert not [f for f in files if "solution" in f or "INSTRUCTORS" in f or "__pycache__" in f]
    for path in tmp_path.rglob("*.py"):
        assert "class ResetTLSBySNI" not in path.read_text(), path
