"""The Telegram scenarios' data, the alternative address in the model, and the ``mtproto``
probe kind (one endpoint's MTProto round trip) against the lab's DC server on loopback."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from scenarios import kz2019_may9, telegram_block
from tools.basics.paths import REPO
from tools.play.spec import ScenarioError, Target
from tools.probes.telegram import measure_endpoint
from topologies import kz_isp
from topologies.internet import TELEGRAM_ALTERNATIVE, TELEGRAM_PREFIXES

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")


def phase(scenario: object, name: str) -> object:
    return next(p for p in scenario.phases if p.name == name)


def test_the_alternative_address_is_telegrams_and_outside_its_blocks() -> None:
    model = kz_isp.build()
    assert model.owner(TELEGRAM_ALTERNATIVE) == "telegram"
    assert not any(ipaddress.ip_address(TELEGRAM_ALTERNATIVE) in ipaddress.ip_network(p) for p in TELEGRAM_PREFIXES)
    ((_, service),) = model.services("telegram_dc")
    assert service.params["alternatives"] == (TELEGRAM_ALTERNATIVE,)
    assert model.censor_points_on_path("home1", TELEGRAM_ALTERNATIVE) == ["gw", "border"]


@pytest.mark.parametrize("scenario", [telegram_block.SCENARIO, kz2019_may9.SCENARIO])
def test_scenarios_validate(scenario: object) -> None:
    scenario.validate()


def test_address_blocking_leaves_the_alternative_address_open() -> None:
    for scenario, name in ((telegram_block.SCENARIO, "address"), (kz2019_may9.SCENARIO, "blocking")):
        p = phase(scenario, name)
        for client in SUBSCRIBERS:
            assert p.expected(client, "telegram").startswith("blocked:telegram_tcp_blocking,")
            assert p.expected(client, "telegram_alt") == "accessible"
        assert p.expected("abroad", "telegram") == "accessible"
    dpi = phase(telegram_block.SCENARIO, "mtproto_dpi")
    assert {dpi.expected(c, t) for c in SUBSCRIBERS for t in ("telegram", "telegram_alt")} == {
        "blocked:telegram_mtproto_blocking"
    }


@pytest.mark.parametrize("url", ["mtproto://18.196.140.10", "tcp://18.196.140.10:443", "mtproto://telegram:443"])
def test_mtproto_targets_need_an_address_and_port(url: str) -> None:
    bad = dataclasses.replace(telegram_block.SCENARIO, targets=(Target("alt", "mtproto", url),))
    with pytest.raises(ScenarioError, match="needs an mtproto://ADDRESS:PORT url"):
        bad.validate()


@pytest.fixture(scope="module")
def dc_port() -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "tools.services.telegram_dc", "--listen", "127.0.0.1", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield int(proc.stdout.readline().rsplit(":", 1)[1])
    proc.terminate()
    proc.wait(timeout=5)


def test_measure_endpoint_against_the_dc_server(dc_port: int) -> None:
    result = measure_endpoint(f"mtproto://127.0.0.1:{dc_port}")
    assert result["outcome"] == "accessible" and result["test_name"] == "mtproto"
    assert result["test_keys"]["mtproto_handshakes"][0]["ok"] is True


def test_measure_endpoint_with_nothing_listening() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed on leaving: connections are refused
    result = measure_endpoint(f"mtproto://127.0.0.1:{port}")
    assert result["outcome"] == "blocked:telegram_tcp_blocking,telegram_mtproto_blocking"
    assert result["test_keys"]["mtproto_handshakes"][0]["failure"] == "connection_refused"
    with pytest.raises(ValueError, match="not an mtproto"):
        measure_endpoint("https://18.196.140.10/")
