"""ThrottleTrafficForTLSSNI offline (no root, no lab): its decision on recorded ClientHellos,
its parameters, the kernel rules it asks for, and the lab outcome ``throttled`` that
web_connectivity gives a page reached after a slow handshake."""

from __future__ import annotations

import random
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP

from tests.unit.test_censors_offline import CAPTURE, CLIENT, FB, VK, client_hello
from tools.censors.base import CensorError
from tools.censors.offline import grade
from tools.censors.queue import marks
from tools.censors.registry import CENSORS
from tools.censors.throttle_traffic_for_tls_sni import HOLD_FIELDS, ThrottleTrafficForTLSSNI
from tools.dpi import ipv4
from tools.play.spec import OUTCOME
from tools.probes import web_connectivity as wc

NOTE = "throttle: SNI {}, +"


def throttle(**params: Any) -> ThrottleTrafficForTLSSNI:
    return CENSORS["ThrottleTrafficForTLSSNI"](**{"domains": ["facebook.com"], **params})  # type: ignore[return-value]


def hello(dst: str, sni: str, sport: int) -> Any:
    """A ClientHello segment as the engine hands it to a censor."""
    return ipv4.parse(
        bytes(IP(src=CLIENT, dst=dst) / TCP(sport=sport, dport=443, flags="PA", seq=101, ack=501) / client_hello(sni))
    )


def test_listed_flows_are_held_and_throttled_others_pass_at_once() -> None:
    """The ClientHello of facebook.com (and m.facebook.com, a subdomain) is accepted after a
    delay within [delay_s, delay_s + jitter_s], its flow decided "throttle", and the rest
    of the flow accepted; vk.com's flow passes with no delay and no note."""
    censor = throttle()
    decisions = {v["packet"]: v for v in grade(censor, CAPTURE)}
    for n, sni in ((4, "facebook.com"), (14, "m.facebook.com")):
        assert decisions[n]["verdict"] == "accept" and decisions[n]["note"].startswith(NOTE.format(sni))
        delay = float(decisions[n]["note"].rsplit("+", 1)[1].rstrip("s"))
        low, jitter = HOLD_FIELDS["delay_s"].default, HOLD_FIELDS["jitter_s"].default
        assert low <= delay <= low + jitter + 0.005
    assert decisions[5] == {**decisions[5], "verdict": "accept", "note": "flow throttled earlier"}
    assert (decisions[9]["verdict"], decisions[9]["note"]) == ("accept", "")
    assert decisions[10]["note"] == "flow passed earlier"
    assert not {16, 17, 18, 19} & set(decisions)  # plain HTTP and DNS are not its business


def test_decision_carries_the_delay_and_median_over_4s() -> None:
    """Live, the engine holds the packet for Decision.delay; with the defaults every hold is
    over 3.9 s and their median over 4 s (OONI: handshakes over 2 s, medians over 4 s)."""
    random.seed(2022)
    delays = []
    for port in range(41000, 41101):
        d = throttle().decide(hello(FB, "www.facebook.com", port), {})
        assert (d.verdict, d.flow, d.inject) == ("accept", "throttle", [])
        delays.append(d.delay)
    assert min(delays) >= 3.9 and max(delays) <= 4.2
    assert sorted(delays)[len(delays) // 2] > 4.0
    fixed = throttle(delay_s=2.5, jitter_s=0).decide(hello(FB, "facebook.com", 40999), {})
    assert fixed.delay == 2.5 and fixed.note == "throttle: SNI facebook.com, +2.50s"
    passed = throttle().decide(hello(VK, "vk.com", 40998), {})
    assert (passed.flow, passed.delay, passed.note) == ("pass", 0.0, "")


def test_retransmitted_clienthello_of_a_held_flow_is_dropped() -> None:
    """While the first ClientHello is held, the client's retransmissions are dropped (the
    held one goes on later); they are not held again."""
    censor, flows = throttle(), {}
    first = censor.decide(hello(FB, "facebook.com", 40100), flows)
    again = censor.decide(hello(FB, "facebook.com", 40100), flows)
    assert first.delay > 0 and flows[(CLIENT, 40100, FB, 443)] == "throttle"
    assert (again.verdict, again.flow, again.delay) == ("drop", None, 0.0)
    censor.holding[(CLIENT, 40100, FB, 443)] = 0.0  # released: a new flow on the same ports is decided anew
    assert censor.decide(hello(FB, "facebook.com", 40100), flows).delay > 0


def test_exact_names_when_subdomains_are_off() -> None:
    censor = throttle(subdomains=False)
    assert censor.decide(hello(FB, "facebook.com", 40200), {}).flow == "throttle"
    assert censor.decide(hello(FB, "m.facebook.com", 40201), {}).flow == "pass"


def test_kernel_marks_and_rules() -> None:
    """A throttled flow leaves the queue with the slot's DONE and second bit (the kernel
    passes the rest, mangle classifies its replies); no rule drops anything."""
    censor, index = throttle(), 3
    done, second = marks(index)
    assert censor.flow_mark("throttle", index) == done | second
    assert censor.flow_mark("pass", index) == done
    rules = [" ".join(r) for r in censor.rules(index)]
    assert not any(r.endswith("DROP") for r in rules)
    assert any("NFQUEUE --queue-num 103 --queue-bypass" in r for r in rules)
    assert any(f"--save-mark --nfmask {second:#x}" in r for r in rules)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"rate": "fast"}, "'rate' expects a tc rate"),
        ({"rate": "40kbit; reboot"}, "'rate' expects a tc rate"),
        ({"delay_s": "soon"}, "'delay_s' expects a number from 0 to 60 seconds"),
        ({"delay_s": -1}, "'delay_s' expects a number from 0 to 60"),
        ({"jitter_s": 120}, "'jitter_s' expects a number from 0 to 60"),
        ({"domains": "azattyq.org"}, "'domains' expects a list of domain names"),
        ({"delay": 2}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises((CensorError, ValueError), match=message):
        throttle(**params)


def test_throttled_outcome_is_an_accessible_page_after_a_slow_handshake() -> None:
    """Lab outcome: accessible with tls_handshake_time over 2 s is "throttled"; at or below
    2 s, or with no TLS (plain HTTP), "accessible"; an interception root still wins."""
    keys = {"blocking": False, "accessible": True, "tls_chain_root": "CN=kzlab Global Root CA"}
    assert wc.outcome({**keys, "tls_handshake_time": 4.2}, frozenset()) == "throttled"
    assert wc.outcome({**keys, "tls_handshake_time": 2.0}, frozenset()) == "accessible"
    assert wc.outcome({**keys, "tls_handshake_time": None}, frozenset()) == "accessible"
    assert wc.outcome({**keys, "tls_handshake_time": 4.2}, frozenset({"CN=kzlab Global Root CA"})) == "tls_mitm"
    failed = {"blocking": "http-failure", "accessible": False, "http_experiment_failure": "generic_timeout_error"}
    assert wc.outcome({**failed, "tls_handshake_time": 5.0}, frozenset()) == "http-failure:generic_timeout_error"
    assert OUTCOME.match("throttled")


def test_handshake_time_is_the_first_tls_handshake_of_the_fetch() -> None:
    page = wc.netx.Fetch(
        events=[
            {"operation": "connect", "t": 0.01},
            {"operation": "tls_handshake", "t": 4.31},
            {"operation": "http_round_trip", "t": 0.2},
            {"operation": "tls_handshake", "t": 0.02},
        ]
    )
    assert wc.handshake_time(page) == 4.31
    assert wc.handshake_time(wc.netx.Fetch(events=[{"operation": "connect", "t": 0.01}])) is None
    assert wc.handshake_time(None) is None
