"""The Telegram scenarios end to end: every cell of every phase matched, and the OONI keys
behind the cells: address blocking takes the data centres and web.telegram.org but not
the alternative address; the MTProto DPI takes the handshake alone, wherever it goes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.lab import support
from tests.lab.plays import Play, Plays

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")


TELEGRAM_BLOCK, KZ2019_MAY9 = Play("telegram_block"), Play("kz2019_may9")


def run(plays: Plays, play: Play) -> tuple[dict, dict[tuple[str, str, str], dict[str, Any]]]:
    """``play``'s summary and its records by (phase, client, target)."""
    proc, summary, run_dir = plays.result(play)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert summary["matched"] and summary["cells"]
    assert all(c["match"] for c in summary["cells"]), [c for c in summary["cells"] if not c["match"]]
    records = {}
    for line in (run_dir / "measurements.jsonl").read_text().splitlines():
        r = json.loads(line)
        records[r["kzlab"]["phase"], r["kzlab"]["client"], r["kzlab"]["target"]] = r
    assert support.wait_until_clean(summary["run"]) == []
    return summary, records


def failures(record: dict[str, Any]) -> set[tuple[str | None, str | None]]:
    return {(h["failure"], h["operation"]) for h in record["test_keys"]["mtproto_handshakes"]}


@pytest.mark.play(TELEGRAM_BLOCK)
def test_telegram_block(plays: Plays) -> None:
    summary, records = run(plays, TELEGRAM_BLOCK)
    for client in SUBSCRIBERS:
        keys = records["address", client, "telegram"]["test_keys"]
        assert keys["telegram_tcp_blocking"] is True and keys["telegram_http_blocking"] is True
        assert keys["telegram_mtproto_blocking"] is True
        assert keys["telegram_web_status"] == "blocked" and keys["telegram_web_failure"] == "generic_timeout_error"
        alt = records["address", client, "telegram_alt"]
        assert alt["test_name"] == "mtproto" and failures(alt) == {(None, None)}

        for phase, failure in (("mtproto_dpi", "generic_timeout_error"), ("mtproto_dpi_reset", "connection_reset")):
            tg = records[phase, client, "telegram"]
            keys = tg["test_keys"]
            assert keys["telegram_tcp_blocking"] is False and keys["telegram_http_blocking"] is False
            assert all(r["ok"] for r in keys["http_requests"])
            assert keys["telegram_mtproto_blocking"] is True and keys["telegram_web_status"] == "ok"
            assert failures(tg) == {(failure, "mtproto_handshake")}
            assert failures(records[phase, client, "telegram_alt"]) == {(failure, "mtproto_handshake")}
    abroad = [c for c in summary["cells"] if c["client"] == "abroad" or c["target"] == "vk.com"]
    assert abroad and all(c["observed"] == "accessible" for c in abroad)


@pytest.mark.play(KZ2019_MAY9)
def test_kz2019_may9(plays: Plays) -> None:
    summary, records = run(plays, KZ2019_MAY9)
    by_phase: dict[str, set[str]] = {}
    for cell in summary["cells"]:
        by_phase.setdefault(cell["phase"], set()).add(cell["observed"])
    assert by_phase["before"] == by_phase["lifted"] == {"accessible"}
    for client in SUBSCRIBERS:
        keys = records["blocking", client, "telegram"]["test_keys"]
        assert keys["telegram_tcp_blocking"] is True and keys["telegram_web_status"] == "blocked"
        # Telegram's countermeasure: the alternative address completes the handshake.
        assert failures(records["blocking", client, "telegram_alt"]) == {(None, None)}
        for site in ("facebook.com", "instagram.com", "www.youtube.com", "rus.azattyq.org", "vlast.kz"):
            web = records["blocking", client, site]["test_keys"]
            assert web["blocking"] == "http-failure" and web["http_experiment_failure"] == "connection_reset"
            assert web["dns_consistency"] == "consistent"
        for site in ("vk.com", "twitter.com", "whatsapp.com"):
            assert records["blocking", client, site]["kzlab"]["outcome"] == "accessible"
    assert {c["observed"] for c in summary["cells"] if c["client"] == "abroad"} == {"accessible"}
