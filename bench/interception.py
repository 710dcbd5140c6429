"""bench/interception: what the 2019 interception device costs a subscriber, beside the
same connections with the device passing them or absent, measured in one lab in one run.

One lab (``kz_isp`` with 100 subscribers, half home, half mobile), every subscriber with
the national root installed (compliant). Three modes, each connection checked (curl exit
0, HTTP 200, chain verified with the host's own bundle, and ending at the root the mode
implies):

- ``direct``: the device detached; https://facebook.com/ and https://m.facebook.com/
  (same server, same certificate). This is the baseline of every ratio;
- ``passed``: the device attached at ``gw``, https://m.facebook.com/ (not on the 2019
  list: the device reads its ClientHello and lets the flow go on untouched);
- ``intercepted``: the device attached, https://facebook.com/ (on the list: the device
  connects to the server, takes the connection over and serves a forged leaf under the
  national chain).

Measured (1 and 2 in rounds, default 3, whose direct and device blocks alternate,
D A | A D | D A, so that a drift in the machine's load falls on both sides of a ratio):

1. Handshake: curl's ``time_appconnect - time_connect`` (the TLS handshake alone) over N
   sequential connections from home1, intercepted and passed interleaved; median and p90,
   ratio of medians against direct to the same URL. The first intercepted connection
   after each attach also forges the host's RSA-2048 e=3 key (a fresh device has no
   forged leaf yet): those are reported apart (cold) and left out of the median.
2. Bulk throughput: https://<site>/bulk (8 MiB of random bytes) downloaded several times
   from home1 (default 9 per mode: an intercepted download's rate is bimodal); MB/s
   (10^6 bytes/s) after the handshake (size / (total - pretransfer)) and over the whole
   connection; ratio of medians (after the handshake) against direct.
3. 100 concurrent subscribers: every subscriber waits on one FIFO, all are released at
   once and fetch the page; connections attempted, failed, chains ending at the national
   root, total time (release to the last one done), p50/p90 of curl's time per connection,
   for direct, passed and intercepted (the device warm); ratio of the p50 against direct.

Goals: 100 concurrent subscribers through the device with 0 failed (issue 3); the
intercepted handshake's median at most 2x direct, and intercepted bulk throughput above
0.31x direct, the ratio before the relay was reworked (issue 10, item 6).

    python -m bench.interception [--connections 30] [--downloads 9] [--subscribers 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, TypedDict

from cryptography import x509
from cryptography.x509.oid import NameOID

from bench.results import write
from tools.gateway.national_ca import GENERATIONS
from tools.lab.session import LabSession

CLIENT = "home1"
SITE, PASSED_SITE = "facebook.com", "m.facebook.com"  # on the 2019 list / not on it, same server
CONNECTIONS, DOWNLOADS, SUBSCRIBERS = 30, 9, 100  # 9: an intercepted download's MB/s is bimodal
ROUNDS = 3
BULK_BYTES = 8 << 20
MAX_TIME = 30  # seconds, per curl
GOAL_FAILED = 0
GOAL_HANDSHAKE_RATIO = 2.0  # intercepted handshake median / direct, at most
GOAL_THROUGHPUT_RATIO = 0.31  # intercepted bulk MB/s median / direct, more than (the ratio before issue 10)
# One record per connection: a "=> " line with curl's figures, then %{certs} (the chain
# as the server sent it, leaf first), whose last "Issuer:" line names the chain's root.
FIELDS = ("namelookup", "connect", "appconnect", "pretransfer", "total", "verify", "code", "size", "exitcode")
WRITE_OUT = (
    "=> %{time_namelookup} %{time_connect} %{time_appconnect} %{time_pretransfer} %{time_total} %{ssl_verify_result}"
    " %{http_code} %{size_download} %{exitcode}\\n%{certs}\\n"
)
CURL = f"curl -s -o /dev/null --max-time {MAX_TIME} --cacert /etc/ssl/certs/ca-certificates.crt -w '{WRITE_OUT}'"
EXPECTED_ROOT = {"direct": "global", "passed": "global", "intercepted": "national"}


class HandshakeRow(TypedDict):
    """One row of the handshake table: summary() of the TLS handshakes (with the ratio of
    its median against direct) and of the TCP connects."""

    mode: str
    url: str
    tls: dict[str, Any]
    tcp_connect: dict[str, Any]


class BulkRow(TypedDict):
    """One row of the bulk table: the downloads' MB/s and their ratio against direct."""

    mode: str
    url: str
    n: int
    ok: int
    mbps_after_handshake: dict[str, Any]
    mbps_whole_connection: dict[str, Any]
    ratio_vs_direct: float
    downloads: list[dict[str, Any]]


def url(site: str, path: str = "/") -> str:
    return f"https://{site}{path}"


# -- statistics -------------------------------------------------------------------------
def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# -- curl records -----------------------------------------------------------------------
class Roots:
    """Names a chain's root from the CN its top certificate's issuer carries."""

    def __init__(self, rundir: Path) -> None:
        glob = x509.load_pem_x509_certificate((rundir / "global-root.pem").read_bytes())
        self.names = {
            _cn(glob.subject): "global",
            GENERATIONS["2019"].root_name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value: "national",
        }

    def of(self, issuer_cn: str | None) -> str:
        return self.names.get(issuer_cn or "", f"other:{issuer_cn}")


def _cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


ISSUER_CN = re.compile(r"^Issuer:.*?\bCN\s*=\s*([^,/]+)")


def parse(text: str, roots: Roots, mode: str) -> list[dict[str, Any]]:
    """curl's output (one or more WRITE_OUT records) -> one dict per connection."""
    records: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.startswith("=> "):
            values = line[3:].split()
            rec: dict[str, Any] = dict(zip(FIELDS, values, strict=True))
            for k in ("namelookup", "connect", "appconnect", "pretransfer", "total"):
                rec[k] = float(rec[k])
            for k in ("verify", "code", "size", "exitcode"):
                rec[k] = int(rec[k])
            rec["handshake"] = rec["appconnect"] - rec["connect"]
            rec["issuer_cn"] = None
            records.append(rec)
        elif records and (m := ISSUER_CN.match(line)):
            records[-1]["issuer_cn"] = m.group(1).strip()  # the last one is the top's issuer
    for rec in records:
        rec["root"] = roots.of(rec.pop("issuer_cn"))
        rec["ok"] = rec["exitcode"] == 0 and rec["code"] == 200 and rec["verify"] == 0
        rec["as_expected"] = rec["ok"] and rec["root"] == EXPECTED_ROOT[mode]
    return records


def sequential(
    lab: LabSession, roots: Roots, runs: list[tuple[str, str]], count: int, path: str = "/"
) -> dict[str, list[dict[str, Any]]]:
    """``count`` rounds from CLIENT, each round one connection per (label, site) in turn."""
    loop = " ".join(f"echo '## {label}'; {CURL} {url(site, path)};" for label, site in runs)
    r = lab.run(CLIENT, f"for i in $(seq {count}); do {loop} done", timeout=count * len(runs) * MAX_TIME + 30)
    chunks: dict[str, list[str]] = {label: [] for label, _ in runs}
    current = None
    for line in r.out.splitlines():
        if line.startswith("## "):
            current = line[3:]
        elif current is not None:
            chunks[current].append(line)
    return {label: parse("\n".join(chunks[label]), roots, label.split(":")[0]) for label, _ in runs}


# -- 100 at once ------------------------------------------------------------------------
def concurrent(lab: LabSession, roots: Roots, hosts: list[str], mode: str, site: str) -> dict[str, Any]:
    """Every host blocks opening one FIFO for reading; opening it for writing releases all
    of them at once. Each then runs one curl and records its start and end (bash's
    $EPOCHREALTIME, no fork) beside curl's output, in files of the run directory."""
    work = lab.rundir / "bench-interception" / mode
    work.mkdir(parents=True)
    go = work / "go"
    os.mkfifo(go)
    for host in hosts:
        base = work / host
        script = (
            f"touch {base}.ready; : < {go}; s=$EPOCHREALTIME; {CURL} {url(site)} > {base}.out 2>/dev/null; "
            f'echo "$s $EPOCHREALTIME" > {base}.tmp && mv {base}.tmp {base}.done'
        )
        r = lab.run(host, f"nohup bash -c {shlex.quote(script)} > /dev/null 2>&1 &", timeout=10)
        if r.rc != 0:
            raise RuntimeError(f"{host}: could not start its fetch: {r.err.strip()}")
    deadline = time.monotonic() + 30
    while len(list(work.glob("*.ready"))) < len(hosts) and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting = len(list(work.glob("*.ready")))
    # The ISP resolver keeps NODATA (curl's AAAA query) only 10 s (max-ncache-ttl); a burst
    # of lookups for a name it must fetch again leaves some queries unanswered (the host
    # retries after 2 s, timeout:2): warm it, as a busy ISP resolver would be, so that the
    # figures are the device's, not DNS's (namelookup > 1 s is counted: slow_dns).
    lab.run(hosts[0], f"dig +short A {site}; dig +short AAAA {site}", timeout=10)  # curl asks both
    time.sleep(0.3)  # from touching .ready to blocking in open()
    surveillance = lab.rundir / "surveillance.jsonl"
    log_before = _lines(surveillance)
    release = time.time()
    os.close(os.open(go, os.O_WRONLY | os.O_NONBLOCK))  # wakes every reader blocked in open()
    deadline = time.monotonic() + MAX_TIME + 15
    while len(list(work.glob("*.done"))) < waiting and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the device writes its log lines after the handshake; let the last land
    events = [json.loads(line)["event"] for line in _lines(surveillance)[len(log_before) :]]
    release_stragglers(go)
    records: list[dict[str, Any]] = []
    starts: list[float] = []
    ends: list[float] = []
    for host in hosts:
        base = work / host
        done = base.with_suffix(".done")
        recs = parse(base.with_suffix(".out").read_text(), roots, mode) if done.exists() else []
        rec: dict[str, Any] = recs[0] if recs else {"ok": False, "as_expected": False, "root": None}
        rec["host"] = host
        if done.exists():
            s, e = (float(v) for v in done.read_text().split())
            starts.append(s)
            ends.append(e)
            rec["start"], rec["end"] = s - release, e - release
        records.append(rec)
    times = [r["total"] for r in records if r["ok"]]
    handshakes = [r["handshake"] for r in records if r["ok"]]
    return {
        "mode": mode,
        "url": url(site),
        "attempted": len(hosts),
        "waiting_at_release": waiting,
        "failed": sum(not r["ok"] for r in records),
        "national_root": sum(r.get("root") == "national" for r in records),
        "as_expected": sum(r["as_expected"] for r in records),
        "total_time": max(ends) - release if ends else float("nan"),
        "start_spread": max(starts) - min(starts) if starts else float("nan"),
        "time_p50": median(times),
        "time_p90": p90(times),
        "handshake_p50": median(handshakes),
        "handshake_p90": p90(handshakes),
        "slow_dns": sum(r.get("namelookup", 0) > 1 for r in records),
        "device_events": {e: events.count(e) for e in sorted(set(events))},
        "connections": records,
    }


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def release_stragglers(go: Path) -> None:
    """Release a host that blocked on the FIFO too late (it then counts as failed)."""
    with contextlib.suppress(OSError):  # ENXIO: no reader left, nothing to release
        os.close(os.open(go, os.O_WRONLY | os.O_NONBLOCK))


# -- the run ----------------------------------------------------------------------------
def summary(records: list[dict[str, Any]], key: str) -> dict[str, Any]:
    values = [r[key] for r in records if r["ok"]]
    return {"n": len(records), "ok": len(values), "median": median(values), "p90": p90(values), "samples": values}


def mbps(rec: dict[str, Any], whole: bool) -> float:
    seconds = rec["total"] if whole else rec["total"] - rec["pretransfer"]
    return rec["size"] / seconds / 1e6 if seconds > 0 else float("nan")


class Device:
    """Attaches and detaches the device at ``gw``. Right after each attach, one intercepted
    connection from CLIENT: it forges the host's key (a cold sample) and leaves the device
    warm for what follows."""

    def __init__(self, lab: LabSession, roots: Roots) -> None:
        self.lab, self.roots = lab, roots
        self.attached = False
        self.cold: list[dict[str, Any]] = []

    def set(self, attached: bool) -> None:
        if attached and not self.attached:
            self.lab.attach("device", "NationalInterception", "gw")
            self.cold += sequential(self.lab, self.roots, [("intercepted", SITE)], 1)["intercepted"]
        elif not attached and self.attached:
            self.lab.detach("device")
        self.attached = attached


def share(total: int, rounds: int, i: int) -> int:
    return total // rounds + (i < total % rounds)


def measure(connections: int, downloads: int, subscribers: int, rounds: int) -> dict[str, Any]:
    """Sequential measurements in ``rounds`` rounds, direct and device blocks in the order
    D A | A D | D A ..., so that drift in the machine's load falls on both sides; then the
    concurrent runs: direct, passed, intercepted."""
    home, mobile = subscribers // 2, subscribers - subscribers // 2
    hosts = [f"home{i}" for i in range(1, home + 1)] + [f"mob{i}" for i in range(1, mobile + 1)]
    t0 = time.monotonic()
    with LabSession(home=home, mobile=mobile) as lab:
        ready = time.monotonic() - t0
        t = time.monotonic()
        for host in hosts:
            lab.install_root(host)
        installed = time.monotonic() - t
        print(
            f"interception: lab with {subscribers} subscribers ready in {ready:.1f}s;"
            f" national root installed on all {len(hosts)} in {installed:.1f}s",
            flush=True,
        )
        roots = Roots(lab.rundir)
        device = Device(lab, roots)
        blocks = {
            False: [("direct", SITE), ("direct:passed", PASSED_SITE)],
            True: [("intercepted", SITE), ("passed", PASSED_SITE)],
        }
        hs: dict[str, list[dict[str, Any]]] = {label: [] for b in blocks.values() for label, _ in b}
        bulk: dict[str, list[dict[str, Any]]] = {label: [] for label in hs}
        for i in range(rounds):
            for attached in (False, True) if i % 2 == 0 else (True, False):
                device.set(attached)
                runs = blocks[attached]
                for label, recs in sequential(lab, roots, runs, share(connections, rounds, i)).items():
                    hs[label] += recs
                for label, recs in sequential(lab, roots, runs, share(downloads, rounds, i), "/bulk").items():
                    bulk[label] += recs
        device.set(False)
        conc = {"direct": concurrent(lab, roots, hosts, "direct", SITE)}
        device.set(True)
        conc["passed"] = concurrent(lab, roots, hosts, "passed", PASSED_SITE)
        conc["intercepted"] = concurrent(lab, roots, hosts, "intercepted", SITE)
        device.set(False)
        rundir = str(lab.rundir)
    return {
        "rundir": rundir,
        "lab_ready": ready,
        "roots_installed": installed,
        "cold": device.cold,
        "handshake": hs,
        "bulk": bulk,
        "concurrent": conc,
    }


ROWS = (  # (label in the records, mode, site, the direct label it is compared with)
    ("direct", "direct", SITE, "direct"),
    ("direct:passed", "direct", PASSED_SITE, "direct:passed"),
    ("passed", "passed", PASSED_SITE, "direct:passed"),
    ("intercepted", "intercepted", SITE, "direct"),
)


def report(raw: dict[str, Any], config: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    connections, downloads, subscribers = config["connections"], config["downloads"], config["subscribers"]
    problems = []
    for part in ("handshake", "bulk"):
        for label, recs in raw[part].items():
            bad = [r for r in recs if not r["as_expected"]]
            if bad:
                problems.append(f"{part} {label}: {len(bad)} of {len(recs)} not as expected: {bad[0]}")
    if not raw["cold"] or not all(r["as_expected"] for r in raw["cold"]):
        problems.append(f"cold intercepted connections not as expected: {raw['cold']}")

    print(f"\nTLS handshake (curl appconnect - connect), {CLIENT}, {connections} sequential connections per row")
    print(f"{'mode':<12} {'URL':<24} {'ok':>5} {'TCP p50':>9} {'TLS p50':>9} {'TLS p90':>9} {'vs direct':>9}")
    handshake: dict[str, HandshakeRow] = {}
    for label, mode, site, base in ROWS:
        recs = raw["handshake"][label]
        h, c = summary(recs, "handshake"), summary(recs, "connect")
        handshake[label] = {"mode": mode, "url": url(site), "tls": h, "tcp_connect": c}
        h["ratio_vs_direct"] = ratio(h["median"], median(summary(raw["handshake"][base], "handshake")["samples"]))
        print(
            f"{mode:<12} {url(site):<24} {h['ok']:>2}/{h['n']:<2} {c['median'] * 1e3:>7.2f}ms"
            f" {h['median'] * 1e3:>7.2f}ms {h['p90'] * 1e3:>7.2f}ms {h['ratio_vs_direct']:>8.2f}x"
        )
    colds = [r["handshake"] for r in raw["cold"] if r["ok"]]
    cold, warm = median(colds), handshake["intercepted"]["tls"]["median"]
    print(
        f"intercepted, cold (the first after each of {len(raw['cold'])} attaches, forging the RSA-2048 e=3 key;"
        f" not in the median): {cold * 1e3:.1f}ms median ({', '.join(f'{c * 1e3:.0f}' for c in colds)} ms)"
        f" = {ratio(cold, warm):.1f}x the warm median"
    )

    print(f"\nbulk download ({BULK_BYTES >> 20} MiB /bulk), {CLIENT}, {downloads} downloads per row; MB/s = 10^6 B/s")
    print(f"{'mode':<12} {'URL':<28} {'ok':>5} {'after TLS':>10} {'whole conn':>11} {'vs direct':>9}")
    bulk: dict[str, BulkRow] = {}
    for label, mode, site, base in ROWS:
        recs = raw["bulk"][label]
        good = [r for r in recs if r["ok"] and r["size"] == BULK_BYTES]
        after, whole = [mbps(r, False) for r in good], [mbps(r, True) for r in good]
        base_after = median([mbps(r, False) for r in raw["bulk"][base] if r["ok"] and r["size"] == BULK_BYTES])
        bulk[label] = {
            "mode": mode,
            "url": url(site, "/bulk"),
            "n": len(recs),
            "ok": len(good),
            "mbps_after_handshake": {"median": median(after), "samples": after},
            "mbps_whole_connection": {"median": median(whole), "samples": whole},
            "ratio_vs_direct": ratio(median(after), base_after),
            "downloads": [{k: r[k] for k in ("pretransfer", "total", "size", "code", "root")} for r in recs],
        }
        if len(good) < len(recs):
            problems.append(f"bulk {label}: {len(recs) - len(good)} downloads incomplete")
        print(
            f"{mode:<12} {url(site, '/bulk'):<28} {len(good):>2}/{len(recs):<2} {median(after):>10.1f}"
            f" {median(whole):>11.1f} {bulk[label]['ratio_vs_direct']:>8.2f}x"
        )

    print(f"\n{subscribers} concurrent subscribers, released together from one FIFO, one connection each")
    print(
        f"{'mode':<12} {'URL':<24} {'failed':>7} {'KZ root':>8} {'total':>7} {'p50':>7} {'p90':>7}"
        f" {'TLS p50':>8} {'start spread':>12} {'p50 vs direct':>13}"
    )
    conc = {}
    for mode, c in raw["concurrent"].items():
        c = dict(c)
        c["time_p50_ratio_vs_direct"] = ratio(c["time_p50"], raw["concurrent"]["direct"]["time_p50"])
        conc[mode] = c
        if mode != "intercepted" and c["failed"]:
            problems.append(f"concurrent {mode} (a baseline): {c['failed']} of {c['attempted']} failed")
        if c["as_expected"] < c["attempted"] - c["failed"]:
            problems.append(f"concurrent {mode}: {c['attempted'] - c['as_expected']} chains not from the expected root")
        print(
            f"{mode:<12} {c['url']:<24} {c['failed']:>3}/{c['attempted']:<3}"
            f" {c['national_root']:>4}/{c['attempted']:<3}"
            f" {c['total_time']:>6.2f}s {c['time_p50']:>6.2f}s {c['time_p90']:>6.2f}s {c['handshake_p50']:>7.2f}s"
            f" {c['start_spread'] * 1e3:>10.0f}ms {c['time_p50_ratio_vs_direct']:>12.2f}x"
        )
        if c["device_events"]:
            print(f"{'':<12} device log: {c['device_events']}")
        if c["slow_dns"]:
            print(f"{'':<12} {c['slow_dns']} lookups took over 1 s (the ISP resolver, not the device)")

    inter = conc["intercepted"]
    hs_i, hs_p = handshake["intercepted"]["tls"]["ratio_vs_direct"], handshake["passed"]["tls"]["ratio_vs_direct"]
    bu_i, bu_p = bulk["intercepted"]["ratio_vs_direct"], bulk["passed"]["ratio_vs_direct"]
    met = inter["failed"] <= GOAL_FAILED
    hs_met, bu_met = hs_i <= GOAL_HANDSHAKE_RATIO, bu_i > GOAL_THROUGHPUT_RATIO
    print()
    print(
        f"interception: handshake intercepted {hs_i:.2f}x direct ({'meets' if hs_met else 'misses'} the goal of"
        f" <= {GOAL_HANDSHAKE_RATIO}x), passed {hs_p:.2f}x direct (medians)"
    )
    print(
        f"interception: throughput intercepted {bu_i:.2f}x direct ({'meets' if bu_met else 'misses'} the goal of"
        f" > {GOAL_THROUGHPUT_RATIO}x), passed {bu_p:.2f}x direct (medians)"
    )
    print(
        f"interception: {inter['attempted']} concurrent subscribers: {inter['failed']} failed"
        f" ({'meets' if met else 'misses'} the goal of {GOAL_FAILED}); {inter['national_root']}/{inter['attempted']}"
        f" chains verified with the host's bundle ended at the national root"
    )
    for p in problems:
        print(f"interception: problem: {p}", file=sys.stderr)
    results = {
        "config": config,
        "rundir": raw["rundir"],
        "lab_ready_s": raw["lab_ready"],
        "roots_installed_s": raw["roots_installed"],
        "handshake": handshake,
        "handshake_cold": {
            "median": cold,
            "samples": colds,
            "ratio_vs_warm_median": ratio(cold, warm),
            "records": raw["cold"],
        },
        "bulk": bulk,
        "concurrent": conc,
        "goals": {
            "handshake_ratio_intercepted": hs_i,
            "handshake_goal_ratio": GOAL_HANDSHAKE_RATIO,
            "handshake_met": hs_met,
            "handshake_ratio_passed": hs_p,
            "throughput_ratio_intercepted": bu_i,
            "throughput_goal_ratio": GOAL_THROUGHPUT_RATIO,
            "throughput_met": bu_met,
            "throughput_ratio_passed": bu_p,
            "concurrent_failed": inter["failed"],
            "concurrent_goal_failed": GOAL_FAILED,
            "concurrent_met": met,
        },
        "problems": problems,
    }
    return results, met and hs_met and bu_met and not problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.interception", description="the interception device beside direct connections, one lab"
    )
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="sequential handshakes per mode")
    parser.add_argument("--downloads", type=int, default=DOWNLOADS, help="bulk downloads per mode")
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS, help="concurrent subscribers (>= 2)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="direct / device blocks, alternated")
    args = parser.parse_args(argv)
    if min(args.connections, args.downloads) < args.rounds or args.rounds < 1 or args.subscribers < 2:
        parser.error("needs 1 <= --rounds <= --connections, --downloads and --subscribers >= 2")
    t0 = time.monotonic()
    raw = measure(args.connections, args.downloads, args.subscribers, args.rounds)
    config = {"client": CLIENT, "bulk_bytes": BULK_BYTES, **vars(args)}
    results, ok = report(raw, config)
    results["elapsed_s"] = time.monotonic() - t0
    write("interception", results)
    print(f"interception: {results['elapsed_s']:.0f}s in all; results/bench/interception.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
