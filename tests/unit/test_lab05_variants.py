"""Lab 5's variants against the model (no root, no lab). A student must never see the run
of their own day fail, so for a sample of ids every cell the day expects must be what
the model predicts; and a throttled operator slows its own subscribers only (issue 12:
the s13 day throttled kt, and kaspi.kz, hosted in kt's data centre, turned slow for the
client abroad while a Kcell subscriber's fetch of vlast.kz was held twice and timed out)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP

from labs.framework import registry
from tests.unit.samples import client_hello
from tools.basics.clock import parse_time
from tools.censors.registry import CENSORS
from tools.censors.throttle_access_network import ThrottleAccessNetwork
from tools.dpi import ipv4
from tools.play import predict
from topologies import kz_national

FOLDER = registry.find(5)
LAB = FOLDER.definition
SIZE = registry.load(FOLDER.path / "lab.py").SIZE
KASPI, FB = "194.187.247.152", "157.240.241.35"  # kaspi.kz (in kt's data centre), facebook.com
KT_1, KC_1, ABROAD = "95.56.1.1", "2.76.1.1", "5.9.10.20"


@pytest.fixture(scope="module")
def model() -> Any:
    """The lab's country. Its addresses' owners are looked up once each: a built model does
    not change, and the prediction asks for the same few thousands of times."""
    built = kz_national.build(**SIZE)
    built.owner = functools.cache(built.owner)  # type: ignore[method-assign]
    return built


def test_every_sampled_day_expects_what_the_model_predicts(model: Any) -> None:
    """200 ids, every sample of each day: the expected matrix is the predicted one. A
    prediction depends only on the mechanism and its operators while it is in force (in a
    window nothing is), so each such matrix is predicted once."""
    predicted: dict[tuple[str, tuple[str, ...]] | None, dict[tuple[str, str], str]] = {}
    wrong = []
    for student in (f"s{i}" for i in range(200)):
        variant = LAB.variant(student)
        scenario = LAB.scenario(variant)
        placed = [(CENSORS[s.censor](**s.params), s.node) for s in scenario.phases[0].steps]
        for phase in scenario.phases:
            now = parse_time(phase.time)
            key = None if placed[0][0].is_open(now) else (variant["mechanism"], tuple(variant["operators"]))
            if key not in predicted:
                predicted[key] = predict.matrix(model, placed, scenario.client_list(model), list(scenario.targets), now)
            wrong += [
                f"{student} {phase.name}: {client} -> {target}: predicted {outcome}, "
                f"expected {phase.expected(client, target)}"
                for (client, target), outcome in predicted[key].items()
                if outcome != phase.expected(client, target)
            ]
    assert not wrong, f"{len(wrong)} cells, e.g. {wrong[:3]}"


def test_a_throttled_operator_slows_its_subscribers_not_what_it_hosts(model: Any) -> None:
    """kt throttled: its subscribers' fetches are slow, at home and abroad; abroad fetching
    kaspi.kz and a Kcell subscriber fetching it only cross kt's router, untouched."""
    slow = ThrottleAccessNetwork()
    assert slow.effect(model, "kt", "kt_1", KASPI, None) == "throttled"
    assert slow.effect(model, "kt", "kt_1", FB, None) == "throttled"
    assert slow.effect(model, "kt", "abroad", KASPI, None) is None
    assert slow.effect(model, "kt", "kc_1", KASPI, None) is None
    assert slow.effect(model, "kcell", "kc_1", KASPI, None) == "throttled"


def hello(src: str, dst: str) -> ipv4.Packet:
    pkt = ipv4.parse(bytes(IP(src=src, dst=dst) / TCP(sport=40001, dport=443, flags="PA") / client_hello("kaspi.kz")))
    assert pkt is not None
    return pkt


def test_a_throttled_operator_selects_its_access_networks_flows_only() -> None:
    """The kernel's selection and its offline twin: port-443 flows from or to the access
    prefixes, nothing else; the node's engine rebuilds the same selection from the params."""
    slow = ThrottleAccessNetwork(access=["95.56.0.0/16"])
    assert slow.selects(hello(KT_1, KASPI)) and slow.selects(hello(FB, KT_1))
    assert not slow.selects(hello(ABROAD, KASPI)) and not slow.selects(hello(KC_1, KASPI))
    assert slow.selection() and all("95.56.0.0/16" in match for match in slow.selection())
    assert ThrottleAccessNetwork(**slow.params).selection() == slow.selection()
