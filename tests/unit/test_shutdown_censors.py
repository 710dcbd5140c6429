"""The January 2022 shutdown censors offline (no root, no lab): their parameters, the
nftables tables they load (a fake node stands in for the Mininet host), the windows of
AccessWindows on the lab clock, and what each predicts from the kz_national model."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP

from tests.unit.samples import client_hello
from tools.censors.access_windows import AccessWindows
from tools.censors.base import Attachment, CensorError
from tools.censors.registry import CENSORS
from tools.censors.shutdown import ShutdownCensor, interfaces_toward
from tools.dpi import ipv4
from topologies import kz_national
from topologies.model import TopologyModel

FB, KASPI, GOOGLE = "157.240.241.35", "194.187.247.152", "142.250.74.36"
KC_1 = "2.76.1.1"  # kc_1's address
RESOLVER = "92.46.0.53"
WINDOWS = [["2022-01-05T17:30", "2022-01-05T22:00"], ["2022-01-06T10:30", "2022-01-06T14:00"]]
BORDER_ADDRESSES = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: border-eth0    inet 92.47.255.9/30 brd 92.47.255.11 scope global border-eth0\\       valid_lft forever
3: border-eth1    inet 185.1.114.1/24 brd 185.1.114.255 scope global border-eth1\\       valid_lft forever
"""


@pytest.fixture(scope="module")
def model() -> Any:
    return kz_national.build()


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def censor(name: str, **params: Any) -> Any:
    return CENSORS[name](**params)


class FakeNode:
    """Stands in for a Mininet host: answers ``ip -o -4 addr show`` and nft, records commands."""

    def __init__(self, name: str, addresses: str = BORDER_ADDRESSES, nft: str = "rc=0") -> None:
        self.name, self.addresses, self.nft, self.commands = name, addresses, nft, []

    def cmd(self, command: str) -> str:
        self.commands.append(command)
        if command.startswith("ip -o -4 addr show"):
            return self.addresses
        return self.nft if command.startswith("nft -f") else ""


def attachment(tmp_path: Path, model: Any, node: FakeNode, now: dt.datetime | None = None) -> Attachment:
    return Attachment(node, tmp_path, tmp_path, tmp_path, model, 3, now)  # type: ignore[arg-type]


# -- parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "parameter"),
    [
        ("DropTrafficAtBorder", {"allow": "194.187.244.0/22"}, "allow"),
        ("DropTrafficAtBorder", {"allow": ["194.187.244.0/33"]}, "allow"),
        ("DropTrafficAtBorder", {"prefixes": ["1.0.0.0/8"]}, "prefixes"),
        ("WithdrawRoutes", {"prefixes": []}, "prefixes"),
        ("WithdrawRoutes", {"prefixes": ["2.76.0.0/16", "kcell"]}, "prefixes"),
        ("ShutdownAccessNetwork", {"allow": [None]}, "allow"),
        ("AllowlistAccessNetwork", {}, "allow"),
        ("AllowlistAccessNetwork", {"allow": []}, "allow"),
        ("ThrottleAccessNetwork", {"domains": ["facebook.com"]}, "domains"),
        ("ThrottleAccessNetwork", {"rate": "fast"}, "rate"),
        ("AccessWindows", {"open": WINDOWS}, "censor"),
        ("AccessWindows", {"censor": "NoSuchCensor", "open": WINDOWS}, "censor"),
        ("AccessWindows", {"censor": "DropTrafficForServerEndpoint", "open": WINDOWS}, "censor"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "params": [], "open": WINDOWS}, "params"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "params": {"allow": "x"}, "open": WINDOWS}, "allow"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "params": {"alow": []}, "open": WINDOWS}, "alow"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder"}, "daily_open"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "open": WINDOWS, "daily_open": [["1:00", "2:00"]]}, "open"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "open": []}, "open"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "open": [["2022-01-05T17:30"]]}, "open"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "open": [["Jan 5", "Jan 6"]]}, "open"),
        (
            "AccessWindows",
            {"censor": "DropTrafficAtBorder", "open": [["2022-01-05T22:00", "2022-01-05T17:30"]]},
            "open",
        ),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "daily_open": "01:00-17:00"}, "daily_open"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "daily_open": [["25:00", "01:00"]]}, "daily_open"),
        ("AccessWindows", {"censor": "DropTrafficAtBorder", "daily_open": [["10:00", "10:00"]]}, "daily_open"),
    ],
)
def test_bad_parameters_are_named_on_one_line(name: str, params: dict, parameter: str) -> None:
    with pytest.raises(CensorError) as caught:
        CENSORS[name](**params)
    message = str(caught.value)
    assert parameter in message.split(": ", 1)[1] and "\n" not in message, message  # after "censor 'Name': "


def test_good_parameters_are_taken(model: Any) -> None:
    assert list(censor("DropTrafficAtBorder").allow) == []
    assert [str(n) for n in censor("AllowlistAccessNetwork", allow=["194.187.244.0/22"]).allow] == ["194.187.244.0/22"]
    assert censor("WithdrawRoutes").prefixes is None
    windows = censor("AccessWindows", censor="ShutdownAccessNetwork", params={"allow": [RESOLVER]}, open=WINDOWS)
    assert type(windows.inner).__name__ == "ShutdownAccessNetwork" and windows.inner.allow.networks[0].prefixlen == 32
    assert windows.windows[0] == (utc("2022-01-05T17:30"), utc("2022-01-05T22:00"))


def test_every_shutdown_censor_is_registered_and_predicts() -> None:
    names = {"DropTrafficAtBorder", "WithdrawRoutes", "ShutdownAccessNetwork", "AllowlistAccessNetwork"}
    names |= {"ThrottleAccessNetwork", "AccessWindows"}
    assert names <= set(CENSORS)
    assert all(issubclass(CENSORS[n], ShutdownCensor) and CENSORS[n].models for n in names)


# -- the kernel's part ----------------------------------------------------------------


def test_border_table_cuts_the_links_abroad() -> None:
    assert censor("DropTrafficAtBorder").table_text("kzlab_border3", ["border-eth0"]) == (
        "table ip kzlab_border3 {\n"
        "  chain forward {\n"
        "    type filter hook forward priority -5; policy accept;\n"
        '    iifname { "border-eth0" } counter drop\n'
        '    oifname { "border-eth0" } counter drop\n'
        "  }\n"
        "}\n"
    )
    allowed = censor("DropTrafficAtBorder", allow=["194.187.244.0/22", "92.46.0.53"])
    assert allowed.table_text("kzlab_border3", ["border-eth0", "border-eth2"]) == (
        "table ip kzlab_border3 {\n"
        "  set allow { type ipv4_addr; flags interval; auto-merge; elements = { 194.187.244.0/22, 92.46.0.53/32 } }\n"
        "  chain forward {\n"
        "    type filter hook forward priority -5; policy accept;\n"
        "    ip saddr @allow accept\n"
        "    ip daddr @allow accept\n"
        '    iifname { "border-eth0", "border-eth2" } counter drop\n'
        '    oifname { "border-eth0", "border-eth2" } counter drop\n'
        "  }\n"
        "}\n"
    )


def test_access_table_allows_by_the_address_beyond() -> None:
    text = censor("AllowlistAccessNetwork", allow=["194.187.244.0/22"]).table_text("kzlab_access1", ["kcell-eth0"])
    assert text.splitlines()[4:8] == [
        '    iifname { "kcell-eth0" } ip daddr @allow accept',
        '    oifname { "kcell-eth0" } ip saddr @allow accept',
        '    iifname { "kcell-eth0" } counter drop',
        '    oifname { "kcell-eth0" } counter drop',
    ]


def test_address_blocking_table_is_unchanged_by_the_shared_loader(tmp_path: Path, model: Any) -> None:
    drop = censor("DropTrafficForServerEndpoint", prefixes=["157.240.0.0/16", "31.13.64.0/18"], ports=[443])
    assert drop.ruleset(attachment(tmp_path, model, FakeNode("gw")), "kzlab_drop2") == (
        "table ip kzlab_drop2 {\n"
        "  set blocked { type ipv4_addr; flags interval; auto-merge; elements = { 157.240.0.0/16, 31.13.64.0/18 } }\n"
        "  chain forward { type filter hook forward priority -5; ip daddr @blocked meta l4proto tcp "
        "tcp dport { 443 } counter drop; }\n"
        "}\n"
    )


def test_links_cut_come_from_the_model(model: Any) -> None:
    border, access = censor("DropTrafficAtBorder"), censor("ShutdownAccessNetwork")
    assert border.links(model, "border") == ["transit"]
    assert border.links(model, "kcell") == []  # the exchange is all Kazakh
    assert access.links(model, "kcell") == ["kc_acc"]
    assert access.links(model, "kt") == ["kt_acc"]  # not the data centre: no subscribers there
    assert access.links(model, "border") == []


def test_interfaces_are_found_by_the_model_address_of_each_link(model: Any) -> None:
    node = FakeNode("border")
    assert interfaces_toward(node, model, "border", ["transit"]) == ["border-eth0"]  # type: ignore[arg-type]
    assert interfaces_toward(node, model, "border", ["kz_ix", "transit"]) == ["border-eth1", "border-eth0"]  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=r"185\.1\.114\.1,"):
        interfaces_toward(FakeNode("border", BORDER_ADDRESSES.splitlines()[1]), model, "border", ["kz_ix"])  # type: ignore[arg-type]


def test_attach_loads_the_table_and_detach_deletes_it(tmp_path: Path, model: Any) -> None:
    node = FakeNode("border")
    border = censor("DropTrafficAtBorder")
    border.attach(attachment(tmp_path, model, node))
    loaded = (tmp_path / "ruleset.nft").read_text()
    assert "table ip kzlab_border3" in loaded and '"border-eth0"' in loaded and "border-eth1" not in loaded
    assert node.commands[-1] == f"nft -f {tmp_path / 'ruleset.nft'} 2>&1; echo rc=$?"
    border.detach()
    assert node.commands[-1] == "nft delete table ip kzlab_border3"
    border.detach()  # twice is harmless
    assert len([c for c in node.commands if c.startswith("nft delete")]) == 1


def test_attach_fails_loudly(tmp_path: Path, model: Any) -> None:
    with pytest.raises(RuntimeError, match="nft: Error: syntax error"):
        censor("DropTrafficAtBorder").attach(attachment(tmp_path, model, FakeNode("border", nft="Error: syntax error")))
    with pytest.raises(RuntimeError, match="no link this censor cuts"):
        censor("DropTrafficAtBorder").attach(attachment(tmp_path, model, FakeNode("kcell")))


# -- predictions on the kz_national model --------------------------------------------


def effects(model: Any, c: ShutdownCensor, node: str, pairs: list[tuple[str, str]], now: Any = None) -> list:
    return [c.effect(model, node, client, address, now) for client, address in pairs]


PAIRS = [("kc_1", FB), ("abroad", KASPI), ("kc_1", KASPI), ("kt_1", KC_1), ("kc_1", RESOLVER), ("abroad", KC_1)]


def test_border_drop_cuts_the_country_from_the_world_not_inside(model: Any) -> None:
    expected = ["blocked", "blocked", None, None, None, "blocked"]
    assert effects(model, censor("DropTrafficAtBorder"), "border", PAIRS) == expected
    assert effects(model, censor("DropTrafficAtBorder"), "kcell", PAIRS) == [None] * len(PAIRS)
    kaspi_allowed = censor("DropTrafficAtBorder", allow=["194.187.244.0/22"])
    assert effects(model, kaspi_allowed, "border", PAIRS) == ["blocked", None, None, None, None, "blocked"]
    subscriber_allowed = censor("DropTrafficAtBorder", allow=["2.76.1.0/24"])  # either end may be allowed
    assert effects(model, subscriber_allowed, "border", PAIRS) == [None, "blocked", None, None, None, None]


def test_withdrawal_cuts_the_same_pairs_as_the_border_drop_but_abroad_hears_no_route(model: Any) -> None:
    """Inside, the world's replies find no way back (blocked: a timeout); abroad, the
    provider's router has no route in and says so (unreachable)."""
    assert effects(model, censor("WithdrawRoutes"), "border", PAIRS) == [
        "blocked",
        "unreachable",
        None,
        None,
        None,
        "unreachable",
    ]
    kcell_only = censor("WithdrawRoutes", prefixes=["2.76.0.0/16"])
    assert effects(model, kcell_only, "border", PAIRS) == ["blocked", None, None, None, None, "unreachable"]
    # Kaspi's /32 withdrawn: the /22 still announced covers it, so the world still reaches it.
    assert (
        censor("WithdrawRoutes", prefixes=["194.187.247.152/32"]).effect(model, "border", "abroad", KASPI, None) is None
    )
    # kcell withdrawing toward its provider (the border): the world loses kcell, kt (a peer) keeps it.
    assert effects(model, censor("WithdrawRoutes"), "kcell", PAIRS) == [
        "blocked",
        None,
        None,
        None,
        None,
        "unreachable",
    ]
    assert effects(model, censor("WithdrawRoutes"), "kt", PAIRS) == [None] * len(PAIRS)  # kt buys no transit


def test_access_shutdown_cuts_the_operators_subscribers_only(model: Any) -> None:
    cut = censor("ShutdownAccessNetwork")
    assert effects(model, cut, "kcell", PAIRS) == ["blocked", None, "blocked", "blocked", "blocked", "blocked"]
    assert effects(model, cut, "kcell", [("kt_1", FB), ("t2_1", KASPI), ("kc_2", GOOGLE)]) == [None, None, "blocked"]
    allowed = censor("ShutdownAccessNetwork", allow=["194.187.244.0/22", "92.46.0.53/32"])
    assert effects(model, allowed, "kcell", PAIRS) == ["blocked", None, None, "blocked", None, "blocked"]
    listed = censor("AllowlistAccessNetwork", allow=["194.187.244.0/22"])
    assert effects(model, listed, "kcell", PAIRS) == ["blocked", None, None, "blocked", "blocked", "blocked"]


def test_access_shutdown_between_two_access_segments_lets_either_end_allowed_through() -> None:
    """As the table does: a packet from one access segment to another passes if its
    destination is allowed (entering) or its source is (leaving)."""
    m = TopologyModel("two_segments")
    m.add_node("op", "router")
    for seg, subnet, address, sub in (
        ("a_acc", "10.1.0.0/24", "10.1.0.2", "a_1"),
        ("b_acc", "10.2.0.0/24", "10.2.0.2", "b_1"),
    ):
        m.add_segment(seg, subnet, gateway="op")
        m.attach("op", seg, subnet.replace("0/24", "1"))
        m.add_node(sub, "subscriber")
        m.attach(sub, seg, address)
    m.validate()
    assert censor("ShutdownAccessNetwork").links(m, "op") == ["a_acc", "b_acc"]
    assert censor("ShutdownAccessNetwork").effect(m, "op", "a_1", "10.2.0.2", None) == "blocked"
    for allowed in ("10.1.0.0/24", "10.2.0.0/24"):
        assert censor("ShutdownAccessNetwork", allow=[allowed]).effect(m, "op", "a_1", "10.2.0.2", None) is None


def test_access_throttle_slows_the_operators_subscribers(model: Any) -> None:
    slow = censor("ThrottleAccessNetwork")
    pairs = [("t2_1", FB), ("t2_1", KASPI), ("kc_1", FB), ("kt_1", FB), ("abroad", KASPI)]
    assert effects(model, slow, "tele2", pairs) == ["throttled", "throttled", None, None, None]


def test_access_throttle_throttles_any_name_and_is_rebuilt_by_name() -> None:
    slow = censor("ThrottleAccessNetwork", delay_s=1.0, jitter_s=0)
    hello = ipv4.parse(
        bytes(
            IP(src="37.99.1.1", dst="87.240.132.72") / TCP(sport=40001, dport=443, flags="PA") / client_hello("vk.com")
        )
    )
    decision = slow.decide(hello, {})
    assert (decision.flow, decision.delay) == ("throttle", 1.0)
    assert censor("ThrottleTrafficForTLSSNI", domains=["facebook.com"]).decide(hello, {}).flow == "pass"
    again = CENSORS[slow.name](**slow.params)  # what the engine does in the node
    assert type(again) is type(slow) and again.delay_s == 1.0


# -- AccessWindows on the lab clock ----------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2022-01-05T10:30", False),
        ("2022-01-05T17:29:59", False),
        ("2022-01-05T17:30", True),  # a window opens at its start
        ("2022-01-05T21:59", True),
        ("2022-01-05T22:00", False),  # and is shut again at its end
        ("2022-01-06T12:00", True),
        ("2022-01-07T12:00", False),
    ],
)
def test_explicit_windows(moment: str, is_open: bool) -> None:
    windows = censor("AccessWindows", censor="DropTrafficAtBorder", open=WINDOWS)
    assert windows.is_open(utc(moment)) is is_open


def test_explicit_windows_take_zones() -> None:
    windows = censor(
        "AccessWindows", censor="DropTrafficAtBorder", open=[["2022-01-05T23:30+06:00", "2022-01-06T04:00+06:00"]]
    )
    assert windows.windows[0][0] == utc("2022-01-05T17:30")
    almaty = dt.timezone(dt.timedelta(hours=6))
    assert windows.is_open(dt.datetime(2022, 1, 6, 0, 0, tzinfo=almaty)) and not windows.is_open(
        utc("2022-01-05T17:00")
    )


@pytest.mark.parametrize(
    ("clock", "is_open"),
    [("00:59", False), ("01:00", True), ("16:59", True), ("17:00", False), ("23:00", False)],
)
def test_daily_window(clock: str, is_open: bool) -> None:
    """The curfew 23:00-07:00 local (UTC+6): open 01:00-17:00 UTC, any day."""
    windows = censor("AccessWindows", censor="DropTrafficAtBorder", daily_open=[["01:00", "17:00"]])
    for day in ("2022-01-05", "2022-01-09"):
        assert windows.is_open(utc(f"{day}T{clock}")) is is_open


@pytest.mark.parametrize(
    ("clock", "is_open"),
    [("21:59", False), ("22:00", True), ("23:59", True), ("00:00", True), ("01:59", True), ("02:00", False)],
)
def test_daily_window_wraps_past_midnight(clock: str, is_open: bool) -> None:
    windows = censor("AccessWindows", censor="DropTrafficAtBorder", daily_open=[["22:00", "02:00"], ["12:00", "13:00"]])
    assert windows.is_open(utc(f"2022-01-05T{clock}")) is is_open
    assert windows.is_open(utc("2022-01-05T12:30")) and not windows.is_open(utc("2022-01-05T13:00"))


def test_windows_switch_the_prediction(model: Any) -> None:
    windows = censor("AccessWindows", censor="DropTrafficAtBorder", open=WINDOWS)
    assert windows.effect(model, "border", "kc_1", FB, utc("2022-01-05T12:00")) == "blocked"
    assert windows.effect(model, "border", "kc_1", FB, utc("2022-01-05T18:00")) is None
    assert windows.effect(model, "border", "kc_1", KASPI, utc("2022-01-05T12:00")) is None  # domestic
    with pytest.raises(RuntimeError, match="lab clock"):
        windows.effect(model, "border", "kc_1", FB, None)


class Recorder(ShutdownCensor):
    """A wrapped censor that records what AccessWindows does with it."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, Any]] = []

    def attach(self, at: Attachment) -> None:
        self.events.append(("attach", at.now))

    def detach(self) -> None:
        self.events.append(("detach", None))

    def effect(self, *_: Any) -> str | None:
        return "blocked"


def test_windows_attach_and_detach_the_wrapped_censor_as_the_clock_moves(tmp_path: Path, model: Any) -> None:
    windows: AccessWindows = censor("AccessWindows", censor="DropTrafficAtBorder", open=WINDOWS)
    windows.inner = inner = Recorder()
    with pytest.raises(RuntimeError, match="needs a scenario with a lab clock"):
        windows.attach(attachment(tmp_path, model, FakeNode("border")))
    assert inner.events == []
    windows.tick(utc("2022-01-05T10:30"))  # not attached: nothing happens
    windows.attach(attachment(tmp_path, model, FakeNode("border"), utc("2022-01-05T10:30")))
    assert inner.events == [("attach", utc("2022-01-05T10:30"))]
    for moment in ("2022-01-05T12:00", "2022-01-05T17:30", "2022-01-05T20:00", "2022-01-05T22:00", "2022-01-06T10:30"):
        windows.tick(utc(moment))
    assert inner.events[1:] == [("detach", None), ("attach", utc("2022-01-05T22:00")), ("detach", None)]
    windows.detach()  # open now: the wrapped censor is not attached, nothing to detach
    assert len(inner.events) == 4
    windows.attach(attachment(tmp_path, model, FakeNode("border"), utc("2022-01-06T10:30")))  # inside a window
    assert len(inner.events) == 4
    windows.tick(utc("2022-01-07T00:00"))
    windows.detach()
    assert inner.events[4:] == [("attach", utc("2022-01-07T00:00")), ("detach", None)]
    windows.tick(utc("2022-01-08T00:00"))  # detached: the clock no longer matters
    assert len(inner.events) == 6
