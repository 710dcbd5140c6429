"""The national-certificate scenarios end to end: every cell of every phase matched, the
walled garden and the surveillance log visible in the output and the results."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.lab import support
from tests.lab.plays import Play, Plays
from tools.basics.paths import REPO

FACEBOOK_BLOCK = Play("facebook_block")


# Solo: a phase's first interception of many names at once forges a key per name (RSA-2048,
# e=3), which beside two other runs on 2 cores can outlast a probe's 5 s TLS timeout.
@pytest.mark.parametrize("play", [Play(name, solo=True).param for name in ("kz2019_certificate", "kz2020_nursultan")])
def test_scenario_matches_every_cell(play: Play, plays: Plays) -> None:
    name = play.name
    proc, summary, run_dir = plays.result(play)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert summary["matched"] and all(c["match"] for c in summary["cells"])
    observed = {c["observed"] for c in summary["cells"]}
    # Compliant subscribers see the device, refusers fail, the walled garden shows the portal.
    assert {"tls_mitm", "http-failure:ssl_unknown_authority", "http-diff:none", "accessible"} <= observed
    assert "what the state saw" in proc.stdout
    events = [json.loads(x) for x in (run_dir / "surveillance.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"intercepted", "rejected", "request", "passed", "walled", "released"} <= kinds
    shown = subprocess.run(
        [support.sys.executable, "-m", "tools.gateway.surveillance", str(run_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = {line.split()[0]: line for line in shown.splitlines()[1:]}
    compliant = "mob1" if name == "kz2020_nursultan" else "home1"
    assert "https://" in rows[compliant]  # full URLs of the compliant subscriber
    assert "released" in shown and "walled" in shown
    assert "https://" not in rows["mob2"]  # the refuser leaks only names
    assert support.wait_until_clean(summary["run"]) == []


@pytest.mark.play(FACEBOOK_BLOCK)
def test_facebook_block_gives_each_mechanisms_ooni_verdict(plays: Plays) -> None:
    """Issue 4: one phase per mechanism, each cell its expected OONI verdict, vk.com and the
    abroad vantage point untouched, and the phase before (no censor) all accessible."""
    proc, summary, _ = plays.result(FACEBOOK_BLOCK)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    by_phase: dict[str, set[str]] = {}
    for cell in summary["cells"]:
        assert cell["match"], cell
        by_phase.setdefault(cell["phase"], set()).add(cell["observed"])
    assert by_phase["before"] == {"accessible"}
    assert "dns:dns_nxdomain_error" in by_phase["resolver_blocklist"]
    assert "dns:generic_timeout_error" in by_phase["dns_injection"]
    assert "tcp_ip:generic_timeout_error" in by_phase["address"]
    assert "http-failure:connection_reset" in by_phase["sni_reset"]
    assert "http-failure:generic_timeout_error" in by_phase["sni_drop"]
    assert "http-diff:none" in by_phase["http_blockpage"]
    controls = [c for c in summary["cells"] if c["target"] == "vk.com" or c["client"] == "abroad"]
    assert controls and all(c["observed"] == "accessible" for c in controls)
