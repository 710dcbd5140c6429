"""Tor in a live lab (tools/circumvent/tor): the private network publishes a consensus
with the lab; a subscriber's tor gets it past SNI resets, DNS injection and Telegram's
address blocking while its neighbour stays blocked; BlockTorRelays stops a bridgeless
bootstrap (one error line, nothing of it left), the unlisted obfs4 bridge gets through
it, and a border shutdown stops even the bridge.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.dpi import tor_consensus
from tools.lab.session import LabSession, LabSessionError
from topologies.circumvention import TOR_BRIDGE, TOR_RELAYS
from topologies.internet import TELEGRAM_DCS, TELEGRAM_PREFIXES

FETCH = "curl -sS -m 15 -o /dev/null -w '%{http_code}' https://facebook.com/"
RESET = "curl exit 35"  # the handshake reset by ResetTrafficForTLSSNI
SPOOFED = "10.10.34.35"


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession(circumvention=True) as session:
        session.attach("sni", "ResetTrafficForTLSSNI", "gw", domains=["facebook.com"])
        yield session


def fetch(lab: LabSession, node: str, log: Path | None = None) -> str:
    """The fetch's status code, or curl's exit; with ``log`` (a tor's), a failure also
    says curl's error and the log's tail, which tells a stream tor closed from a reset
    that reached curl."""
    r = lab.run(node, FETCH)
    if r.rc == 0:
        return r.out.strip()
    if log is None:
        return f"curl exit {r.rc}"
    tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else [f"(no {log})"]
    return "\n".join([f"curl exit {r.rc}: {r.err.strip()}", *tail])


def tor_log(lab: LabSession) -> Path:
    """The log of the tor started with method key "tor"."""
    return lab.rundir / "circumvent" / "tor" / "tor.log"


def probe(lab: LabSession, node: str, targets: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The host's probes (python -m tools.probes) with the options its methods give:
    target name -> record."""
    plan, out = lab.rundir / f"plan-{node}.json", lab.rundir / f"out-{node}.jsonl"
    plan.write_text(json.dumps({"client": node, "targets": targets, "options": lab.probe_options(node)}))
    r = lab.run(node, f"{sys.executable} -m tools.probes {plan} {out}")
    assert r.rc == 0, r.err
    return {rec["kzlab"]["target"]: rec for rec in map(json.loads, out.read_text().splitlines())}


def left_behind(lab: LabSession, key: str) -> list[str]:
    """The method's processes (its torrc in this lab's run directory in their command line,
    seen from this process's /proc, which shows the lab's too, and other labs') and its
    redirect in the host."""
    mine = f"{lab.rundir}/circumvent/{key}/".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if mine in cmdline:
            found.append(cmdline.decode(errors="replace"))
    return found + [line for line in lab.run("home1", "iptables -w -t nat -S").out.splitlines() if "KZLAB_TOR" in line]


def test_the_network_publishes_a_consensus_of_every_relay_and_not_the_bridge(lab: LabSession) -> None:
    url = f"http://{TOR_RELAYS[0][2]}:9030{tor_consensus.PATH}"
    routers = tor_consensus.routers(lab.run("home1", f"curl -sS -m 5 {url}").out)
    assert {(r.nickname, r.address) for r in routers} == {(nick, address) for nick, _, address in TOR_RELAYS}
    assert all("Running" in r.flags for r in routers)
    assert TOR_BRIDGE[0] not in {r.address for r in routers}


def test_tor_gets_its_subscriber_past_sni_reset_dns_injection_and_telegram_blocking(lab: LabSession) -> None:
    lab.attach("dns", "SpoofDNSResponse", "gw", domains=["facebook.com"], address=SPOOFED)
    lab.attach("telegram", "DropTrafficForServerEndpoint", "gw", prefixes=list(TELEGRAM_PREFIXES))
    dc = {"name": "dc2", "kind": "mtproto", "url": f"mtproto://{TELEGRAM_DCS[2]}:443"}
    tor = {"name": "tor", "kind": "tor", "url": ""}
    try:
        assert fetch(lab, "home1") == RESET
        lab.circumvent("tor", "tor", "home1")
        try:
            assert fetch(lab, "home1", tor_log(lab)) == "200"
            assert fetch(lab, "home2") == RESET
            # a query to a resolver abroad crosses the injector at gw, unless it goes through tor
            assert lab.run("home1", "dig +short @8.8.8.8 facebook.com").out.split() == ["157.240.241.35"]
            assert lab.run("home2", "dig +short @8.8.8.8 facebook.com").out.split()[:1] == [SPOOFED]
            records = probe(lab, "home1", [dc, tor])
            assert records["dc2"]["kzlab"]["outcome"] == "accessible"
            assert records["tor"]["test_name"] == "vanilla_tor"
            assert records["tor"]["kzlab"]["outcome"] == "bootstrap succeeded"
            keys = records["tor"]["test_keys"]
            assert keys["tor_progress"] == 100 and keys["circuit_established"] and 0 < keys["bootstrap_time"] < 30
            connect = f"timeout 3 bash -c '</dev/tcp/{TELEGRAM_DCS[2]}/443'"
            assert lab.run("home1", connect).rc == 0 and lab.run("home2", connect).rc == 124  # dropped at gw
        finally:
            lab.uncircumvent("tor")
        assert fetch(lab, "home1") == RESET
        assert left_behind(lab, "tor") == []
        assert probe(lab, "home1", [tor])["tor"]["kzlab"]["outcome"] == "bootstrap failed"
    finally:
        lab.detach("dns")
        lab.detach("telegram")


def test_relay_blocking_stops_a_bridgeless_tor_and_the_obfs4_bridge_gets_through(lab: LabSession) -> None:
    lab.attach("relays", "BlockTorRelays", "gw")
    try:
        with pytest.raises(LabSessionError) as failed:
            lab.circumvent("blocked", "tor", "home1", timeout=8)
        assert failed.match(r"^MethodError: tor: bootstrap failed after 8 s; last phase \d+% \(\w+: [^)]+\)$")
        assert left_behind(lab, "blocked") == [] and lab.probe_options("home1") == {}
        # the key of the first test again: its directory holds that tor's state (and socket)
        lab.circumvent("tor", "tor", "home1", bridge=True)
        try:
            assert fetch(lab, "home1", tor_log(lab)) == "200"
            assert lab.probe_options("home1")["tor"]["transport_name"] == "obfs4"
            tor = lab.run("home1", "pgrep -f circumvent/tor/torrc").out.split()
            transport = lab.run("home1", f"pgrep -P {tor[0]} obfs4proxy").out.split()
            assert len(tor) == 1 and len(transport) == 1
        finally:
            lab.uncircumvent("tor")
        assert left_behind(lab, "tor") == []
        assert lab.run("home1", f"ps -o stat= -p {transport[0]}").out.strip() in ("", "Z")
    finally:
        lab.detach("relays")


def test_a_border_shutdown_stops_even_the_bridge(lab: LabSession) -> None:
    lab.attach("border", "DropTrafficAtBorder", "border")
    try:
        with pytest.raises(LabSessionError, match=r"^MethodError: tor: bootstrap failed after 5 s; last phase"):
            lab.circumvent("cut", "tor", "home1", bridge=True, timeout=5)
        assert left_behind(lab, "cut") == []
    finally:
        lab.detach("border")
