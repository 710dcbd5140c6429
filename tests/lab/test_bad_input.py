"""Bad input: one clear line naming the problem, exit status 2, nothing left behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.lab import support
from tools.basics.paths import REPO

HEADER = "from tools.play.spec import Phase, Scenario, Step, Target\n"
GOOD_TARGETS = "targets=(Target.web('facebook.com'),)"
CASES = {
    "syntax error": ("SCENARIO = Scenario(name='x',", "SyntaxError"),
    "no SCENARIO": ("X = 1", "defines no SCENARIO"),
    "unknown client": (
        f"SCENARIO = Scenario(name='bad', description='', {GOOD_TARGETS}, phases=(Phase('p'),), clients=('home9',))",
        "client 'home9' is not a client of kz_isp",
    ),
    "not an outcome": (
        f"SCENARIO = Scenario(name='bad', description='', {GOOD_TARGETS}, phases=(Phase('p', default='fine'),))",
        "'fine' is not an outcome",
    ),
    "unknown censor": (
        f"SCENARIO = Scenario(name='bad', description='', {GOOD_TARGETS},"
        " phases=(Phase('p', steps=(Step('attach', 'x', 'nosuch', 'gw'),)),))",
        "unknown censor 'nosuch'",
    ),
    "bad topology parameters": (
        f"SCENARIO = Scenario(name='bad', description='', {GOOD_TARGETS}, phases=(Phase('p'),),"
        " topology_params={'home': 0})",
        "home=0",
    ),
    "malformed topology": (
        "from topologies.model import TopologyModel\n"
        "def broken():\n"
        "    m = TopologyModel('broken')\n"
        "    m.add_node('r1', 'router')\n"
        "    m.add_segment('lan', '10.0.0.0/24', gateway='r1')\n"
        "    m.attach('r1', 'lan', '10.0.0.1')\n"
        "    m.add_node('h1', 'subscriber')\n"
        "    m.attach('h1', 'lan', '10.0.0.1')\n"
        "    return m\n"
        f"SCENARIO = Scenario(name='bad', description='', {GOOD_TARGETS}, phases=(Phase('p'),),"
        " topology=broken)",
        "address 10.0.0.1 is used by both",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_scenario_gets_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    body, message = CASES[case]
    path = tmp_path / "bad_scenario.py"
    path.write_text(HEADER + body + "\n")
    before = support.stale()
    proc = support.cli("run", str(path), "--results", str(tmp_path / "results"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kzlab: error: ") and message in lines[0], lines[0]
    assert proc.stdout == ""
    assert not (tmp_path / "results").exists()
    assert support.stale() - before == set()


def test_unknown_scenario_through_make(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["make", "-s", "run", "S=no_such_scenario"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    assert "kzlab: error: unknown scenario 'no_such_scenario'" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shutdown_variants", "--param", "subscribers=0"], "subscribers=0"),
        (["shutdown_variants", "--param", "operators=many"], "expected KEY=N"),
        (["shutdown_variants", "--param", "speed=2"], "parameters {'speed': 2}"),
        (["baseline", "--param", "home=3"], "takes no parameters"),
    ],
)
def test_bad_scenario_parameters_get_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    before = support.stale()
    proc = support.cli("run", *args, "--results", str(tmp_path / "results"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kzlab: error: ") and message in lines[0], proc.stderr
    assert not (tmp_path / "results").exists()
    assert support.stale() - before == set()


def test_bad_clock_speed_is_refused_before_anything_starts(tmp_path: Path) -> None:
    proc = support.cli("run", "curfew", "--seconds-per-hour", "-1", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2 and "outside 0..3600" in proc.stderr
    assert not (tmp_path / "r").exists()
