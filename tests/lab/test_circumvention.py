"""The circumvention scenario end to end (issue 11): every method against every censor,
run as `make run S=circumvention` runs it, every cell as docs/circumvention.md says; the
tunnels a censor stops say so in their cells, and nothing of the run is left."""

from __future__ import annotations

import pytest

from scenarios.circumvention import COLUMNS, ROWS
from tests.lab import support
from tests.lab.plays import Play, Plays

CIRCUMVENTION = Play("circumvention")


@pytest.mark.play(CIRCUMVENTION)
def test_every_method_meets_every_censor_as_expected(plays: Plays) -> None:
    proc, summary, run_dir = plays.result(CIRCUMVENTION)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    cells = summary["cells"]
    assert summary["matched"] and all(c["match"] for c in cells), [c for c in cells if not c["match"]]
    assert [p["name"] for p in summary["phases"]] == [column.name for column in COLUMNS]
    assert {c["client"] for c in cells} == {row.client for row in ROWS}
    observed = {c["observed"] for c in cells}
    # each counter-move stops the tool it targets, and the border stops every tunnel
    for method in ("doh", "dot", "wireguard", "openvpn", "shadowsocks", "tor"):
        assert f"tunnel-failure:{method}" in observed
    # a method that fails to come up says why in one line, and the run goes on
    assert "kzlab: phase border_shutdown: home9: tor: bootstrap failed after" in proc.stdout + proc.stderr
    assert (run_dir / "report.html").exists()
    assert support.wait_until_clean(summary["run"]) == []
