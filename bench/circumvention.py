"""bench/circumvention: what each way around the censorship costs a subscriber, beside
the same subscriber going direct, measured in one lab in one run (issue 11, item 6).

One lab (``kz_isp`` with ``circumvention=True``) and no censor: the figures are each
tool's own cost, not a censor's. On one subscriber (home1), for each method that carries
web traffic (the VPNs, Shadowsocks, Tor with and without the obfs4 bridge, DoH, DoT,
domain fronting, a Geneva strategy):

1. Set-up: how long ``lab.circumvent`` takes to return (the method's own wait until it
   works: a VPN's handshake, tor's bootstrap to 100% and an exit circuit, the stub's first
   answer); median of ``--setups``, switched off in between, each under a fresh key so
   that nothing (tor's cached consensus, say) is reused;
2. Page fetch: curl's ``time_total`` for https://facebook.com/ (name lookup included, so
   DoH and DoT show their cost), ``--fetches`` sequential fetches, p50. Fronting fetches
   as its probe option says: the front's URL (https://pypi.org/) with Host: facebook.com;
3. Bulk: https://facebook.com/bulk (8 MiB of random bytes, tools/services/web.py),
   ``--downloads`` times; MB/s (10^6 bytes/s) after curl's pre-transfer phase, median.

The web methods are measured between direct blocks (no method on; the same fetches and
downloads): D M1 D M2 D ... Mn D. Each method's ratios are against the two blocks either
side of it, so that the load of a shared machine, which drifts over minutes, falls on both
sides of each ratio; the direct row pools every direct block.

The ``mtproxy`` method carries Telegram only: its row is the telegram probe's first round
trip to DC2 (connect, the fake-TLS handshake, the obfuscated2 init and ``req_pq_multi``,
until the ``resPQ``; tools/probes/mtproxy.py) through the proxy, beside the same exchange
direct to DC2:443 (tools/probes/mtproto.py), the two alternated in one process.

There is no goal to meet, only figures and ratios; the exit status is 1 when a row could
not be measured (a method that did not come up, a fetch or download that failed), else 0.
An unknown name in ``--methods`` is one line and exit status 2.

    python -m bench circumvention [--methods wireguard,tor,...] [--setups 3] [--fetches 15] [--downloads 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypedDict

from bench.results import write
from tools.lab.session import LabSession, LabSessionError
from topologies.internet import TELEGRAM_DCS

CLIENT = "home1"
SITE = "facebook.com"
BULK_BYTES = 8 << 20
TELEGRAM_DC = 2
SETUPS, FETCHES, DOWNLOADS = 3, 15, 5
MAX_TIME = 30  # seconds, per curl
EXIT_BAD_ARGUMENTS = 2
WRITE_OUT = "=> %{time_pretransfer} %{time_total} %{http_code} %{size_download} %{exitcode}\\n"
CURL = f"curl -s -o /dev/null --max-time {MAX_TIME} --cacert /etc/ssl/certs/ca-certificates.crt -w '{WRITE_OUT}'"


@dataclass(frozen=True)
class Row:
    """A method as the benchmark switches it on: its name on the command line, its label
    in the table, the lab's method and its parameters; ``telegram`` for mtproxy's row."""

    name: str
    label: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    telegram: bool = False


ROWS = (
    Row("wireguard", "wireguard", "wireguard"),
    Row("openvpn-udp", "openvpn (udp)", "openvpn", {"proto": "udp"}),
    Row("openvpn-tcp", "openvpn (tcp 443)", "openvpn", {"proto": "tcp"}),
    Row("shadowsocks", "shadowsocks", "shadowsocks"),
    Row("tor", "tor", "tor", {"bridge": False}),
    Row("tor-bridge", "tor (obfs4 bridge)", "tor", {"bridge": True}),
    Row("doh", "doh (dns.google)", "doh"),
    Row("dot", "dot (dns.google)", "dot"),
    Row("fronting", "fronting (pypi.org -> facebook.com)", "fronting", {"fronted": [SITE]}),
    Row("geneva", "geneva (clienthello_split)", "geneva", {"strategy": "clienthello_split"}),
    Row("mtproxy", "mtproxy (telegram first round trip)", "mtproxy", telegram=True),
)
BY_NAME = {row.name: row for row in ROWS}

# Run in the subscriber's host: ROUNDS rounds of one direct and one proxied first round
# trip to the data centre, their order swapped every round; one JSON line each.
TELEGRAM_RTTS = """
import json, sys
from tools.dpi.faketls import Secret
from tools.probes import mtproto, mtproxy
proxy, dc, address, rounds = json.loads(sys.argv[1])
secret = Secret.parse(proxy["secret"])
paths = [
    ("direct", lambda: mtproto.handshake(address, 443)),
    ("proxy", lambda: mtproxy.handshake(proxy["address"], proxy["port"], secret, dc)),
]
for i in range(rounds):
    for path, run in paths if i % 2 == 0 else paths[::-1]:
        print(json.dumps({"path": path, **run()}))
"""


class UsageError(Exception):
    """A bad command line; the message is its one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def method_names(text: str) -> tuple[str, ...]:
    """``--methods``: comma-separated names of ROWS, each known."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("no method named")
    if unknown := [name for name in names if name not in BY_NAME]:
        raise argparse.ArgumentTypeError(f"unknown method {', '.join(unknown)} (known: {', '.join(BY_NAME)})")
    return tuple(dict.fromkeys(names))


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def arguments(argv: list[str]) -> argparse.Namespace:
    """The command line; UsageError (one line) for a bad one."""
    parser = _Parser(prog="python -m bench circumvention", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods", type=method_names, default=tuple(BY_NAME), help=f"comma-separated, of: {', '.join(BY_NAME)}"
    )
    parser.add_argument("--setups", type=positive, default=SETUPS, help="times each method is switched on")
    parser.add_argument("--fetches", type=positive, default=FETCHES, help="sequential page fetches per block")
    parser.add_argument("--downloads", type=positive, default=DOWNLOADS, help="bulk downloads per block")
    return parser.parse_args(argv)


# -- statistics -------------------------------------------------------------------------
def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# -- measurements in the lab ------------------------------------------------------------
def curl(lab: LabSession, count: int, url: str, host: str | None) -> list[dict[str, Any]]:
    """``count`` sequential fetches of ``url`` from CLIENT (with ``host`` as the Host
    header, if given); one record each."""
    header = f" -H {shlex.quote(f'Host: {host}')}" if host else ""
    command = f"for i in $(seq {count}); do {CURL}{header} {shlex.quote(url)}; done"
    out = lab.run(CLIENT, command, timeout=count * MAX_TIME + 30).out
    records = []
    for line in out.splitlines():
        if line.startswith("=> "):
            pretransfer, total, code, size, exitcode = line[3:].split()
            records.append(
                {
                    "pretransfer": float(pretransfer),
                    "total": float(total),
                    "code": int(code),
                    "size": int(size),
                    "exitcode": int(exitcode),
                }
            )
    return records


def web_block(lab: LabSession, fetches: int, downloads: int, options: dict[str, Any]) -> dict[str, Any]:
    """Page fetches and bulk downloads from CLIENT as its methods' probe options say
    (``fronts``: the front's URL, the site's name in the Host header)."""
    front = options.get("fronts", {}).get(SITE)
    base, host = (f"https://{front}", SITE) if front else (f"https://{SITE}", None)
    pages = curl(lab, fetches, f"{base}/", host)
    bulk = curl(lab, downloads, f"{base}/bulk", host)
    for rec in pages:
        rec["ok"] = rec["exitcode"] == 0 and rec["code"] == 200 and rec["size"] > 0
    for rec in bulk:
        rec["ok"] = rec["exitcode"] == 0 and rec["code"] == 200 and rec["size"] == BULK_BYTES
        seconds = rec["total"] - rec["pretransfer"]
        rec["mbps"] = rec["size"] / seconds / 1e6 if rec["ok"] and seconds > 0 else None
    return {"url": f"{base}/", "host": host, "fetches": pages, "downloads": bulk}


def telegram_rtts(lab: LabSession, rounds: int, proxy: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``rounds`` first round trips to TELEGRAM_DC direct and through ``proxy``, alternated."""
    config = json.dumps([proxy, TELEGRAM_DC, TELEGRAM_DCS[TELEGRAM_DC], rounds])
    command = f"{sys.executable} -c {shlex.quote(TELEGRAM_RTTS)} {shlex.quote(config)}"
    out = lab.run(CLIENT, command, timeout=rounds * 2 * MAX_TIME + 30).out
    results: dict[str, list[dict[str, Any]]] = {"direct": [], "proxy": []}
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            results[record.pop("path")].append(record)
    return results


def switched_on(lab: LabSession, row: Row, setups: int, times: list[float]) -> str:
    """Switch ``row``'s method on ``setups`` times, each under a fresh key, off in between,
    appending to ``times`` the seconds each ``circumvent`` took; the key left on
    (LabSessionError if one did not come up: nothing of it is left on)."""
    for i in range(1, setups + 1):
        key = f"{row.name}-{i}"
        start = time.monotonic()
        lab.circumvent(key, row.method, CLIENT, **row.params)
        times.append(time.monotonic() - start)
        if i < setups:
            lab.uncircumvent(key)
    return key


def measure_row(lab: LabSession, row: Row, args: argparse.Namespace) -> dict[str, Any]:
    """One method: switched on and off ``--setups`` times, then measured while on (web
    fetches, or for mtproxy its round trips beside direct ones)."""
    raw: dict[str, Any] = {"name": row.name, "label": row.label, "method": row.method, "params": row.params}
    times: list[float] = []
    raw["setup_s"] = times
    try:
        key = switched_on(lab, row, args.setups, times)
    except LabSessionError as exc:
        raw["error"] = f"switching it on, time {len(times) + 1} of {args.setups}: {exc}"
        return raw
    try:
        options = lab.probe_options(CLIENT)
        raw["options"] = options
        if row.telegram:
            raw["telegram"] = telegram_rtts(lab, args.fetches, options["telegram_proxy"])
        else:
            raw["on"] = web_block(lab, args.fetches, args.downloads, options)
    finally:
        lab.uncircumvent(key)
    return raw


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every row of ``--methods`` in one lab, in the order of ROWS, the web methods between
    direct blocks (D M1 D M2 D ... Mn D): each row's baseline is the blocks either side."""
    t0 = time.monotonic()
    with LabSession(circumvention=True) as lab:
        ready = time.monotonic() - t0
        print(f"circumvention: lab ready in {ready:.1f}s; measuring on {CLIENT}", flush=True)
        direct: list[dict[str, Any]] = []
        rows = []
        for row in (r for r in ROWS if r.name in args.methods):
            start = time.monotonic()
            if not row.telegram and not direct:
                direct.append(web_block(lab, args.fetches, args.downloads, {}))
            rows.append(measure_row(lab, row, args))
            if not row.telegram:
                direct.append(web_block(lab, args.fetches, args.downloads, {}))
                rows[-1]["baseline"] = [len(direct) - 2, len(direct) - 1]
            print(f"circumvention: {row.name} measured in {time.monotonic() - start:.1f}s", flush=True)
        rundir = str(lab.rundir)
    return {"rundir": rundir, "lab_ready_s": ready, "direct": direct, "rows": rows}


# -- summary and table ------------------------------------------------------------------
class Summary(TypedDict):
    """One row of the table: medians, and ratios against its own direct baseline."""

    name: str
    label: str
    setup_s: float | None
    fetch_ms: float | None
    fetch_ratio: float | None
    bulk_mbps: float | None
    bulk_ratio: float | None
    error: str | None


def fetch_ms(block: dict[str, Any]) -> list[float]:
    return [r["total"] * 1e3 for r in block["fetches"] if r["ok"]]


def bulk_mbps(block: dict[str, Any]) -> list[float]:
    return [r["mbps"] for r in block["downloads"] if r["ok"]]


def rtt_ms(records: list[dict[str, Any]]) -> list[float]:
    return [r["t"] * 1e3 for r in records if r["ok"]]


def summary_row(
    name: str,
    label: str,
    ms: list[float],
    mbps: list[float] | None = None,
    base_ms: list[float] | None = None,
    base_mbps: list[float] | None = None,
) -> Summary:
    """A row from its samples (``mbps`` None: no bulk column) and, for its ratios, its
    baseline's (None: a row with no ratio, direct itself)."""
    fetch, bulk = median(ms), median(mbps or [])
    return {
        "name": name,
        "label": label,
        "setup_s": None,
        "fetch_ms": fetch,
        "fetch_ratio": ratio(fetch, median(base_ms or [])),
        "bulk_mbps": bulk,
        "bulk_ratio": ratio(bulk, median(base_mbps or [])),
        "error": None,
    }


def summarise(raw: dict[str, Any]) -> tuple[list[Summary], list[str]]:
    """The table's rows (direct first, pooled over every direct block; the direct
    Telegram round trip before mtproxy's) and the problems: rows not fully measured."""
    blocks = raw["direct"]
    direct_ms = [ms for block in blocks for ms in fetch_ms(block)]
    direct_mbps = [mbps for block in blocks for mbps in bulk_mbps(block)]
    table = [summary_row("direct", "direct", direct_ms, direct_mbps)] if blocks else []
    problems = failures("direct", [rec for block in blocks for rec in block["fetches"] + block["downloads"]])
    for r in raw["rows"]:
        if "error" in r:
            row = summary_row(r["name"], r["label"], [])
            row["error"] = r["error"]
            table.append(row)
            problems.append(f"{r['name']}: did not come up: {r['error']}")
            continue
        if "telegram" in r:
            direct, proxied = rtt_ms(r["telegram"]["direct"]), rtt_ms(r["telegram"]["proxy"])
            table.append(summary_row("direct-telegram", "direct (telegram first round trip)", direct))
            row = summary_row(r["name"], r["label"], proxied, base_ms=direct)
            records = r["telegram"]["direct"] + r["telegram"]["proxy"]
        else:
            base = [blocks[i] for i in r["baseline"]]
            base_ms = [ms for block in base for ms in fetch_ms(block)]
            base_mbps = [mbps for block in base for mbps in bulk_mbps(block)]
            row = summary_row(r["name"], r["label"], fetch_ms(r["on"]), bulk_mbps(r["on"]), base_ms, base_mbps)
            records = r["on"]["fetches"] + r["on"]["downloads"]
        row["setup_s"] = median(r["setup_s"])
        table.append(row)
        problems += failures(r["name"], records)
    return table, problems


def failures(name: str, records: list[dict[str, Any]]) -> list[str]:
    """One problem line if some of ``records`` failed, else none."""
    failed = [rec for rec in records if not rec["ok"]]
    return [f"{name}: {len(failed)} of {len(records)} measurements failed, e.g. {failed[0]}"] if failed else []


def _cell(value: float | None, digits: int, ratio_: float | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return f"{text} ({ratio_:.2f}x)" if ratio_ is not None else text


def render(rows: list[Summary]) -> str:
    """The table, in Markdown (as the README shows it)."""
    lines = ["| method | set-up s | fetch p50 ms (x direct) | bulk MB/s (x direct) |", "|---|---:|---:|---:|"]
    for row in rows:
        if row["error"] is not None:
            lines.append(f"| {row['label']} | did not come up | - | - |")
            continue
        fetch, bulk = _cell(row["fetch_ms"], 1, row["fetch_ratio"]), _cell(row["bulk_mbps"], 1, row["bulk_ratio"])
        lines.append(f"| {row['label']} | {_cell(row['setup_s'], 2)} | {fetch} | {bulk} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    try:
        args = arguments(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    t0, load_before = time.monotonic(), os.getloadavg()
    raw = measure(args)
    table, problems = summarise(raw)
    print()
    print(render(table))
    load_after = os.getloadavg()
    print(
        f"\ncircumvention: figures on {CLIENT}, no censor; each ratio against the direct blocks measured just before"
        f" and just after that row; load average {load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end"
    )
    for problem in problems:
        print(f"circumvention: problem: {problem}", file=sys.stderr)
    results = {
        "config": {"client": CLIENT, "site": SITE, "bulk_bytes": BULK_BYTES, "telegram_dc": TELEGRAM_DC, **vars(args)},
        "load_average": {"start": load_before, "end": load_after},
        "table": table,
        "problems": problems,
        **raw,
        "elapsed_s": time.monotonic() - t0,
    }
    write("circumvention", results)
    print(f"circumvention: {results['elapsed_s']:.0f}s in all; results/bench/circumvention.json")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
