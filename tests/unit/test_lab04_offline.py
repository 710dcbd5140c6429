"""Lab 4, Get around it, without a lab: variants, recipes checked offline, the whys graded
by key words, the replay's hints, the reference recipes, the CLI's parameters, the handout.

The replay itself is tests/lab/test_lab04.py's: here no submission with a recipe the
checker could replay goes through ``LAB.check`` (as root it would build a lab).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from labs.framework import registry
from labs.framework.checks import Task
from labs.framework.errors import BadInput
from tools.basics.paths import REPO
from tools.censors.registry import CENSORS
from tools.circumvent.registry import METHODS
from tools.gateway.targets import TARGETS
from topologies.internet import DOMESTIC, INTERNATIONAL, all_sites

FOLDER = registry.find(4)
LAB4 = FOLDER.definition  # loading it puts the lab's own package on sys.path
catalogue = importlib.import_module("get_around_it.catalogue")
cli = importlib.import_module("get_around_it.cli")
recipes = importlib.import_module("get_around_it.recipes")
replay = importlib.import_module("get_around_it.replay")
why = importlib.import_module("get_around_it.why")
solve = FOLDER.solution()
KEYS = ["dns", "dns_why", "site", "site_why", "device_or_telegram", "device_or_telegram_why"]
VARIANTS = [LAB4.variant(f"student{i}") for i in range(400)]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labs", *argv], capture_output=True, text=True, cwd=REPO)


def check(tmp_path: Path, student: str, answers: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    return {r.key: r for r in LAB4.check(LAB4.variant(student), tmp_path)}


# -- variants ---------------------------------------------------------------------------------
def test_variants_are_deterministic_per_id_and_differ_between_ids() -> None:
    assert LAB4.variant("alice") == LAB4.variant("alice") != LAB4.variant("bob")
    assert len({json.dumps([v["tasks"], v["counter_move"]], sort_keys=True) for v in VARIANTS}) >= 395
    flavours = Counter(t["flavour"] for v in VARIANTS for t in v["tasks"].values())
    assert set(flavours) == {f.name for fs in catalogue.FLAVOURS.values() for f in fs}
    assert min(flavours.values()) >= 40
    counters = Counter((v["counter_move"] or {}).get("censor") for v in VARIANTS)
    assert set(counters) == {None, *catalogue.COUNTER_MOVES} and 150 <= counters[None] <= 250


def test_reveal_is_the_variant_seeded_by_sha256() -> None:
    out = run("check", "4", "--student", "alice", "--reveal")
    assert out.returncode == 0 and json.loads(out.stdout) == LAB4.variant("alice")


def blocked_by(censor: dict[str, Any]) -> set[str]:
    """The sites of the lab a censor of a variant blocks (its names, or the sites at its
    addresses); Telegram's censors block none of them."""
    params, sites = censor["params"], all_sites(INTERNATIONAL + DOMESTIC)
    if "prefixes" in params and censor["censor"] == "DropTrafficForServerEndpoint":
        return {n for n in catalogue.SITES if f"{sites[n].address}/32" in params["prefixes"]}
    return set(params.get("domains") or params.get("targets") or ())


def test_each_censor_blocks_its_own_target_and_no_other_tasks() -> None:
    for v in VARIANTS:
        tasks = v["tasks"]
        targets = [t["target"] for t in tasks.values()]
        assert len(set(targets)) == 3 and targets[2] in (catalogue.TELEGRAM, *catalogue.DEVICE_NAMES)
        for key, task in tasks.items():
            for censor in task["censors"]:
                assert censor["censor"] in CENSORS
                assert blocked_by(censor) & set(targets) == ({task["target"]} - {catalogue.TELEGRAM})
            assert task["subscriber"] == ("home2" if task["flavour"] == "dns_injection" else "home1"), key
        if tasks["device_or_telegram"]["flavour"] == "device":
            (device,) = tasks["device_or_telegram"]["censors"]
            assert set(device["params"]["targets"]) <= set(TARGETS["2019"])
        counter = v["counter_move"]
        assert counter is None or counter["censor"] != "BlockTrafficForMTProtoProxy" or targets[2] == "telegram"


def test_steps_attach_every_censor_of_the_variant() -> None:
    v = next(
        v for v in VARIANTS if v["tasks"]["device_or_telegram"]["flavour"] == "telegram_both" and v["counter_move"]
    )
    steps = LAB4.steps(v)
    assert [s.key for s in steps] == ["dns-0", "site-0", "device_or_telegram-0", "device_or_telegram-1", "counter-move"]
    assert all(s.action == "attach" for s in steps)
    assert [s.censor for s in steps[2:4]] == ["DropTrafficForServerEndpoint", "BlockTrafficForMTProto"]
    for step in steps:
        CENSORS[step.censor](**step.params)  # the catalogue's own checks accept every parameter
    assert "Counter-move: " + v["counter_move"]["censor"] in catalogue.describe(v)


# -- submissions checked offline --------------------------------------------------------------
def test_an_empty_submission_gets_zero_with_a_hint_per_task(tmp_path: Path) -> None:
    out = run("check", "4", "--student", "alice", "--submission", str(tmp_path), "--json")
    report = json.loads(out.stdout)
    assert out.returncode == 1 and report["earned"] == 0
    assert [t["key"] for t in report["tasks"]] == KEYS and sum(t["points"] for t in report["tasks"]) == 100
    hints = [t["hint"] for t in report["tasks"]]
    assert all(hints) and len(set(hints)) == 6


def test_recipes_that_cannot_be_replayed_fail_with_the_reason(tmp_path: Path) -> None:
    answers = {
        "dns": {"method": "vpn"},
        "site": {"method": "geneva", "params": {"strategy": "[TCP:flags:PA]-fragment{tcp:-1:True}"}},
        "device_or_telegram": {"params": {}},
    }
    results = check(tmp_path, "alice", answers)
    assert "'vpn' is no method of the lab" in results["dns"].hint
    assert results["site"].hint.startswith("method 'geneva': parameter 'strategy' expects")
    assert results["device_or_telegram"].hint.startswith('"device_or_telegram" names no "method"')
    assert results["dns_why"].hint.startswith("no answer") and not any(r.ok for r in results.values())


def test_a_malformed_answers_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "answers.json").write_text(json.dumps({"dns": {"method": ["doh"]}}))
    with pytest.raises(BadInput, match=r"'dns\.method' must be a string"):
        LAB4.check(LAB4.variant("alice"), tmp_path)
    out = run("check", "4", "--student", "alice", "--submission", str(tmp_path))
    assert out.returncode == 2 and out.stderr.startswith("kzlab: error: ") and len(out.stderr.splitlines()) == 1


# -- the whys ------------------------------------------------------------------------------------
WHY = Task("dns_why", "why", 10, "a why")


def test_a_why_must_say_the_mechanism_and_what_the_method_changes() -> None:
    resolver = ["ResolverBlocklist"]
    good = "The ISP's resolver lies about the name's DNS lookup; DoH sends the lookup encrypted over HTTPS abroad."
    assert why.grade(WHY, good, resolver, "doh").ok
    vague = "It works because the method is a good one and the censor cannot see it at all."
    assert why.grade(WHY, vague, resolver, "doh").hint == "say who gives the false answer"
    no_method = "The ISP's resolver lies about the name's DNS lookup, so I asked another resolver instead."
    assert why.grade(WHY, no_method, resolver, "doh").hint == "say what the method does to what the censor reads"
    assert why.grade(WHY, good, resolver, None).hint == "a why needs its recipe: name the method first"
    assert why.grade(WHY, "resolver DNS https", resolver, "doh").hint.startswith("3 words")
    assert why.grade(WHY, " ".join([good] * 10), resolver, "doh").hint.endswith("in 8 to 150 words")
    assert why.grade(WHY, "", resolver, "doh").hint == "no answer: a why"


def test_a_why_for_two_censors_speaks_of_both() -> None:
    both = ["DropTrafficForServerEndpoint", "BlockTrafficForMTProto"]
    text = "The gateway drops Telegram's address prefixes. Through the proxy its traffic looks like TLS to kaspi.kz."
    assert why.grade(WHY, text, both, "mtproxy").hint == "say what the censor recognises"
    text += " Its DPI cannot recognise obfuscated2 in it."
    assert why.grade(WHY, text, both, "mtproxy").ok


def test_every_censor_and_method_has_key_words() -> None:
    censors = {c["censor"] for v in VARIANTS for t in v["tasks"].values() for c in t["censors"]}
    assert censors == set(why.MECHANISMS) and set(METHODS) == set(why.METHODS)


# -- the replay's verdicts ------------------------------------------------------------------------
RECIPE = Task("site", "a recipe", 20, "a recipe")
REAL = replay.REAL_ROOT


def test_the_replay_passes_only_what_got_through_with_the_real_certificate() -> None:
    variant = next(
        v for v in VARIANTS if v["counter_move"] and v["counter_move"]["censor"] == "DropTrafficForEncryptedDNS"
    )
    dns, counter = variant["tasks"]["dns"], variant["counter_move"]
    doh, geneva = recipes.Recipe("doh", {}), recipes.Recipe("geneva", {"strategy": "kz_segmentation"})
    assert replay.grade(RECIPE, dns, counter, doh, replay.Outcome(None, "accessible", REAL)).ok
    mitm = replay.grade(
        RECIPE, dns, counter, geneva, replay.Outcome(None, "accessible", "CN=Qaznet Trust Network,C=KZ")
    )
    assert not mitm.ok and "not the real root" in mitm.hint
    seen = replay.grade(RECIPE, dns, counter, geneva, replay.Outcome(None, "dns:dns_nxdomain_error"))
    assert seen.hint.startswith(
        f"with geneva on, {dns['subscriber']}'s probe of {dns['target']} saw dns:dns_nxdomain_error"
    )
    assert seen.hint.endswith(f"{dns['censors'][0]['censor']} still sees what it acts on")
    line = "MethodError: doh: no answer from dns.google at 8.8.8.8, 8.8.4.4 port 443 through the stub: not after 8 s"
    stopped = replay.grade(RECIPE, dns, counter, doh, replay.Outcome(line))
    assert stopped.hint == (f"doh did not come up in {dns['subscriber']}: {line.removeprefix('MethodError: ')}: "
                            "the counter-move DropTrafficForEncryptedDNS in your lab is there to stop doh")  # fmt: skip
    telegram = next(
        v["tasks"]["device_or_telegram"] for v in VARIANTS if v["tasks"]["device_or_telegram"]["target"] == "telegram"
    )
    assert replay.grade(RECIPE, telegram, None, recipes.Recipe("mtproxy", {}), replay.Outcome(None, "accessible")).ok


# -- the reference --------------------------------------------------------------------------------
def test_the_reference_recipes_are_valid_and_not_what_the_counter_move_stops(tmp_path: Path) -> None:
    for v in VARIANTS:
        given = {task: solve.recipe(LAB4, v["student"], task) for task in catalogue.TASKS}
        stopped = catalogue.COUNTER_MOVES[v["counter_move"]["censor"]] if v["counter_move"] else ()
        for task in catalogue.TASKS:
            recipe = recipes.recipe(given, task)
            assert isinstance(recipe, recipes.Recipe) and recipe.method not in stopped
            censors = [c["censor"] for c in v["tasks"][task]["censors"]]
            assert why.grade(WHY, recipes.why(given, task), censors, recipe.method).ok, (v["student"], task)
    out = run("solve", "4", "--student", "alice", "--out", str(tmp_path))
    assert out.returncode == 0 and json.loads((tmp_path / "answers.json").read_text())["dns"]["method"] == "shadowsocks"


# -- the CLI --------------------------------------------------------------------------------------
def test_cli_parameters_read_json_or_strings() -> None:
    words = ["resolver=google", "wait_s=3", "bridge=true", 'fronted=["facebook.com"]', "strategy=[TCP:flags:PA]-drop-|"]
    assert cli.parameters(words) == {
        "resolver": "google",
        "wait_s": 3,
        "bridge": True,
        "fronted": ["facebook.com"],
        "strategy": "[TCP:flags:PA]-drop-|",
    }
    with pytest.raises(ValueError, match="'google': expected NAME=VALUE"):
        cli.parameters(["google"])
    listed = cli.method_list()
    assert all(f"{name}: {m.what}" in listed for name, m in METHODS.items())
    assert "    fronted=a list of one or more domain names" in listed and "(required)" in listed


# -- the handout ----------------------------------------------------------------------------------
def test_the_handout_holds_no_solution(tmp_path: Path) -> None:
    out = run("handout", "4", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    lab = "labs/04-get-around-it"
    assert {f"{lab}/README.md", f"{lab}/lab.py", f"{lab}/get_around_it/replay.py"} <= files
    assert not [f for f in files if "solution" in f or "INSTRUCTORS" in f or "__pycache__" in f]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert "REFERENCE" not in path.read_text() and "MECHANISM =" not in path.read_text(), path
