"""Lab 4 in real labs. The student's lab (``python -m labs lab 4``) with Task 0's CLI
commands typed in: the censors printed, a probe blocked, a method the counter-move stops
one line, a packet strategy getting the probe through and switched off again. Then one
grading lab for a class (as grade-all grades one): the reference recipes get full marks;
another student's submission with a wrong method fails that task, one the counter-move
stops fails with the counter-move named, and the rest pass."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from labs.framework import grading, registry
from tools.basics.paths import REPO
from tools.lab.session import LabSession

FOLDER = registry.find(4)
LAB4 = FOLDER.definition
SOLVE = FOLDER.solution()
# s37: injection for home2, SNI reset, the device, BlockTorRelays; s13: the resolver's
# blocklist, address blocking, the device, BlockTrafficForVPNProtocols.
REFERENCE, OTHER = "s37", "s13"
REAL_ROOT = "CN=kzlab Global Root CA,O=kzlab Global Web PKI,C=US"


def test_the_students_lab_and_its_cli_commands(tmp_path: Path) -> None:
    variant = LAB4.variant(REFERENCE)
    site = variant["tasks"]["site"]["target"]
    assert variant["tasks"]["site"]["flavour"] == "sni_reset" and variant["counter_move"]["censor"] == "BlockTorRelays"
    typed = [
        "censors",
        f"probe home1 {site}",
        "circumvent home1 tor timeout=3",
        "circumvent home1 geneva strategy=clienthello_split",
        "circumvented",
        f"probe home1 {site}",
        "uncircumvent home1 geneva",
        "circumvented",
        "exit",
    ]
    argv = [sys.executable, "-m", "labs", "lab", "4", "--student", REFERENCE, "--work", str(tmp_path)]
    out = subprocess.run(argv, input="\n".join(typed) + "\n", capture_output=True, text=True, cwd=REPO, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    said = out.stdout.replace("mininet> ", "\n").splitlines()
    assert f"  Task 2 (site): home1 cannot reach {site}" in said
    probed = [line for line in said if line.startswith("home1 -> ")]
    assert f"home1 -> {site}: http-failure:connection_reset" in said, probed
    assert [line for line in said if line.startswith("kzlab: tor: ")], said  # its one line: the relays are blocked
    assert "kzlab: geneva is on in home1" in said
    assert 'home1: geneva {"strategy": "clienthello_split", "port": 443, "queue": 0}' in said
    assert f"home1 -> {site}: accessible (chain ends at {REAL_ROOT})" in said, probed
    assert "kzlab: home1 geneva is off" in said and said[-1] == ""  # the last circumvented: nothing on


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LAB4.grading():
        yield LAB4.shared_session()


def test_a_class_is_graded_in_one_lab(lab: LabSession, tmp_path: Path) -> None:
    (tmp_path / REFERENCE).mkdir()
    assert SOLVE.solve(LAB4, REFERENCE, tmp_path / REFERENCE) == 0
    (row,) = grading.grade_all(LAB4, tmp_path)
    assert row["total"] == 100 and not row["error"], row
    assert LAB4.shared_session() is lab  # grade-all used the class's lab


def test_a_wrong_method_and_one_the_counter_move_stops_fail_their_tasks(lab: LabSession, tmp_path: Path) -> None:
    assert SOLVE.solve(LAB4, OTHER, tmp_path) == 0
    answers = json.loads((tmp_path / "answers.json").read_text())
    answers["dns"] |= {"method": "geneva", "params": {"strategy": "clienthello_split"}}
    answers["site"] |= {"method": "wireguard", "params": {"timeout": 3}}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    results = {r.key: r for r in grading.grade(LAB4, OTHER, tmp_path).results}
    assert {k: r.earned for k, r in results.items()} == {
        "dns": 0,
        "dns_why": 0,  # it explains the reference's method, not geneva
        "site": 0,
        "site_why": 10,  # "encrypted" says what a tunnel does too
        "device_or_telegram": 25,
        "device_or_telegram_why": 15,
    }
    dns = LAB4.variant(OTHER)["tasks"]["dns"]
    assert results["dns"].hint == (
        f"with geneva on, home1's probe of {dns['target']} saw dns:dns_nxdomain_error: "
        "ResolverBlocklist still sees what it acts on"
    )
    assert results["site"].hint == (
        "wireguard did not come up in home1: wireguard: handshake with 5.9.10.30: not after 3 s: "
        "the counter-move BlockTrafficForVPNProtocols in your lab is there to stop wireguard"
    )
    left = lab.run("home1", "ip -o link; ip route; iptables -w -S; iptables -w -t nat -S").out
    assert "wg0" not in left and "NFQUEUE" not in left  # every method switched off again
