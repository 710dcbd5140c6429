"""The walk-through's reading of the handouts and its verdicts: every handout's commands
are found (a lab started before its CLI lines, the checker, every placeholder filled in
from the variant), and a line seeded into a handout that Mininet does not know is found
and reported failed by Mininet's own CLI (an empty network's: no lab, no root)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from labs.framework import registry, walkthrough
from labs.framework.walkthrough import Command

STUDENT = "s37"
# Mininet's CLI on a network with no nodes; Mininet.init (root, host limits) is not needed for it.
EMPTY_CLI = "from mininet.net import Mininet; from mininet.cli import CLI; Mininet.inited = True; CLI(Mininet())"


@pytest.mark.parametrize("number", [f.number for f in registry.folders()])
def test_every_handout_has_its_commands_found(number: int) -> None:
    found = walkthrough.commands(number, STUDENT)
    shell = [c.text for c in found if not c.cli]
    assert sum(walkthrough.MAKE_LAB.match(t) is not None for t in shell) == 1, shell
    assert any(t.startswith(("make check ", "sudo make check ")) and f"STUDENT={STUDENT}" in t for t in shell)
    cli = [i for i, c in enumerate(found) if c.cli]
    opened = next(i for i, c in enumerate(found) if walkthrough.MAKE_LAB.match(c.text))
    assert all(i > opened for i in cli)
    assert not [c.text for c in found if "your-id" in c.text or "<" in c.text.replace("</dev/null", "")]
    assert not [c.text for c in found if c.text.startswith(("{", '"'))]  # the submission's example is no command


def test_placeholders_are_filled_from_the_variant() -> None:
    lab1 = [c.text for c in walkthrough.commands(1, STUDENT)]
    assert "home1 curl -sS -o /dev/null --max-time 10 https://instagram.com/" in lab1
    lab5 = [c.text for c in walkthrough.commands(5, STUDENT)]
    assert "tcpdump -nr lab5-work/samples/0800/border-transit.pcap icmp" in lab5  # s37's first window: 08:00
    tshark = next(t for t in lab5 if t.startswith("tshark "))
    assert " \\" not in tshark and "-Y 'tls.handshake.type == 1' -T fields" in tshark  # the continuation joined


def test_a_seeded_unknown_cli_command_is_found_and_reported_failed(tmp_path: Path) -> None:
    handout = (registry.find(1).path / "README.md").read_text()
    seeded = handout.replace("    mininet> home1 dig +short vk.com\n", "    mininet> frobnicate home1\n", 1)
    (broken,) = [c for c in walkthrough.extract(seeded) if c.text == "frobnicate home1"]
    assert broken.cli and len(walkthrough.extract(seeded)) == len(walkthrough.extract(handout))
    cli = walkthrough.Session(f"HOME={tmp_path} {shlex.quote(sys.executable)} -c {shlex.quote(EMPTY_CLI)}", tmp_path)
    assert cli.start() is not None and cli.nodes == set()
    said, status = cli.run(broken)
    assert walkthrough.judge(broken, said, status) == "Mininet does not know the command", said
    known = Command(0, "help", cli=True)
    said, status = cli.run(known)
    assert walkthrough.judge(known, said, status) is None and "Documented commands" in said
    assert cli.close()[1] == 0


def test_a_measurement_the_network_refuses_ran_and_a_usage_error_did_not() -> None:
    blocked = Command(0, "home1 curl -sS --max-time 10 https://instagram.com/", cli=True)
    assert walkthrough.judge(blocked, "curl: (35) Recv failure: Connection reset by peer\n", 35) is None
    assert walkthrough.judge(blocked, "curl: (2) no URL specified\n", 2) == "exit status 2"
    check = Command(0, "make check L=1 STUDENT=s37 SUBMISSION=lab1-work", cli=False)
    assert walkthrough.judge(check, "  total 0/100\n", 1) is None
    assert walkthrough.judge(check, "kzlab: error: unknown lab '9'\n", 2) == "bad input"
    assert walkthrough.judge(check, "make: *** [Makefile:61: check] Error 2\n", 2) == "exit status 2"
    typo = Command(0, "tcpdump -nr lab5-work/samples/0800/border-transit.pcap icmp", cli=False)
    assert walkthrough.judge(typo, "tcpdump: lab5-work/x.pcap: No such file or directory\n", 1) == "a file is missing"


def test_a_graded_make_check_is_an_answer_inside_another_make_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make check` that grades a submission short of full marks exits 2 with make's
    "Error 1" (make[1] when a make runs the walk-through, as `make test` does): an answer.
    The shell line runs as in a student's terminal, without the outer make's variables."""
    (tmp_path / "Makefile").write_text("check:\n\t@echo '  total 0/100'; env | grep -c '^MAKELEVEL=1$$'; exit 1\n")
    monkeypatch.setenv("MAKELEVEL", "1")
    monkeypatch.setenv("MAKEFLAGS", "w")
    check = Command(0, "make check L=1 STUDENT=s37 SUBMISSION=lab1-work", cli=False)
    said, status = walkthrough.shell(check, tmp_path)
    assert status == 1 and "make: *** [Makefile:2: check] Error 1" in said, said
    assert walkthrough.judge(check, said, status) is None
    nested = "make[1]: *** [Makefile:66: check] Error 1\n"
    assert walkthrough.MAKE_ERROR.findall(nested) == ["1"]
