"""Scenario validation, scenario loading by name or file, and the matrix rendering.

Every error case starts from the shipped baseline (which validates) and changes one
field, so the ScenarioError raised is that field's.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from scenarios import baseline
from tools.play import cli
from tools.play.matrix import Cell, render
from tools.play.spec import OUTCOME, Phase, Scenario, ScenarioError, Step, Target

BASE = baseline.SCENARIO
WEB = Target.web("kaspi.kz")
TELEGRAM = Target("telegram", "telegram")


def variant(**changes: Any) -> Scenario:
    return dataclasses.replace(BASE, **changes)


def with_phase(*steps: Step, **phase: Any) -> Scenario:
    return variant(phases=(Phase("p1", steps=steps, **phase),))


# -- the shipped baseline ------------------------------------------------------------------


def test_baseline_validates_with_an_expectation_for_every_cell() -> None:
    """The baseline validates against kz_isp; each phase expects a valid outcome in every
    (client, target) cell, and it is "accessible" everywhere (a negative control)."""
    model = BASE.validate()
    clients = BASE.client_list(model)
    assert clients == model.clients()
    assert {"home1", "mob1", "abroad"} <= set(clients)
    assert len({t.name for t in BASE.targets}) == len(BASE.targets)
    assert [p.name for p in BASE.phases] == ["open", "dummy"]
    for phase in BASE.phases:
        for client in clients:
            for target in BASE.targets:
                outcome = phase.expected(client, target.name)
                assert OUTCOME.match(outcome), (phase.name, client, target.name)
                assert outcome == "accessible"


def test_baseline_targets_are_lab_sites() -> None:
    """Every web target of the baseline is served by a node of the topology."""

    records = BASE.validate().zone_records()
    for target in BASE.targets:
        if target.kind == "web_connectivity":
            host = re.sub(r"^https?://([^/]+)/.*$", r"\1", target.url or "")
            assert host in records, target.name


def test_phase_expect_overrides_default() -> None:
    phase = Phase("p", default="accessible", expect={("home1", "kaspi.kz"): "dns:dns_nxdomain_error"})
    assert phase.expected("home1", "kaspi.kz") == "dns:dns_nxdomain_error"
    assert phase.expected("home2", "kaspi.kz") == "accessible"


def test_target_web_names() -> None:
    """https targets are named by the domain, others by scheme://domain; the URL is the
    site's front page."""
    assert Target.web("vk.com") == Target("vk.com", "web_connectivity", "https://vk.com/")
    assert Target.web("vk.com", "http") == Target("http://vk.com", "web_connectivity", "http://vk.com/")


# -- validation errors --------------------------------------------------------------------


ATTACH = Step("attach", "c1", "Dummy", "gw")
SPLIT = Step("circumvent", "m1", node="home1", params={"strategy": "clienthello_split"}, method="geneva")

ERRORS: list[tuple[str, Scenario | Any, str]] = [
    ("unknown client", lambda: variant(clients=("home1", "nobody")), "client 'nobody' is not a client"),
    ("router as client", lambda: variant(clients=("core",)), "client 'core' is not a client of kz_isp"),
    ("server as client", lambda: variant(clients=("resolver",)), "client 'resolver' is not a client"),
    ("segment as client", lambda: variant(clients=("home_lan",)), "client 'home_lan' is not a client"),
    ("duplicate targets", lambda: variant(targets=(WEB, TELEGRAM, WEB)), "duplicate target names"),
    (
        "unknown probe kind",
        lambda: variant(targets=(Target("x", "ndt"),)),
        "target 'x': unknown kind 'ndt'",
    ),
    ("web target without url", lambda: variant(targets=(Target("kaspi"),)), "target 'kaspi': needs an http"),
    (
        "web target with another scheme",
        lambda: variant(targets=(Target("k", url="ftp://kaspi.kz/"),)),
        "target 'k': needs an http(s) url",
    ),
    ("no phases", lambda: variant(phases=()), "no phases"),
    ("no targets", lambda: variant(targets=()), "no targets"),
    (
        "unknown censor",
        lambda: with_phase(Step("attach", "c1", "great_firewall", "gw")),
        "phase 'p1': unknown censor 'great_firewall'",
    ),
    (
        "censor at unknown node",
        lambda: with_phase(Step("attach", "c1", "Dummy", "nowhere")),
        "censor 'c1': no node 'nowhere'",
    ),
    (
        "censor at a segment",
        lambda: with_phase(Step("attach", "c1", "Dummy", "home_lan")),
        "censor 'c1': no node 'home_lan'",
    ),
    ("same key attached twice", lambda: with_phase(ATTACH, ATTACH), "censor 'c1' is already attached"),
    (
        "same key attached twice across phases",
        lambda: variant(phases=(Phase("a", steps=(ATTACH,)), Phase("b", steps=(ATTACH,)))),
        "phase 'b': censor 'c1' is already attached",
    ),
    ("detach never attached", lambda: with_phase(Step("detach", "c9")), "censor 'c9' is not attached"),
    (
        "detach twice",
        lambda: with_phase(ATTACH, Step("detach", "c1"), Step("detach", "c1")),
        "censor 'c1' is not attached",
    ),
    ("unknown action", lambda: with_phase(Step("pause", "c1")), "unknown action 'pause'"),
    (
        "unknown method",
        lambda: with_phase(dataclasses.replace(SPLIT, method="teleport")),
        "phase 'p1': unknown method 'teleport' (doh, dot,",
    ),
    (
        "method at a router",
        lambda: with_phase(dataclasses.replace(SPLIT, node="gw")),
        "method 'm1': 'gw' is not a client",
    ),
    (
        "strategy that does not parse",
        lambda: with_phase(dataclasses.replace(SPLIT, params={"strategy": "[TCP:flags:PA]-frag"})),
        "method 'geneva': parameter 'strategy' expects a Geneva strategy string or a library name, "
        "got '[TCP:flags:PA]-frag' (at position 15",
    ),
    ("method key in use", lambda: with_phase(ATTACH, dataclasses.replace(SPLIT, key="c1")), "'c1' is already in use"),
    ("detach a method", lambda: with_phase(SPLIT, Step("detach", "m1")), "censor 'm1' is not attached"),
    ("uncircumvent a censor", lambda: with_phase(ATTACH, Step("uncircumvent", "c1")), "method 'c1' is not switched on"),
    ("default not an outcome", lambda: with_phase(default="blocked"), "'blocked' is not an outcome"),
    (
        "expectation not an outcome",
        lambda: with_phase(expect={("home1", "kaspi.kz"): "dns:NXDOMAIN"}),
        "'dns:NXDOMAIN' is not an outcome",
    ),
    (
        "expectation for unknown client",
        lambda: with_phase(expect={("home9", "kaspi.kz"): "accessible"}),
        "expectation for unknown cell (home9, kaspi.kz)",
    ),
    (
        "expectation for unknown target",
        lambda: with_phase(expect={("home1", "nosuch.kz"): "accessible"}),
        "expectation for unknown cell (home1, nosuch.kz)",
    ),
    (
        "unknown censor parameter",
        lambda: with_phase(Step("attach", "c1", "Dummy", "gw", {"rate": 5})),
        "censor 'Dummy': unknown parameter(s) ['rate']",
    ),
    ("unknown topology", lambda: variant(topology="mesh"), "topology: unknown topology 'mesh'"),
    ("bad topology params", lambda: variant(topology_params={"home": 0}), "topology: kz_isp: home=0"),
    (
        "unknown topology param",
        lambda: variant(topology_params={"towers": 3}),
        "topology: build() got an unexpected keyword argument 'towers'",
    ),
    ("capture on no link", lambda: variant(capture=(("gw", "facebook"),)), "capture: no link gw-facebook"),
    ("capture on unknown node", lambda: variant(capture=(("gw", "xx"),)), "capture: no link gw-xx"),
    ("upper-case name", lambda: variant(name="Baseline"), "name must be lower-case"),
    ("name with dash", lambda: variant(name="my-run"), "name must be lower-case"),
    ("name from digit", lambda: variant(name="1st"), "name must be lower-case"),
    ("empty name", lambda: variant(name=""), "name must be lower-case"),
]


@pytest.mark.parametrize(("make", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_validation_errors(make: Any, message: str) -> None:
    """validate() raises ScenarioError naming the scenario and the faulty field."""
    scenario = make()
    with pytest.raises(ScenarioError, match=re.escape(message)) as info:
        scenario.validate()
    assert str(info.value).startswith(f"scenario {scenario.name!r}")
    assert "\n" not in str(info.value)


def test_valid_variants_pass() -> None:
    """Attach, detach and re-attach of one key, a chosen client subset and a blocked
    expectation all validate: the errors above are not raised for everything."""
    s = variant(
        clients=("home1", "abroad"),
        capture=(("gw", "core"),),
        phases=(
            Phase("a", steps=(ATTACH,), expect={("home1", "kaspi.kz"): "tcp_ip:generic_timeout_error"}),
            Phase("b", steps=(Step("detach", "c1"),)),
            Phase("c", steps=(ATTACH, SPLIT), expect={("abroad", "telegram"): "blocked:telegram_web"}),
            Phase("d", steps=(Step("uncircumvent", "m1"),)),
        ),
    )
    model = s.validate()
    assert s.client_list(model) == ["home1", "abroad"]


@pytest.mark.parametrize(
    "outcome",
    [
        "accessible",
        "tls_mitm",
        "dns:dns_nxdomain_error",
        "tcp_ip:generic_timeout_error",
        "http-failure:connection_reset",
        "http-diff:none",
        "down:connection_refused",
        "blocked:facebook_dns_blocking,facebook_tcp_blocking",
        "unknown:control_failure",
    ],
)
def test_outcome_pattern_accepts(outcome: str) -> None:
    assert OUTCOME.match(outcome)


@pytest.mark.parametrize(
    "outcome", ["", "blocked", "dns:", "dns", "tcp:timeout", "accessible:yes", "tls_mitm ", "http-diff:Bad"]
)
def test_outcome_pattern_rejects(outcome: str) -> None:
    assert not OUTCOME.match(outcome)


# -- cli.load() and names() -----------------------------------------------------------------


def test_load_by_name() -> None:
    assert cli.load("baseline") is BASE


def test_names_lists_scenarios_only() -> None:
    """names() lists scenario modules, not the package's own machinery."""
    names = cli.names()
    assert "baseline" in names
    assert not {"cli", "spec", "runner", "matrix", "__main__"} & set(names)


@pytest.mark.parametrize("name", ["nosuch", "cli", "spec"])
def test_load_unknown_name(name: str) -> None:
    with pytest.raises(ScenarioError, match=f"unknown scenario '{name}' \\(known: .*baseline"):
        cli.load(name)


def _load_error(ref: str) -> str:
    with pytest.raises(ScenarioError) as info:
        cli.load(ref)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_load_missing_file(tmp_path: Path) -> None:
    ref = str(tmp_path / "missing.py")
    assert _load_error(ref) == f"no scenario file {ref!r}"


def test_load_file_without_scenario(tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("X = 1\n")
    assert "defines no SCENARIO" in _load_error(str(path))


def test_load_file_with_wrong_scenario_type(tmp_path: Path) -> None:
    path = tmp_path / "wrong.py"
    path.write_text("SCENARIO = {'name': 'x'}\n")
    assert "defines no SCENARIO" in _load_error(str(path))


def test_load_file_with_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("SCENARIO = (\n")
    message = _load_error(str(path))
    assert message.startswith(f"scenario file {path}: SyntaxError:")


def test_load_file_raising_on_import(tmp_path: Path) -> None:
    path = tmp_path / "raises.py"
    path.write_text("raise RuntimeError('boom')\n")
    assert _load_error(str(path)) == f"scenario file {path}: RuntimeError: boom"


def test_load_file_with_a_scenario(tmp_path: Path) -> None:
    """A user's scenario file is loaded by path and validates."""
    path = tmp_path / "mine.py"
    path.write_text(
        "from tools.play.spec import Phase, Scenario, Target\n"
        "SCENARIO = Scenario(name='mine', description='d', phases=(Phase('p'),),\n"
        "                    targets=(Target.web('kaspi.kz'),))\n"
    )
    scenario = cli.load(str(path))
    assert scenario.name == "mine"
    assert scenario.validate().name == "kz_isp"


# -- matrix.render -----------------------------------------------------------------------------


def test_render_marks_mismatches_and_counts() -> None:
    """A mismatched cell shows "! observed" and is listed with its expectation below the
    "N/M cells as expected" line; header and rows share column positions."""
    clients, targets = ["home1", "abroad"], ["kaspi.kz", "facebook.com"]
    cells = [
        Cell("home1", "kaspi.kz", "accessible", "accessible"),
        Cell("abroad", "kaspi.kz", "accessible", "accessible"),
        Cell("home1", "facebook.com", "accessible", "tcp_ip:generic_timeout_error"),
        Cell("abroad", "facebook.com", "accessible", "accessible"),
    ]
    lines = render("baseline / open", clients, targets, cells).splitlines()
    assert lines[0] == "baseline / open"
    header, rows = lines[1], lines[2:4]
    assert rows[0].split() == ["kaspi.kz", "accessible", "accessible"]
    assert rows[1].split() == ["facebook.com", "!", "tcp_ip:generic_timeout_error", "accessible"]
    assert lines[4] == "3/4 cells as expected"
    assert lines[5:] == ["  ! home1 -> facebook.com: expected accessible, observed tcp_ip:generic_timeout_error"]
    # columns line up: each client's name starts where its cells start
    for client in clients:
        col = header.index(client)
        assert rows[0][col:].startswith("accessible")
    assert rows[1][header.index("home1") :].startswith("! tcp_ip")
    assert rows[1][header.index("abroad") :].startswith("accessible")


def test_render_all_as_expected() -> None:
    cells = [Cell("home1", "vk.com", "dns:dns_nxdomain_error", "dns:dns_nxdomain_error")]
    text = render("t", ["home1"], ["vk.com"], cells)
    assert text.splitlines()[-1] == "1/1 cells as expected"
    assert "!" not in text
    assert cells[0].as_dict() == {
        "client": "home1",
        "target": "vk.com",
        "expected": "dns:dns_nxdomain_error",
        "observed": "dns:dns_nxdomain_error",
        "match": True,
    }
