"""The January 2022 shutdowns end to end: BGP in the routers' own tables, and the three
shutdown scenarios run as a user runs them (every cell as expected and as predicted,
the outside view charted)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.lab import support
from tests.lab.plays import Play, Plays
from tools.lab.session import LabSession

KCELL_BLOCK, KASPI_BLOCK, FACEBOOK = "2.76.0.0/16", "194.187.244.0/22", "157.240.241.35"


def routes(s: LabSession, router: str) -> tuple[set[str], set[str]]:
    """(BGP routes in the kernel, prefixes in BIRD's own table) of ``router``."""
    kernel = s.run(router, "ip -4 route show proto bird").out.split("\n")
    ctl = s.rundir / "bird" / router / "bird.ctl"
    table = s.run(router, f"birdc -s {ctl} show route").out.split("\n")
    return {line.split()[0] for line in kernel if line.strip()}, {
        line.split()[0] for line in table if line[:1].isdigit()
    }


def settled(s: LabSession, router: str, present: bool, timeout: float = 5.0) -> tuple[set[str], set[str]]:
    """The router's tables once the country's blocks are all there (or all gone): BGP
    updates take a moment to reach it."""
    deadline = time.monotonic() + timeout
    while True:
        kernel, table = routes(s, router)
        found = [p in kernel and p in table for p in (KCELL_BLOCK, KASPI_BLOCK)]
        if (all(found) if present else not any(found)) or time.monotonic() > deadline:
            return kernel, table
        time.sleep(0.1)


def pings(s: LabSession, node: str, address: str) -> bool:
    return s.run(node, f"ping -c1 -W1 {address}").rc == 0


def test_withdrawal_empties_the_transit_table_and_a_data_plane_shutdown_does_not() -> None:
    """Asked of the routers' own tables (the kernel's and BIRD's); and BGP stays sealed:
    the host's routes and rules are the same before, during and after, and not one BGP
    packet or packet of the country's blocks shows in the host's root namespace."""
    before = support.host_snapshot()
    watch = subprocess.Popen(
        ["tcpdump", "-i", "any", "-n", "-l", "tcp port 179 or net 185.1.114.0/24 or net 2.76.0.0/16"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        with LabSession("kz_national") as s:
            _withdraw_and_drop(s)
            assert support.snapshot_diff(before, support.host_snapshot()) == []
    finally:
        watch.terminate()
        leaked, _ = watch.communicate(timeout=10)
    assert support.snapshot_diff(before, support.host_snapshot()) == []
    assert leaked.strip() == "", leaked


def _withdraw_and_drop(s: LabSession) -> None:
    """The data-plane shutdown keeps the routes, the withdrawal takes them away."""
    kernel, bird_table = routes(s, "transit")
    assert {KCELL_BLOCK, KASPI_BLOCK} <= kernel & bird_table
    assert pings(s, "abroad", "2.76.1.1") and pings(s, "kc_1", FACEBOOK)

    s.attach("drop", "DropTrafficAtBorder", "border")
    kernel, bird_table = routes(s, "transit")
    assert {KCELL_BLOCK, KASPI_BLOCK} <= kernel & bird_table, "a data-plane shutdown keeps the routes"
    assert not pings(s, "abroad", "2.76.1.1") and not pings(s, "kc_1", FACEBOOK)
    assert pings(s, "kc_1", "194.187.247.152"), "domestic traffic goes on"
    s.detach("drop")
    assert pings(s, "abroad", "2.76.1.1")

    s.attach("withdraw", "WithdrawRoutes", "border")
    kernel, bird_table = settled(s, "transit", present=False)
    assert not any(p in kernel | bird_table for p in (KCELL_BLOCK, KASPI_BLOCK)), kernel | bird_table
    assert "157.240.0.0/16" in bird_table, "the world's own routes stay"
    kcell_kernel, _ = routes(s, "kcell")
    assert "157.240.0.0/16" in kcell_kernel, "the country still has routes out"
    assert not pings(s, "abroad", "2.76.1.1") and not pings(s, "kc_1", FACEBOOK)
    assert pings(s, "kc_1", "194.187.247.152")
    s.detach("withdraw")
    kernel, bird_table = settled(s, "transit", present=True)
    assert {KCELL_BLOCK, KASPI_BLOCK} <= kernel & bird_table, "announced again"
    assert pings(s, "abroad", "2.76.1.1")


@pytest.mark.parametrize(
    "play",
    [Play(name, ("--seconds-per-hour", "0.02")).param for name in ("kz2022_january", "shutdown_variants", "curfew")],
)
def test_shutdown_scenarios_match_expectation_and_prediction_and_chart_the_outside(play: Play, plays: Plays) -> None:
    name = play.name
    proc, summary, run_dir = plays.result(play)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert summary["matched"]
    assert all(c["match"] and c["as_predicted"] for c in summary["cells"])
    timeline = json.loads((run_dir / "timeline.json").read_text())
    assert [t["phase"] for t in timeline] == [p["name"] for p in summary["phases"]]
    for chart in ("connectivity.png", "operators.png"):
        assert (run_dir / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # before (curfew starts dark) and after: everything answers, everything is visible
    for entry in timeline[-1:] if name == "curfew" else (timeline[0], timeline[-1]):
        assert entry["bgp"]["share"] == 1.0 and entry["probing"]["share"] == 1.0 and entry["inside"]["share"] == 1.0
    by_phase = {t["phase"]: t for t in timeline}
    if name == "shutdown_variants":
        assert by_phase["data_plane"]["bgp"]["share"] == 1.0 and by_phase["data_plane"]["probing"]["share"] == 0.0
        assert by_phase["withdrawal"]["bgp"]["share"] == 0.0 and by_phase["withdrawal"]["probing"]["share"] == 0.0
        assert by_phase["mobile_throttle"]["probing"]["share"] == 1.0, "throttled, not cut"
    if name == "kz2022_january":
        assert by_phase["nationwide"]["bgp"]["share"] == 1.0, "RIPE: networks stayed visible in BGP"
        assert by_phase["nationwide"]["probing"]["share"] == 0.0
        assert by_phase["window_jan5"]["probing"]["groups"]["kt"]["share"] == 1.0
    if name == "curfew":  # dark between the windows, open inside them, BGP visible throughout
        for entry in timeline[:-1]:
            kt = entry["probing"]["groups"]["kt"]["share"]
            assert kt == (1.0 if entry["phase"].startswith("open") else 0.0), entry["phase"]
            assert entry["bgp"]["share"] == 1.0
    assert support.wait_until_clean(summary["run"]) == []
