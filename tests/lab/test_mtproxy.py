"""Telegram's fake-TLS MTProto proxy in a live lab (tools/circumvent/mtproxy): the proxy
serves its clients and hands everyone else, replays included, to kaspi.kz's real server;
under the Telegram censors of scenarios/telegram_block.py the telegram probe fails
without the ``mtproxy`` method and succeeds with it; BlockTrafficForMTProtoProxy beats
it; a proxy whose address is dropped makes the probe fail at connect, leaving nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab.support import poll
from tools.lab.session import LabSession
from tools.play.runner import probe_plan
from tools.play.spec import Target
from topologies.circumvention import MTPROXY_DOMAIN
from topologies.internet import TELEGRAM_PREFIXES
from topologies.registry import build

PROXY = "5.9.10.31"
MODEL = build("kz_isp", circumvention=True)
TELEGRAM = [Target("telegram", "telegram")]
DIRECT_BLOCKED = "blocked:telegram_tcp_blocking,telegram_http_blocking,telegram_mtproto_blocking,telegram_web"
FETCH = f"curl -sS -m 10 -w ' %{{http_code}}' https://{MTPROXY_DOMAIN}/"
REPLAY = """
import socket, sys, time
from tools.dpi import faketls
secret, proxy = faketls.Secret.parse(sys.argv[1]), sys.argv[2]
hello = faketls.client_hello(secret, time.time())

def answer():
    with socket.create_connection((proxy, 443), timeout=5) as s:
        s.sendall(hello)
        reader, records = faketls.Records(), []
        while len(records) < 3:
            records += reader.feed(s.recv(4096))
    try:
        faketls.check_server_answer(records, hello[faketls.RANDOM], secret)
    except faketls.DigestMismatch:
        return "not the proxy"
    return "the proxy"

print(answer(), "/", answer())
"""


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    """The lab under the Telegram censors, the method on in home1; home2's telegram probe
    without it starts at once, in the background (its timeouts take longest), and the last
    test reads it."""
    with LabSession(circumvention=True) as session:
        session.circumvent("mtp", "mtproxy", "home1")
        session.attach("address", "DropTrafficForServerEndpoint", "gw", prefixes=list(TELEGRAM_PREFIXES))
        session.attach("dpi", "BlockTrafficForMTProto", "gw")
        plan, out = plan_file(session, "home2")
        session.run("home2", f"python -m tools.probes {plan} {out} >/dev/null 2>&1 &")
        yield session


def plan_file(lab: LabSession, node: str) -> tuple[Path, Path]:
    """A telegram probe plan for ``node`` with its probe options, and where its record goes."""
    workdir = lab.rundir / "test-mtproxy"
    workdir.mkdir(exist_ok=True)
    n = len(list(workdir.glob(f"{node}-*.json")))
    plan, out = workdir / f"{node}-{n}.json", workdir / f"{node}-{n}.jsonl"
    plan.write_text(json.dumps(probe_plan(MODEL, TELEGRAM, node) | {"options": lab.probe_options(node)}))
    return plan, out


def record(out: Path) -> dict[str, Any]:
    (line,) = out.read_text().splitlines()
    return json.loads(line)


def telegram(lab: LabSession, node: str) -> dict[str, Any]:
    """The telegram probe's record from ``node``, run as the scenario runner runs it."""
    plan, out = plan_file(lab, node)
    r = lab.run(node, f"python -m tools.probes {plan} {out}", timeout=90)
    assert r.rc == 0, r.err
    return record(out)


def failures(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(h["operation"], h["failure"]) for h in result["test_keys"]["mtproto_handshakes"]}


def test_through_the_telegram_censors_the_proxy_reaches_every_data_centre(lab: LabSession) -> None:
    options = lab.probe_options("home1")["telegram_proxy"]
    assert (options["address"], options["port"], options["secret"][:2]) == (PROXY, 443, "ee")
    assert bytes.fromhex(options["secret"])[17:] == MTPROXY_DOMAIN.encode()
    assert lab.probe_options("home2") == {}
    result = telegram(lab, "home1")
    assert result["kzlab"]["outcome"] == "accessible"
    assert [h["dc"] for h in result["test_keys"]["mtproto_handshakes"] if h["ok"]] == [1, 2, 3, 4, 5]


def test_the_proxy_hands_everyone_else_to_the_real_site(lab: LabSession) -> None:
    """What an active prober sees: a browser's TLS, plain HTTP and a replayed ClientHello
    all reach kaspi.kz's own server."""
    fetched = lab.run("home2", f"{FETCH} --resolve {MTPROXY_DOMAIN}:443:{PROXY}")
    assert fetched.rc == 0 and f"{MTPROXY_DOMAIN} (kzlab)" in fetched.out and fetched.out.endswith(" 200"), fetched
    plain = lab.run("home2", f"curl -sS -m 10 -o /dev/null -w '%{{http_code}}' http://{PROXY}:443/")
    assert plain.out == "400", plain  # nginx: a plain HTTP request sent to its HTTPS port
    script = lab.rundir / "test-mtproxy-replay.py"
    script.write_text(REPLAY)
    replayed = lab.run("home1", f"python {script} {lab.probe_options('home1')['telegram_proxy']['secret']} {PROXY}")
    assert replayed.out.strip() == "the proxy / not the proxy", replayed
    log = lab.rundir / "logs" / "mtproxy-mtproxy.log"
    poll(lambda: "masked (a replayed ClientHello)" in log.read_text(), 5, "the proxy's log of the replay")


def test_the_detector_beats_the_proxy_and_leaves_real_tls_alone(lab: LabSession) -> None:
    lab.attach("fake_tls", "BlockTrafficForMTProtoProxy", "gw")
    try:
        result = telegram(lab, "home1")
        assert result["kzlab"]["outcome"] == "blocked:telegram_mtproto_blocking"
        assert failures(result) == {("mtproto_handshake", "generic_timeout_error")}
        assert lab.run("home1", FETCH).out.endswith(" 200")  # TLS 1.3 to the real site
        assert lab.run("home1", f"{FETCH} --resolve {MTPROXY_DOMAIN}:443:{PROXY}").out.endswith(" 200")
    finally:
        lab.detach("fake_tls")


def test_a_proxy_that_does_not_answer_fails_at_connect_and_leaves_nothing(lab: LabSession) -> None:
    lab.attach("proxy_down", "DropTrafficForServerEndpoint", "gw", prefixes=[f"{PROXY}/32"])
    try:
        result = telegram(lab, "home1")
    finally:
        lab.detach("proxy_down")
    assert result["kzlab"]["outcome"] == "blocked:telegram_tcp_blocking,telegram_mtproto_blocking"
    assert failures(result) == {("connect", "generic_timeout_error")}
    sockets = lab.run("home1", f"ss -Htanp dst {PROXY}").out.splitlines()  # closing ones of earlier tests may linger
    assert [s for s in sockets if "users:" in s or s.startswith("SYN-SENT")] == []


def test_without_the_method_the_telegram_probe_fails(lab: LabSession) -> None:
    out = lab.rundir / "test-mtproxy" / "home2-0.jsonl"
    poll(lambda: out.exists() and out.read_text().endswith("\n"), 90, "home2's telegram probe")
    assert record(out)["kzlab"]["outcome"] == DIRECT_BLOCKED
