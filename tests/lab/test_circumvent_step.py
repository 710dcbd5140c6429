"""The ``circumvent`` step in a live lab (tools/circumvent/method.py, tools/lab/lab.py): a
method switched on in one subscriber changes what gets through for that subscriber only,
switching it off restores the block, a method that does not come up is one error line and
leaves nothing running, and the lab with the circumvention servers (``circumvention=True``)
starts like any other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.lab.session import LabSession, LabSessionError

FETCH = "curl -sS -m 10 -o /dev/null -w '%{http_code}' https://vk.com/"


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession(circumvention=True) as session:
        session.attach("sni", "ResetTrafficForTLSSNI", "gw", domains=["vk.com"])
        yield session


def fetch(lab: LabSession, node: str) -> str:
    r = lab.run(node, FETCH)
    return r.out.strip() if r.rc == 0 else f"curl exit {r.rc}"


def test_a_method_lets_its_subscriber_through_and_only_it(lab: LabSession) -> None:
    assert fetch(lab, "home2") == "curl exit 35"  # reset during the handshake
    lab.circumvent("split", "geneva", "home2", strategy="clienthello_split")
    try:
        assert fetch(lab, "home2") == "200"
        assert fetch(lab, "home1") == "curl exit 35"
    finally:
        lab.uncircumvent("split")
    assert fetch(lab, "home2") == "curl exit 35"
    assert "NFQUEUE" not in lab.run("home2", "iptables -S").out


def test_a_method_that_does_not_come_up_says_why_and_leaves_nothing(lab: LabSession) -> None:
    lab.circumvent("first", "geneva", "home1", strategy="kz_segmentation", queue=7)
    try:
        before = lab.run("home1", "pgrep -f tools.circumvent.geneva").out.split()
        with pytest.raises(LabSessionError, match=r"^MethodError: geneva engine: its process exited \(2\): .*queue 7"):
            lab.circumvent("second", "geneva", "home1", strategy="kz_segmentation", queue=7)
        assert lab.run("home1", "pgrep -f tools.circumvent.geneva").out.split() == before
        assert lab.probe_options("home1") == {}
    finally:
        lab.uncircumvent("first")
    assert lab.run("home1", "pgrep -f tools.circumvent.geneva").out.split() == []


def test_a_bad_method_parameter_is_one_line(lab: LabSession) -> None:
    with pytest.raises(LabSessionError, match=r"^MethodError: method 'geneva': parameter 'strategy' .*position"):
        lab.circumvent("bad", "geneva", "home1", strategy="[TCP:flags:PA]-frag")
