"""bench/censor_throughput: what the blocking censors cost traffic they do not block, beside
plain forwarding and a naive every-packet-through-scapy design, measured in one lab in one run.

What. Bulk TCP with iperf3 (server in ``vk`` on 87.240.132.72:5201, client in home1, through
``gw``), traffic no censor rule matches, in these configurations:

- (a) ``plain``: plain forwarding, no censor: the baseline of every ratio;
- (b) ``censors``: every blocking censor of the registry loaded at once (ResolverBlocklist
  at ``resolver``, the rest at ``gw``), with the 37 names of targets.TARGETS_2019 plus a
  list of 1,200 entries shaped like Citizen Lab's kz.csv (url, category_code, ...;
  deterministic news-, hosting-, proxy-like names) and 1,000 prefixes for the address
  censor (none covering a lab address). The kernel hands Python only the packets a
  decision needs (first data segments of port-443/80 flows, DNS queries);
- (c) ``naive``: how Geneva's censors work: one NFQUEUE for every forwarded packet, whose
  handler parses each with scapy ``IP()`` and accepts it (written here, run in ``gw``);
- (b') ``censors_1``: (b) with the address censor given 1 prefix instead of 1,000, to
  show what the length of its list costs (its prefixes are one nftables interval set, one
  lookup per forwarded packet, so it should cost nothing); no goal.

Then the slow path's decision rate, in (a) and (b): home1 replays crafted first segments
(a whole ClientHello with its own random bytes, each its own flow, 10% with a listed SNI,
so no cache sees the same bytes twice) toward vk's port 443 with a window of flows in
flight (--window, 512 by default), and counts the RST that ends each (the server's, for a
flow passed to it; the censor's, for a listed one). In (b) gw's engine takes each first segment
once: an unlisted flow is decided in turn by every censor that selects port-443 first
segments (ResetTrafficForTLSSNI, DropTrafficForTLSSNI, ThrottleTrafficForTLSSNI and any
censor added since), a listed one by the first (ResetTrafficForTLSSNI); flows/s = answered
flows / time from the first sent to the last answered. The window decides what is
measured: with 64 flows in flight the replay and the engine wait on each other (each
wakes for a few packets, both cores about 75% busy, 13,500-13,900 flows/s on the 2-core
machine), a latency; with 256 the engine's queue rarely runs dry, so one wake-up serves
many packets (its CPU per flow fell from 52-61 to 40-43 us, both cores 80-95% busy); with
512, the default, each wake-up serves more still and the rate rose again (median 18,789
at 256, 21,019 and 22,493 at 512), the rate the engine can decide. The replay's
raw socket has a 16 MiB buffer, so the window's RSTs do not overflow it, and the replay
reports how many it dropped all the same. The machine's load average is recorded with the
results (the ratios are what compare across runs).

Baseline: (a), measured in the same lab in the same run; the configurations run in rounds
in a palindrome (a c b b' | b' b c a) so that a drift in the machine's load falls alike on
every configuration.
Goal (issue 4): (b) at least 0.8x (a), and (b) at least 20x (c), in bulk throughput.

    python -m bench censor_throughput [--seconds 4] [--rounds 3] [--flows 3000] [--window 512]
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import os
import random
import statistics
import sys
import time
from typing import Any

from bench.results import write
from tools.censors.registry import CENSORS
from tools.gateway.targets import TARGETS_2019
from tools.lab.session import LabSession, LabSessionError
from topologies import kz_isp
from topologies.internet import VK, all_sites

CLIENT, SERVER = "home1", "vk"
SERVER_ADDR = all_sites((VK,))["vk.com"].address  # 87.240.132.72
IPERF_PORT = 5201
SECONDS, ROUNDS, FLOWS = 4, 3, 3000
WINDOW = 512  # replayed flows in flight (the docstring says why)
LISTED_SHARE = 0.1
CSV_ENTRIES, PREFIXES = 1200, 1000
GOAL_VS_PLAIN, GOAL_VS_NAIVE = 0.8, 20.0
NAIVE_QUEUE = 199  # the censors use 100 + their index
SKIPPED = {
    "Dummy": "the negative control blocks nothing",
    "NationalInterception": "the interception device is measured by bench/interception",
}
KNOWN = (
    "DropTrafficForServerEndpoint",
    "ResolverBlocklist",
    "SpoofDNSResponse",
    "BlockpageForHTTPHost",
    "DropTrafficForTLSSNI",
    "ResetTrafficForTLSSNI",
)
CONFIGS = ("plain", "censors", "naive", "censors_1")
ORDER = ("plain", "naive", "censors", "censors_1")
LABELS = {
    "plain": "(a) plain forwarding",
    "censors": "(b) all blocking censors",
    "naive": "(c) naive scapy NFQUEUE",
    "censors_1": "(b') (b), 1 prefix not 1,000",
}


# -- the lists --------------------------------------------------------------------------
# fmt: off
PLACES = (
    "almaty", "astana", "nur", "qazaq", "kazakh", "dala", "erkin", "azat", "zhana", "ult", "el", "tengri", "aqiqat",
    "adyl", "bilim", "zaman", "urker", "khabar", "orda", "kokshe", "karaganda", "shymkent", "aktau", "atyrau", "taraz",
    "oral", "semey", "pavlodar", "kostanay", "turan", "saryarqa",
)
KINDS = {  # Citizen Lab category code -> words of names in it
    "NEWS": ("news", "times", "info", "press", "media", "today", "24", "online", "portal", "tribune", "vesti", "post",
             "daily", "inform"),
    "POLR": ("opposition", "democrat", "volya", "svoboda", "rights", "dch", "party", "front", "movement"),
    "HUMR": ("humanrights", "bureau", "monitor", "watch", "defenders"),
    "ANON": ("vpn", "proxy", "unblock", "hide", "anon", "tunnel", "mask"),
    "HOST": ("host", "cloud", "cdn", "files", "share", "drive", "server"),
    "COMT": ("chat", "forum", "messenger", "talk"),
    "MMED": ("tube", "stream", "video", "live", "tv"),
    "GMB": ("bet", "casino", "poker", "slots"),
    "REL": ("dawah", "islam", "salafi", "jamaat"),
}
# fmt: on
DESCRIPTIONS = {
    "NEWS": "News Media",
    "POLR": "Political Criticism",
    "HUMR": "Human Rights Issues",
    "ANON": "Anonymization and circumvention tools",
    "HOST": "Hosting and Blogging Platforms",
    "COMT": "Communication Tools",
    "MMED": "Media sharing",
    "GMB": "Gambling",
    "REL": "Religion",
}
TLDS = (".kz", ".com", ".org", ".net", ".info", ".ru", ".io", ".me", ".tv", ".su")


def kz_csv(count: int, seed: int = 2019) -> list[dict[str, str]]:
    """``count`` rows shaped like Citizen Lab's test-lists kz.csv, deterministic."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(rows) < count:
        code = rng.choice(list(KINDS))
        sep = rng.choice(("", "", "-"))
        name = f"{rng.choice(PLACES)}{sep}{rng.choice(KINDS[code])}{rng.choice(TLDS)}"
        if rng.random() < 0.2:
            name = f"{rng.choice(('www', 'm', 'rus', 'kaz', 'en'))}.{name}"
        if name in seen:
            continue
        seen.add(name)
        rows.append(
            {
                "url": f"{rng.choice(('http', 'https'))}://{name}/",
                "category_code": code,
                "category_description": DESCRIPTIONS[code],
                "date_added": f"20{rng.randint(14, 23)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "source": rng.choice(("citizenlab", "ooni", "rsf", "")),
                "notes": "",
            }
        )
    return rows


def domains_of(rows: list[dict[str, str]]) -> list[str]:
    return [r["url"].split("://", 1)[1].rstrip("/") for r in rows]


FIRST_OCTETS = (
    *(5, 31, 37, 45, 46, 62, 77, 78, 79, 81, 82, 83, 84, 85, 88, 89, 94, 109, 141, 146, 151, 159, 162),
    *(164, 167, 176, 178, 185, 188, 193, 194, 195, 212, 213, 217),
)


def prefixes(count: int, seed: int = 2019) -> list[str]:
    """``count`` hosting-like prefixes (mostly /24, some /22 and /32), none overlapping any
    address block of the lab, so that no lab traffic matches them."""
    lab_blocks = [net for net, _ in kz_isp.build().destinations()]
    rng = random.Random(seed)
    out: set[ipaddress.IPv4Network] = set()
    while len(out) < count:
        length = rng.choice((24, 24, 24, 22, 32))
        address = ipaddress.IPv4Address((rng.choice(FIRST_OCTETS) << 24) | rng.getrandbits(24))
        net = ipaddress.IPv4Network(f"{address}/{length}", strict=False)
        if not any(net.overlaps(b) for b in lab_blocks):
            out.add(net)
    return sorted(str(n) for n in out)


# -- (b): every blocking censor -----------------------------------------------------------
def censor_plan(names: list[str], nets: list[str]) -> tuple[list[tuple[str, str, str, dict[str, Any]]], list[str]]:
    """(key, censor, node, params) for every censor in the registry but SKIPPED, in attach
    order, and notes on those left out. Each attachment puts its chain first in FORWARD:
    censors added later come first (so their chains are the last), ResetTrafficForTLSSNI
    last (a listed ClientHello is reset before another censor holds or drops it). A
    censor added later is attached at gw with the parameters below it accepts and its
    own defaults for the rest (Configs leaves it out if that fails)."""
    known: dict[str, tuple[str, dict[str, Any]]] = {
        "DropTrafficForServerEndpoint": ("gw", {"prefixes": nets}),
        "ResolverBlocklist": ("resolver", {"domains": names}),
        "SpoofDNSResponse": ("gw", {"domains": names}),
        "BlockpageForHTTPHost": ("gw", {"domains": names}),
        "DropTrafficForTLSSNI": ("gw", {"domains": names}),
        "ResetTrafficForTLSSNI": ("gw", {"domains": names}),
    }
    generic = {"domains": names, "subdomains": True, "prefixes": nets, "fail_closed": False}
    plan, notes = [], []
    for name in [n for n in CENSORS if n not in known] + [n for n in known if n in CENSORS]:
        if name in SKIPPED:
            notes.append(f"{name}: left out ({SKIPPED[name]})")
            continue
        if name in known:
            node, params = known[name]
        else:
            node, params = "gw", {k: generic[k] for k in CENSORS[name].fields if k in generic}
        plan.append((f"bench-{name}", name, node, params))
    return plan, notes


# -- (c): the naive design ----------------------------------------------------------------
NAIVE = f"""
from netfilterqueue import NetfilterQueue
from scapy.layers.inet import IP


def on_packet(pkt):
    IP(pkt.get_payload())  # every packet parsed by scapy, as Geneva's censors do
    pkt.accept()


queue = NetfilterQueue()
queue.bind({NAIVE_QUEUE}, on_packet, max_len=4096)
print("ready", flush=True)
queue.run()
"""
NAIVE_RULE = f"FORWARD -j NFQUEUE --queue-num {NAIVE_QUEUE} --queue-bypass"


class Configs:
    """Switches the lab between the configurations, attaching and detaching only what
    differs (the address censor is swapped between (b) and (b'))."""

    def __init__(self, lab: LabSession, plan: list[tuple[str, str, str, dict[str, Any]]], one_prefix: str) -> None:
        self.lab, self.plan = lab, plan
        # (b'): the same censors, the address censor with one prefix instead of all of them
        self.plan_one = [
            (f"{key}-1", censor, node, {**params, "prefixes": [one_prefix]})
            if censor == "DropTrafficForServerEndpoint"
            else (key, censor, node, params)
            for key, censor, node, params in plan
        ]
        self.attached: list[tuple[str, str, str, dict[str, Any]]] = []
        self.notes: list[str] = []  # censors left out
        self.errors: list[str] = []  # censors that failed to detach
        self.current = "plain"
        self.naive_pid: int | None = None
        self.attach_s: list[float] = []
        self.script = lab.rundir / "bench_naive_censor.py"
        self.script.write_text(NAIVE)

    def _want(self, config: str) -> list[tuple[str, str, str, dict[str, Any]]]:
        return {"censors": self.plan, "censors_1": self.plan_one}.get(config, [])

    def set(self, config: str) -> None:
        if config == self.current:
            return
        want = self._want(config)
        wanted = {key for key, *_ in want}
        for entry in reversed(list(self.attached)):
            if entry[0] not in wanted:
                self._detach(entry)
        if self.current == "naive":
            self.lab.run("gw", f"iptables -w -D {NAIVE_RULE}")
            self.lab.run("gw", f"kill -TERM {self.naive_pid}; sleep 0.2; kill -KILL {self.naive_pid} 2>/dev/null")
            self.naive_pid = None
        t = time.monotonic()
        have = {key for key, *_ in self.attached}
        for entry in want:
            if entry[0] not in have:
                self._attach(entry)
        if config == "censors" and not have:  # the whole of (b) loaded, not a swap from (b')
            self.attach_s.append(time.monotonic() - t)
        if config == "naive":
            log = self.lab.rundir / "bench_naive_censor.log"
            r = self.lab.run("gw", f"python -u {self.script} > {log} 2>&1 < /dev/null & echo $!")
            self.naive_pid = int(r.out.strip())
            deadline = time.monotonic() + 20
            while "ready" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
                time.sleep(0.05)
            if "ready" not in log.read_text():
                raise RuntimeError(f"the naive censor did not start: {log.read_text()[-2000:]}")
            self.lab.run("gw", f"iptables -w -I {NAIVE_RULE}")
        self.current = config

    def _attach(self, entry: tuple[str, str, str, dict[str, Any]]) -> None:
        key, censor, node, params = entry
        try:
            self.lab.attach(key, censor, node, **params)
        except LabSessionError as exc:
            if censor in KNOWN:
                raise
            for plan in (self.plan, self.plan_one):  # a censor added later that needs other parameters
                plan[:] = [e for e in plan if e[1] != censor]
            self.notes.append(f"{censor}: left out (needs parameters this bench cannot guess: {exc})")
            return
        self.attached.append(entry)

    def _detach(self, entry: tuple[str, str, str, dict[str, Any]]) -> None:
        try:
            self.lab.detach(entry[0])
        except LabSessionError as exc:  # a censor's bug: reported, the measurement goes on
            self.errors.append(f"{entry[1]}: detach failed: {exc}")
        self.attached.remove(entry)


# -- measurements -------------------------------------------------------------------------
def iperf(lab: LabSession, seconds: int) -> dict[str, Any]:
    r = lab.run(
        CLIENT,
        f"iperf3 -c {SERVER_ADDR} -p {IPERF_PORT} -t {seconds} -O 1 -J --connect-timeout 5000",
        timeout=seconds + 30,
    )
    try:
        end = json.loads(r.out)["end"]
        return {
            "ok": True,
            "gbps": end["sum_received"]["bits_per_second"] / 1e9,
            "retransmits": end["sum_sent"].get("retransmits"),
        }
    except (ValueError, KeyError):
        return {"ok": False, "gbps": float("nan"), "error": (r.out + r.err)[-500:]}


# Run in CLIENT as `python FILE CONFIG_JSON`: crafted first segments, each its own flow
# (its own source port), with a window of flows in flight; a flow is answered when an RST
# comes back for it. Prints one JSON line.
REPLAY = r"""
import json, os, random, select, socket, sys, time
from scapy.all import IP, TCP, Raw
from tools.dpi.tls import client_hello as hello

cfg = json.loads(sys.argv[1])
rng = random.Random(cfg["seed"])



unlisted = [hello(f"site{i}.bench-unlisted.example") for i in range(32)]
listed_names = rng.sample(cfg["listed"], 32)
listed = [hello(n) for n in listed_names]
packets, is_listed = [], {}
for i in range(cfg["flows"]):
    port = cfg["base_port"] + i
    on_list = rng.random() < cfg["listed_share"]
    payload = rng.choice(listed if on_list else unlisted)
    payload = payload[:11] + rng.randbytes(32) + payload[43:]  # its own random, as every real ClientHello
    is_listed[port] = on_list
    packets.append((port, bytes(IP(dst=cfg["dst"]) / TCP(sport=port, dport=443, flags="PA",
                    seq=rng.getrandbits(32), ack=rng.getrandbits(32)) / Raw(payload))))
send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
recv = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
recv.setsockopt(socket.SOL_SOCKET, 33, 1 << 24)  # SO_RCVBUFFORCE (no name in Python): room for every RST
recv.setblocking(False)
inflight, answered, lost = {}, {True: 0, False: 0}, 0
sent, last = 0, None
t0 = time.monotonic()
while (sent < len(packets) or inflight) and time.monotonic() - t0 < cfg["max_seconds"]:
    while sent < len(packets) and len(inflight) < cfg["window"]:
        port, data = packets[sent]
        send.sendto(data, (cfg["dst"], 0))
        inflight[port] = time.monotonic()
        sent += 1
    select.select([recv], [], [], 0.05)
    while True:
        try:
            data = recv.recv(65535)
        except BlockingIOError:
            break
        ihl = (data[0] & 15) * 4
        sport, dport = int.from_bytes(data[ihl:ihl + 2], "big"), int.from_bytes(data[ihl + 2:ihl + 4], "big")
        if sport == 443 and data[ihl + 13] & 4 and inflight.pop(dport, None) is not None:
            answered[is_listed[dport]] += 1
            last = time.monotonic()
    now = time.monotonic()
    for port, at in list(inflight.items()):
        if now - at > 1.0:
            del inflight[port]
            lost += 1
elapsed = (last or time.monotonic()) - t0
total = answered[True] + answered[False]
inode = str(os.fstat(recv.fileno()).st_ino)
with open("/proc/net/raw") as table:  # packets the kernel could not queue to this socket
    dropped = next(int(row.split()[-1]) for row in table if row.split()[9:10] == [inode])
print(json.dumps({"flows": len(packets), "sent": sent, "answered": total, "answered_listed": answered[True],
                  "lost": lost + len(inflight), "socket_drops": dropped, "elapsed_s": elapsed,
                  "flows_per_s": total / elapsed}))
"""


def engines_rss(lab: LabSession) -> dict[str, int]:
    """pid -> resident KiB of this lab's censor engines (pgrep sees other labs' too)."""
    pattern = f"tools[.]censors[.]engine .*{lab.rundir}/"
    out = lab.run("gw", f"for p in $(pgrep -f '{pattern}'); do echo $p $(ps -o rss= -p $p); done").out
    return {p: int(k) for p, k in (line.split() for line in out.splitlines() if len(line.split()) == 2)}


def replay(lab: LabSession, flows: int, listed: list[str], base_port: int, seed: int, window: int) -> dict[str, Any]:
    script = lab.rundir / "bench_replay.py"
    script.write_text(REPLAY)
    config = {
        "dst": SERVER_ADDR,
        "flows": flows,
        "window": window,
        "listed": listed,
        "listed_share": LISTED_SHARE,
        "base_port": base_port,
        "seed": seed,
        "max_seconds": 60,
    }
    r = lab.run(CLIENT, f"python {script} '{json.dumps(config)}'", timeout=120)
    try:
        return json.loads(r.out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"flows": flows, "answered": 0, "flows_per_s": float("nan"), "error": (r.out + r.err)[-1000:]}


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def measure(seconds: int, rounds: int, flows: int, window: int) -> dict[str, Any]:
    rows = kz_csv(CSV_ENTRIES)
    listed = sorted(set(TARGETS_2019) | set(domains_of(rows)))
    nets = prefixes(PREFIXES)
    plan, notes = censor_plan(listed, nets)
    # a palindrome (a c b b' | b' b c a): drift falls alike on every configuration, and (b) is attached once
    order = [c for i in range(rounds) for c in (ORDER if i % 2 == 0 else tuple(reversed(ORDER)))]
    raw: dict[str, Any] = {
        "iperf": {c: [] for c in CONFIGS},
        "replay": {"plain": [], "censors": []},
        "rss_kib": [],
        "order": order,
        "censors": [(key, censor, node) for key, censor, node, _ in plan],
        "left_out": notes,
        "lists": {"domains": len(listed), "kz_csv_rows": len(rows), "prefixes": len(nets)},
    }
    t0 = time.monotonic()
    with LabSession() as lab:
        raw["lab_ready_s"] = time.monotonic() - t0
        raw["rundir"] = str(lab.rundir)
        with open(lab.rundir / "kz.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        r = lab.run(SERVER, f"iperf3 -s -B {SERVER_ADDR} -p {IPERF_PORT} -D -I {lab.rundir}/iperf3.pid")
        if r.rc != 0:
            raise RuntimeError(f"iperf3 server did not start in {SERVER}: {r.err}")
        time.sleep(0.3)
        configs = Configs(lab, plan, nets[0])
        try:
            for i, config in enumerate(order):
                configs.set(config)
                result = iperf(lab, seconds)
                raw["iperf"][config].append(result)
                line = f"censor_throughput: {LABELS[config]:<30} {result['gbps']:7.3f} Gbit/s"
                if config in raw["replay"]:
                    before = engines_rss(lab)
                    rep = replay(
                        lab, flows, listed, base_port=10000 + (i * flows) % (50000 - flows), seed=i, window=window
                    )
                    rep["rss_kib_before"], rep["rss_kib_after"] = before, engines_rss(lab)
                    rep["load_average"] = os.getloadavg()[0]  # the machine's, over the last minute
                    raw["replay"][config].append(rep)
                    line += f"; replay {rep['answered']}/{rep['flows']} flows at {rep['flows_per_s']:.0f} flows/s"
                    line += f" ({rep.get('socket_drops', '?')} RSTs dropped at the replay's socket)"
                print(line, flush=True)
            configs.set("plain")
        finally:
            pid = (lab.rundir / "iperf3.pid").read_text().strip() if (lab.rundir / "iperf3.pid").exists() else ""
            if pid:
                lab.run(SERVER, f"kill {pid}")
        raw["attach_s"] = configs.attach_s
        raw["left_out"] += configs.notes
        raw["censor_errors"] = configs.errors
        raw["censors"] = [(key, censor, node) for key, censor, node, _ in configs.plan]
    raw["elapsed_s"] = time.monotonic() - t0
    return raw


def report(raw: dict[str, Any], config: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    problems = []
    gbps = {c: median([r["gbps"] for r in raw["iperf"][c]]) for c in CONFIGS}
    for c in CONFIGS:
        bad = [r for r in raw["iperf"][c] if not r["ok"]]
        if bad:
            problems.append(f"iperf3 {c}: {len(bad)} runs failed: {bad[0].get('error', '')}")
    print(
        f"\nbulk TCP, iperf3 {CLIENT} -> {SERVER} {SERVER_ADDR}:{IPERF_PORT} through gw, {config['seconds']} s"
        f" per run (after 1 s omitted), {config['rounds']} rounds in the order {' '.join(raw['order'])}"
    )
    print(f"{'configuration':<30} {'runs':>4} {'Gbit/s (median)':>16} {'samples':>22} {'vs (a)':>8}")
    for c in CONFIGS:
        samples = " ".join(f"{r['gbps']:.3f}" for r in raw["iperf"][c])
        vs = ratio(gbps[c], gbps["plain"])
        print(f"{LABELS[c]:<30} {len(raw['iperf'][c]):>4} {gbps[c]:>16.3f} {samples:>22} {vs:>7.3f}x")
    vs_plain, vs_naive = ratio(gbps["censors"], gbps["plain"]), ratio(gbps["censors"], gbps["naive"])

    rate = {c: median([r["flows_per_s"] for r in raw["replay"][c]]) for c in raw["replay"]}
    print(
        f"\nslow path: {config['flows']} replayed first segments (ClientHello, {LISTED_SHARE:.0%} listed SNI) per run,"
        f" {config['window']} flows in flight, each answered by an RST"
    )
    print(f"{'configuration':<30} {'answered':>12} {'listed':>9} {'lost':>5} {'flows/s (median)':>17} {'vs (a)':>8}")
    for c, reps in raw["replay"].items():
        answered = "+".join(str(r.get("answered", 0)) for r in reps)
        listed = "+".join(str(r.get("answered_listed", 0)) for r in reps)
        lost = sum(r.get("lost", 0) for r in reps)
        vs = ratio(rate[c], rate["plain"])
        print(f"{LABELS[c]:<30} {answered:>12} {listed:>9} {lost:>5} {rate[c]:>17.0f} {vs:>7.3f}x")
        for r in reps:
            if "error" in r:
                problems.append(f"replay {c}: {r['error']}")
    growth = [
        (sum(r["rss_kib_after"].get(p, 0) - k for p, k in r["rss_kib_before"].items()), r["answered"])
        for r in raw["replay"]["censors"]
        if r.get("rss_kib_before")
    ]
    attach = median(raw["attach_s"])
    print(
        f"(b) loaded in {attach:.1f} s (median of {len(raw['attach_s'])}): {len(raw['censors'])} censors,"
        f" {raw['lists']['domains']} names ({raw['lists']['kz_csv_rows']} kz.csv-like rows + TARGETS_2019),"
        f" {raw['lists']['prefixes']} prefixes"
    )
    for note in raw["left_out"]:
        print(f"  {note}")
    for error in raw["censor_errors"]:
        print(f"  censor error (not the bench's): {error}")
    if growth:
        print(
            "engines' resident memory after each replay: "
            + ", ".join(f"+{kib} KiB for {n} flows" for kib, n in growth)
            + " (sum over the engines)"
        )

    met_plain, met_naive = vs_plain >= GOAL_VS_PLAIN, vs_naive >= GOAL_VS_NAIVE
    print()
    print(
        f"censor_throughput: (b) {vs_plain:.2f}x (a) in bulk throughput"
        f" ({'meets' if met_plain else 'misses'} the goal of at least {GOAL_VS_PLAIN}x)"
    )
    print(
        f"censor_throughput: (b) {vs_naive:.1f}x (c) in bulk throughput"
        f" ({'meets' if met_naive else 'misses'} the goal of at least {GOAL_VS_NAIVE:.0f}x)"
    )
    print(
        f"censor_throughput: (b') {ratio(gbps['censors_1'], gbps['plain']):.2f}x (a): the same censors, the address"
        f" censor on 1 prefix instead of {raw['lists']['prefixes']} (no goal)"
    )
    loads = " ".join(f"{r['load_average']:.1f}" for c in raw["replay"] for r in raw["replay"][c] if "load_average" in r)
    print(
        f"censor_throughput: the DPI censors decide {rate['censors']:.0f} new flows/s"
        f" ({ratio(rate['censors'], rate['plain']):.2f}x the {rate['plain']:.0f} flows/s of the same replay"
        f" without censors; issue 10: at least 20,000 on a quiet machine); load average at the replays: {loads}"
    )
    for p in problems:
        print(f"censor_throughput: problem: {p}", file=sys.stderr)
    results = {
        "config": config,
        "rundir": raw["rundir"],
        "lab_ready_s": raw["lab_ready_s"],
        "order": raw["order"],
        "censors": raw["censors"],
        "left_out": raw["left_out"],
        "censor_errors": raw["censor_errors"],
        "lists": raw["lists"],
        "attach_s": raw["attach_s"],
        "bulk": {
            c: {
                "label": LABELS[c],
                "gbps_median": gbps[c],
                "ratio_vs_plain": ratio(gbps[c], gbps["plain"]),
                "runs": raw["iperf"][c],
            }
            for c in CONFIGS
        },
        "decision_rate": {
            c: {
                "label": LABELS[c],
                "flows_per_s_median": rate[c],
                "ratio_vs_plain": ratio(rate[c], rate["plain"]),
                "runs": raw["replay"][c],
            }
            for c in raw["replay"]
        },
        "goals": {
            "censors_vs_plain": vs_plain,
            "goal_censors_vs_plain": GOAL_VS_PLAIN,
            "censors_vs_plain_met": met_plain,
            "censors_vs_naive": vs_naive,
            "goal_censors_vs_naive": GOAL_VS_NAIVE,
            "censors_vs_naive_met": met_naive,
        },
        "problems": problems,
    }
    return results, met_plain and met_naive and not problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench censor_throughput",
        description="bulk throughput through every blocking censor, beside plain forwarding and a naive design",
    )
    parser.add_argument("--seconds", type=int, default=SECONDS, help="iperf3 seconds per run (after 1 s omitted)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds of (a) (b) (c), alternated")
    parser.add_argument("--flows", type=int, default=FLOWS, help="replayed first segments per decision-rate run")
    parser.add_argument("--window", type=int, default=WINDOW, help="replayed flows in flight at once")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.rounds < 1 or not 100 <= args.flows <= 20000 or not 1 <= args.window <= 1024:
        parser.error("needs --seconds >= 1, --rounds >= 1, 100 <= --flows <= 20000 and 1 <= --window <= 1024")
    t0 = time.monotonic()
    raw = measure(args.seconds, args.rounds, args.flows, args.window)
    results, ok = report(raw, vars(args))
    results["elapsed_s"] = time.monotonic() - t0
    write("censor_throughput", results)
    print(f"censor_throughput: {results['elapsed_s']:.0f}s in all; results/bench/censor_throughput.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
