"""bench/circumvention's command line and its table: unknown method names are one line
and exit status 2 before any lab is built; the table shows medians, ratios against the
direct blocks either side of each row, "-" where a row has no figure, and a method that
did not come up as such; failures are problems, left out of the medians."""

from __future__ import annotations

from typing import Any

import pytest

from bench import circumvention
from bench.circumvention import UsageError, arguments, main, render, summarise


def test_methods_default_to_every_row_in_order() -> None:
    args = arguments([])
    assert args.methods == tuple(row.name for row in circumvention.ROWS)
    assert (args.setups, args.fetches, args.downloads) == (3, 15, 5)


def test_methods_are_a_comma_separated_choice() -> None:
    assert arguments(["--methods", "tor-bridge, wireguard,tor-bridge"]).methods == ("tor-bridge", "wireguard")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--methods", "wireguard,ipsec"], "unknown method ipsec (known: wireguard, openvpn-udp"),
        (["--methods", ","], "argument --methods: no method named"),
        (["--fetches", "0"], "argument --fetches: '0' is not a whole number of at least 1"),
        (["--setups", "x"], "argument --setups: 'x' is not a whole number of at least 1"),
        (["extra"], "unrecognized arguments: extra"),
    ],
)
def test_bad_arguments_are_one_usage_error(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        arguments(argv)
    line = str(caught.value)
    assert line.startswith("python -m bench circumvention: ") and message in line and "\n" not in line


def test_an_unknown_method_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--methods", "vpn"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("python -m bench circumvention: argument --methods: unknown method vpn (known: ")


def block(fetch_s: list[float], seconds_per_8mib: list[float], failed: int = 0) -> dict[str, Any]:
    """A web block as web_block() records it: fetches of ``fetch_s`` seconds, downloads
    whose transfer took ``seconds_per_8mib``, and ``failed`` fetches that did not."""
    size = circumvention.BULK_BYTES
    fetches = [{"total": t, "ok": True} for t in fetch_s] + [{"total": 30.0, "ok": False}] * failed
    downloads = [{"mbps": size / s / 1e6, "ok": True} for s in seconds_per_8mib]
    return {"fetches": fetches, "downloads": downloads}


def raw() -> dict[str, Any]:
    """Three direct blocks and three rows: a tunnel at twice its neighbouring blocks'
    latency and half their rate, a method that did not come up, and mtproxy's round trips."""
    size_mb = circumvention.BULK_BYTES / 1e6
    return {
        "direct": [
            block([0.010, 0.030], [size_mb / 200]),
            block([0.020], [size_mb / 100]),
            block([0.030], [size_mb / 50]),
        ],
        "rows": [
            {
                "name": "wireguard",
                "label": "wireguard",
                "setup_s": [0.5, 0.3, 0.4],
                "on": block([0.020, 0.040, 0.060], [size_mb / 75]),
                "baseline": [0, 1],
            },
            {
                "name": "tor",
                "label": "tor",
                "setup_s": [],
                "error": "switching it on, time 1 of 3: MethodError: tor: bootstrap failed after 30 s",
                "baseline": [1, 2],
            },
            {
                "name": "mtproxy",
                "label": "mtproxy (telegram first round trip)",
                "setup_s": [0.001],
                "telegram": {
                    "direct": [{"t": 0.004, "ok": True}, {"t": 0.006, "ok": True}],
                    "proxy": [{"t": 0.015, "ok": True}, {"t": 0.025, "ok": False}],
                },
            },
        ],
    }


def test_the_table_has_medians_and_ratios_against_the_direct_blocks_either_side() -> None:
    table, problems = summarise(raw())
    assert render(table).splitlines() == [
        "| method | set-up s | fetch p50 ms (x direct) | bulk MB/s (x direct) |",
        "|---|---:|---:|---:|",
        "| direct | - | 25.0 | 100.0 |",
        "| wireguard | 0.40 | 40.0 (2.00x) | 75.0 (0.50x) |",
        "| tor | did not come up | - | - |",
        "| direct (telegram first round trip) | - | 5.0 | - |",
        "| mtproxy (telegram first round trip) | 0.00 | 15.0 (3.00x) | - |",
    ]
    assert problems == [
        "tor: did not come up: switching it on, time 1 of 3: MethodError: tor: bootstrap failed after 30 s",
        "mtproxy: 1 of 4 measurements failed, e.g. {'t': 0.025, 'ok': False}",
    ]


def test_a_failed_fetch_is_a_problem_and_left_out_of_the_median() -> None:
    data = raw()
    data["direct"][1] = block([0.020], [0.1], failed=1)
    data["rows"][0]["on"] = block([0.020, 0.040, 0.060], [0.1], failed=2)
    table, problems = summarise(data)
    assert (table[0]["fetch_ms"], table[1]["fetch_ms"]) == (pytest.approx(25.0), pytest.approx(40.0))
    assert problems[0].startswith("direct: 1 of 8 measurements failed, e.g. {'total': 30.0, 'ok': False}")
    assert problems[1].startswith("wireguard: 2 of 6 measurements failed")
