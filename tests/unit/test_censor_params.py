"""Typed censor parameters (tools/basics/params.py) and the engine's rule for packets it
cannot handle (tools/censors/engine.py), without root: issue 9, items 3 and 4.

Every censor declares its parameters; a wrong type or value is one CensorError line
naming the censor, the parameter and what it expects, raised when the censor is made
(so when a scenario is validated), never on the packet path. The engine gives a packet
whose handling raises the censor's failure verdict and goes on."""

from __future__ import annotations

import errno
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import wrpcap

from tests.unit.samples import client_hello
from tools.basics.paths import REPO
from tools.censors.base import CensorError
from tools.censors.engine import Engine
from tools.censors.queue import QueueCensor, marks
from tools.censors.registry import CENSORS
from tools.censors.spoof_dns_response import SpoofDNSResponse

CLIENT, FB = "95.56.1.1", "157.240.241.35"

# Parameters each censor needs beyond its defaults, to be made at all.
REQUIRED: dict[str, dict[str, Any]] = {
    "DropTrafficForServerEndpoint": {"prefixes": ["157.240.0.0/16"]},
    "AllowlistAccessNetwork": {"allow": ["10.0.0.0/8"]},
    "AccessWindows": {"censor": "DropTrafficAtBorder", "daily_open": [["01:00", "17:00"]]},
}


# Acronyms are words of their own in a censor's name; every other word is capitalised.
WORD = re.compile(r"TLS|SNI|HTTP|DNS|MTProto|VPN|[A-Z][a-z]+")


@pytest.mark.parametrize("name", sorted(CENSORS))
def test_file_class_and_registered_name_agree(name: str) -> None:
    """One style (issue 10): registered as its class is named, in the module named after
    the class in snake case (ResetTrafficForTLSSNI in tools/censors/reset_traffic_for_tls_sni.py)."""
    cls = CENSORS[name]
    words = WORD.findall(cls.__name__)
    assert name == cls.__name__ and "".join(words) == cls.__name__
    assert cls.__module__ == "tools.censors." + "_".join(w.lower() for w in words)


@pytest.mark.parametrize("name", sorted(CENSORS))
def test_every_parameter_is_declared_documented_and_its_default_valid(name: str) -> None:
    cls = CENSORS[name]
    for field_name, field in cls.fields.items():
        assert field.doc and field.kind.expects, f"{name}.{field_name} is undocumented"
        if not field.required and field.default is not None:
            assert field.kind.normalise(field.default) == field.default or list(
                field.kind.normalise(field.default)
            ) == list(field.default), f"{name}.{field_name}: its default is not a value it takes"


@pytest.mark.parametrize("name", sorted(CENSORS))
def test_settings_survive_the_engine_config_round_trip(name: str) -> None:
    """The engine gets the censor's checked settings as JSON and checks them again."""
    censor = CENSORS[name](**REQUIRED.get(name, {}))
    again = CENSORS[name](**json.loads(json.dumps(censor.params)))
    assert again.params == censor.params


@pytest.mark.parametrize(
    ("name", "params", "field", "expects"),
    [
        # issue 9, item 4, as reported
        ("ResetTrafficForTLSSNI", {"domains": "facebook.com"}, "domains", "a list of domain names"),
        ("ResetTrafficForTLSSNI", {"domains": [1, 2]}, "domains", "a list of domain names"),
        ("DropTrafficForServerEndpoint", {"prefixes": ["1.0.0.0/8"], "ports": 5}, "ports", "a list of 0 to 64 ports"),
        ("SpoofDNSResponse", {"address": "not-an-ip"}, "address", "an IPv4 address"),
        # and their kin
        ("SpoofDNSResponse", {"domains": ["a" * 64 + ".com"]}, "domains", "a list of domain names"),
        ("SpoofDNSResponse", {"domains": ["face\x00book.com"]}, "domains", "a list of domain names"),
        ("DropTrafficForTLSSNI", {"fail_closed": "yes"}, "fail_closed", "true or false"),
        ("DropTrafficForTLSSNI", {"subdomains": 1}, "subdomains", "true or false"),
        ("ThrottleTrafficForTLSSNI", {"delay_s": float("nan")}, "delay_s", "a number from 0 to 60"),
        ("ThrottleTrafficForTLSSNI", {"delay_s": True}, "delay_s", "a number from 0 to 60"),
        ("ThrottleTrafficForTLSSNI", {"rate": "9" * 5000 + "kbit"}, "rate", "a tc rate"),
        ("BlockTrafficForMTProto", {"ports": [443, True]}, "ports", "a list of 1 to 15 ports"),
        ("NationalInterception", {"shift_hours": 10**5000}, "shift_hours", "a whole number from 0 to 8760"),
        ("NationalInterception", {"generation": 2019}, "generation", "one of '2019', '2020'"),
        ("NationalInterception", {"walled": ["10.0.0.1/8"]}, "walled", "a list of IPv4 prefixes"),
        ("AccessWindows", {"censor": "AccessWindows", "open": [["a", "b"]]}, "censor", "one of"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "daily_open": "01:00"}, "daily_open", "a list of ["),
    ],
)
def test_a_bad_parameter_is_one_line_naming_censor_field_and_expectation(
    name: str, params: dict[str, Any], field: str, expects: str
) -> None:
    with pytest.raises(CensorError) as caught:
        CENSORS[name](**params)
    message = str(caught.value)
    assert message.startswith(f"censor {name!r}: parameter {field!r} expects {expects}")
    assert "\n" not in message and len(message) < 300


def test_required_and_unknown_parameters_are_named() -> None:
    with pytest.raises(CensorError, match=r"parameter 'prefixes' is required: a list of one or more IPv4 prefixes"):
        CENSORS["DropTrafficForServerEndpoint"]()
    with pytest.raises(CensorError, match=r"unknown parameter\(s\) \['domain'\] \(it takes: fail_closed, domains"):
        CENSORS["ResetTrafficForTLSSNI"](domain=["x"])


def test_the_offline_grader_refuses_a_bad_parameter_before_grading(tmp_path: Path) -> None:
    """Before: ``--param domains=facebook.com`` decided every packet "accept, unreadable" and exited 0."""
    pcap = tmp_path / "c.pcap"
    wrpcap(str(pcap), [IP(src=CLIENT, dst=FB) / TCP(dport=443, flags="PA") / client_hello("facebook.com")])
    cmd = [sys.executable, "-m", "tools.censors.offline", "ResetTrafficForTLSSNI", str(pcap), "--param"]
    proc = subprocess.run([*cmd, "domains=facebook.com"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "kzlab: error: censor 'ResetTrafficForTLSSNI': parameter 'domains' expects a list of domain names "
        "(e.g. [\"facebook.com\"]), got 'facebook.com' (not a list)"
    ]


# -- the engine's rule: one packet never stops it -------------------------------------


class FakePacket:
    """What netfilterqueue hands the engine (a packet censor 1 selected: its bit in the
    mark), recording the verdict it gets."""

    def __init__(self, payload: bytes) -> None:
        self.payload, self.mark, self.verdicts = payload, marks(1)[0], []

    def get_payload(self) -> bytes:
        return self.payload

    def get_mark(self) -> int:
        return self.mark

    def set_mark(self, mark: int) -> None:
        self.mark = mark

    def accept(self) -> None:
        self.verdicts.append("accept")

    def drop(self) -> None:
        self.verdicts.append("drop")

    def repeat(self) -> None:
        self.verdicts.append("repeat")


class RefusingInjector:
    """A raw socket that refuses what does not fit, as the kernel does (EMSGSIZE)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, packet: Any) -> None:
        data = bytes(packet)
        if len(data) > 1500:
            raise OSError(errno.EMSGSIZE, "Message too long")
        self.sent.append(data)


class Exploding(QueueCensor):
    def selection(self) -> list[str]:
        return []

    def decide(self, ip: Any, flows: dict[tuple, str]) -> Any:
        raise UnicodeError("label too long")


def engine_for(censor: QueueCensor, log: Any, injector: Any) -> Engine:
    """An engine deciding for ``censor`` alone, as censor 1."""
    engine = Engine(injector)
    engine.add(censor, 1, log)
    return engine


def query(names: list[str]) -> bytes:
    qd = [DNSQR(qname=n) for n in names]
    return bytes(IP(src=CLIENT, dst="8.8.8.8") / UDP(sport=5353, dport=53) / DNS(id=7, rd=1, qd=qd))


@pytest.mark.parametrize(("fail_closed", "verdict"), [(False, "accept"), (True, "drop")])
def test_an_exception_on_a_packet_gives_it_the_failure_verdict_and_the_engine_goes_on(
    fail_closed: bool, verdict: str
) -> None:
    log = io.StringIO()
    engine = engine_for(Exploding(fail_closed=fail_closed), log, RefusingInjector())
    packets = [FakePacket(b"\x45\x00\x00\x14" + bytes(16)), FakePacket(b""), FakePacket(b"\xff" * 7)]
    for pkt in packets:
        engine.handle(pkt)
    assert [p.verdicts for p in packets] == [[verdict]] * 3
    assert sum(engine.errors.counts.values()) + engine.unreadable == 3 and engine.unreadable == 2
    notes = [json.loads(line)["note"] for line in log.getvalue().splitlines()]
    assert notes and all(n.startswith("failure verdict: ") for n in notes)


def test_a_forged_dns_answer_for_25_questions_fits_and_the_engine_keeps_injecting() -> None:
    """Issue 9, item 3: a 25-question query made the forged reply too big for the MTU,
    ``injector.send`` raised outside the engine's guard, and the engine died."""
    injector = RefusingInjector()
    engine = engine_for(SpoofDNSResponse(domains=["facebook.com"]), io.StringIO(), injector)
    big = FakePacket(query(["www.facebook.com"] + [f"n{i}.facebook.com" for i in range(24)]))
    assert len(big.payload) > 500
    engine.handle(big)
    after = FakePacket(query(["facebook.com"]))
    engine.handle(after)
    assert big.verdicts == ["accept"] and after.verdicts == ["accept"]
    assert len(injector.sent) == 2 and all(len(p) < 200 for p in injector.sent)
    answer = IP(injector.sent[0])[DNS]
    assert answer.qdcount == 1 and answer.an[0].rdata == "104.244.46.244"


def test_an_injection_the_kernel_refuses_is_counted_and_the_packet_gets_the_failure_verdict() -> None:
    class Oversized(QueueCensor):
        def selection(self) -> list[str]:
            return []

        def decide(self, ip: Any, flows: dict[tuple, str]) -> Any:
            from tools.censors.base import Decision

            return Decision("drop", [IP(dst=ip.src) / UDP() / (b"x" * 3000)], note="forged")

    injector = RefusingInjector()
    engine = engine_for(Oversized(), io.StringIO(), injector)
    pkt = FakePacket(query(["vk.com"]))
    engine.handle(pkt)
    assert pkt.verdicts == ["accept"] and not injector.sent
    assert list(engine.errors.counts) == ["OSError in send"]
