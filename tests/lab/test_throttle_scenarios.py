"""Throttling end to end: throttle_2022 and evening_2018 run as a user runs them, every cell
matched, and the handshake times the probes recorded: over 2 s (median over 4 s) for the
throttled cells, under 1 s for every other page reached over TLS."""

from __future__ import annotations

import json
import statistics

import pytest

from tests.lab import support
from tests.lab.plays import Play, Plays


@pytest.mark.parametrize("play", [Play(name, solo=True).param for name in ("throttle_2022", "evening_2018")])
def test_throttled_cells_have_slow_handshakes_and_no_others(play: Play, plays: Plays) -> None:
    """Solo plays: the handshake times are compared with fixed bounds, so nothing else runs."""
    name = play.name
    proc, summary, run_dir = plays.result(play)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert summary["matched"] and all(c["match"] for c in summary["cells"])
    throttled, fast = [], []
    for line in (run_dir / "measurements.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["test_name"] != "web_connectivity":
            continue
        t = record["test_keys"]["tls_handshake_time"]
        if record["kzlab"]["outcome"] == "throttled":
            throttled.append(t)
        elif record["kzlab"]["outcome"] == "accessible":
            fast.append(t)
    print(f"{name}: throttled handshakes n={len(throttled)} median {statistics.median(throttled):.2f} s "
          f"[{min(throttled):.2f}, {max(throttled):.2f}]; others n={len(fast)} median "
          f"{statistics.median(fast) if fast else 0:.3f} s max {max(fast, default=0):.3f} s")  # fmt: skip
    assert len(throttled) == sum(c["expected"] == "throttled" for c in summary["cells"]) > 0
    assert min(throttled) > 2.0 and statistics.median(throttled) > 4.0, throttled
    assert fast and max(fast) < 1.0, fast
    assert support.wait_until_clean(summary["run"]) == []
