"""The circumvention scenario end to end (issue 11 item 4): every method against every
censor, every cell as expected; the methods that failed to come up said why and left
their cells marked; the report labels each subscriber with its method."""

from __future__ import annotations

import pytest

from tests.lab import support
from tests.lab.plays import Play, Plays

CIRCUMVENTION = Play("circumvention")


@pytest.mark.play(CIRCUMVENTION)
def test_every_method_meets_every_censor_as_expected(plays: Plays) -> None:
    proc, summary, run_dir = plays.result(CIRCUMVENTION)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert summary["matched"] and all(cell["match"] for cell in summary["cells"])
    observed = {cell["observed"] for cell in summary["cells"]}
    assert {"accessible", "tls_mitm", "throttled", "tunnel-failure:tor", "tunnel-failure:wireguard"} <= observed
    assert "home9: tor: bootstrap failed" in proc.stderr  # the relays blocked: one line saying why
    assert "Tor, obfs4 bridge" in (run_dir / "report.html").read_text()
    assert support.wait_until_clean(summary["run"]) == []
