"""What got around the 2019 interception device (kazakhstan.md section 6), on a live lab.

The device is attached at ``gw`` as it is by default, faithful to section 6, and home2
installed the national root: an intercepted connection completes with the forged chain
(``tls_mitm``), and getting around the device means getting the real certificate
(``accessible``: the chain ends at the lab's global root). Each strategy runs in home2's
own namespace (the Geneva engine, tests/lab/strategies.py) while home2 inspects
facebook.com's certificate (tools.probes.cert_inspect: two connections), and the
surveillance log says why the device passed or intercepted each flow.

- Geneva's four published Kazakhstan strategies get the real certificate;
- Geneva's TCB teardown (a client RST after the handshake's ACK, with a bad checksum or
  a short TTL), which worked against China's firewall, does not: the RSTs reach the
  device and the flows are intercepted;
- the hypothetical device that reassembles (``reassemble: true``) intercepts the flows
  that splitting the ClientHello got through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab import support
from tests.lab.strategies import counts, engine
from tools.circumvent.geneva.library import LIBRARY
from tools.gateway.surveillance import read
from tools.lab.session import LabSession

HOME2 = "95.56.1.2"
QAZNET = "CN=Qaznet Trust Network,C=KZ"
GLOBAL_ROOT = "CN=kzlab Global Root CA,O=kzlab Global Web PKI,C=US"
FIRST_SEGMENT = "no whole ClientHello in the first data segment (no reassembly)"
# Geneva's library.py, "TCB Teardown - with RST - Corrupt Chksum / Small TTL, High
# Percentage" (China, 95% and 87%): each of the client's pure ACKs, then a RST copy of it.
# Geneva's TTL was 10, for a firewall some hops out; here home2's RST must pass the device
# at gw (hop 2) and die before facebook (hop 5): TTL 3 ends at hop 3, the border router.
# What home2 gets: a bad checksum is dropped by every endpoint, the device's own socket
# too, so the handshake completes; a short-TTL copy of a later pure ACK reaches the
# device's socket once it has taken the connection over (answered at the gateway
# whatever the TTL, 1.5) and may reset the handshake. The real certificate, never.
TEARDOWN = {
    "rst_bad_checksum": (
        "[TCP:flags:A]-duplicate(,tamper{TCP:flags:replace:R}(tamper{TCP:chksum:corrupt},))-|",
        {"tls_mitm"},
    ),
    "rst_short_ttl": (
        "[TCP:flags:A]-duplicate(,tamper{TCP:flags:replace:R}(tamper{IP:ttl:replace:3},))-|",
        {"tls_mitm", "tls_handshake:connection_reset"},
    ),
}


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession() as session:
        # The border sends no time-exceeded, as many routers on real paths do not: the
        # lab's round trip is half a millisecond, so the one the short-TTL RST provokes
        # would reach home2 before its probe read how its connect went, and Linux reports
        # an ICMP error on an established socket through SO_ERROR (a soft error): the probe
        # would say host_unreachable. On the real path it comes back after that read.
        session.run("border", "iptables -I OUTPUT -p icmp --icmp-type time-exceeded -j DROP")
        session.attach("device", "NationalInterception", "gw")
        session.install_root("home2")
        intercepting(session)
        yield session


def certificate(lab: LabSession) -> str:
    """What home2 gets for https://facebook.com: "tls_mitm" (the forged chain, which it
    trusts through the national root), "accessible" (the real one), or the failure of
    either of the probe's two handshakes (the second verifies the chain)."""
    r = lab.run("home2", "python -m tools.probes.cert_inspect facebook.com --json")
    result = json.loads(r.out)
    if "verification" not in result:
        return f"{result['operation']}:{result['failure']}"
    if result["verification"]["failure"]:
        return f"tls_handshake:{result['verification']['failure']}"
    issuer = result["presented_chain"][0]["issuer"]
    root = result["verification"]["trusted_root"]
    if issuer == "CN=Security Certificate,C=KZ" and root == QAZNET:
        return "tls_mitm"
    return "accessible" if root == GLOBAL_ROOT else f"chain from {issuer} to {root}"


def intercepting(lab: LabSession) -> None:
    """Wait until the device intercepts facebook.com for home2: its first forged leaf (a
    fresh RSA key, 1.7) can take longer than the probe's handshake timeout on a busy machine."""
    support.poll(lambda: certificate(lab) == "tls_mitm", 60, "the device to intercept facebook.com")


def events(lab: LabSession) -> list[dict[str, Any]]:
    """The device's decisions on home2's flows (passed or intercepted), whichever end it
    took for the client: after a TCB turnaround it logs the server as the subscriber."""
    return [
        e
        for e in read(lab.rundir / "surveillance.jsonl")
        if e["event"] in ("passed", "intercepted") and HOME2 in (e["subscriber"], e["server"])
    ]


def device_counts(lab: LabSession) -> dict[str, int]:
    return json.loads((lab.rundir / "censors" / "device" / "interceptor-stats.json").read_text())["counts"]


def test_without_a_strategy_facebook_is_intercepted(lab: LabSession) -> None:
    before = len(events(lab))
    assert certificate(lab) == "tls_mitm"
    assert [e["event"] for e in events(lab)[before:]] == ["intercepted"] * 2


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("kz_segmentation", FIRST_SEGMENT),
        ("kz_small_ip_length", FIRST_SEGMENT),
        ("kz_syn_payload", "data in a SYN, taken for the flow's first data"),
        ("kz_tcb_turnaround", "data from the end the device took for the server"),
    ],
)
def test_each_kazakhstan_strategy_gets_the_real_certificate(lab: LabSession, name: str, reason: str) -> None:
    """Section 6: each of the four at 100% against the real device; the device passed both
    of home2's flows, for the reason the strategy exploits."""
    before = len(events(lab))
    with engine(lab, LIBRARY[name].strategy, name) as err:
        assert certificate(lab) == "accessible", LIBRARY[name].what
    assert counts(err)["triggered"] >= 2
    seen = events(lab)[before:]
    assert [(e["event"], e["reason"]) for e in seen] == [("passed", reason)] * 2, seen


@pytest.mark.parametrize("name", list(TEARDOWN))
def test_a_client_rst_does_not_tear_the_device_down(lab: LabSession, name: str) -> None:
    """Section 6: the teardown strategies are not among those that worked in Kazakhstan.
    The RSTs reach the device (counted) before each ClientHello, and every flow is still
    intercepted."""
    strategy, outcomes = TEARDOWN[name]
    before, resets = len(events(lab)), device_counts(lab).get("resets", 0)
    with engine(lab, strategy, name) as err:
        assert certificate(lab) in outcomes
    assert counts(err)["triggered"] >= 2
    seen = [e["event"] for e in events(lab)[before:]]
    assert seen and set(seen) == {"intercepted"}, seen
    support.poll(lambda: device_counts(lab).get("resets", 0) >= resets + len(seen), 5, "the device to count the RSTs")


def test_a_device_that_reassembles_intercepts_a_split_clienthello(lab: LabSession) -> None:
    """``reassemble: true``, the hypothetical stronger device: it waits for the rest of the
    ClientHello (and takes what is new from the whole copy after the short one), so both
    splits that beat the 2019 device are intercepted."""
    lab.detach("device")
    lab.attach("device", "NationalInterception", "gw", reassemble=True)
    try:
        intercepting(lab)
        for name in ("kz_segmentation", "kz_small_ip_length"):
            before = len(events(lab))
            with engine(lab, LIBRARY[name].strategy, f"{name}-reassembled"):
                assert certificate(lab) == "tls_mitm", name
            assert [e["event"] for e in events(lab)[before:]] == ["intercepted"] * 2, name
    finally:
        lab.detach("device")
        lab.attach("device", "NationalInterception", "gw")
