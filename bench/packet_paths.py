"""bench/packet_paths: the packet paths' memory over a million hostile packets, and their
decisions per second, beside plain forwarding through the same gateway in the same run.

One lab (``kz_isp``). The packets are tools/dpi/hostile.py's, every family, sent from
home2 with its CLI sender (one raw socket, bytes built before sending) toward
facebook.com's address and 8.8.8.8, naming every listed name below. The packet paths
are the interception device and the blocking censors that decide in a Python engine, all
at ``gw``, each with its own list (as tests/lab/test_hostile_packets.py attaches them).

1. Baseline: no censor at ``gw``; ``--burst`` packets as fast as the sender goes;
   packets ``gw`` forwarded per second (its IP ForwDatagrams over the sender's time).
2. Decisions per second: the device and the engines attached; the same burst; for each
   queue (``/proc/net/netfilter/nfnetlink_queue``, read every 0.2 s), the packets it took
   over the time from the first sent until it last changed (emptied, or what is left in
   it stopped moving: packets held), the packets the kernel dropped because it was full,
   and those left without a verdict once every hold is over (the device holds a
   ClientHello's first segments for as long as its flow may be idle); ratios against
   (1)'s forwarding rate, and ``gw``'s own forwarding rate with them attached against (1).
3. Memory: ``--packets`` more at ``--rate`` per second (in chunks of 100,000, each its
   own seed), each process's RSS (VmRSS, read inside ``gw``) at the start, after the
   first 100,000 and at the end. Flat: end / after 100k close to 1 (the first 100,000
   fill what a process keeps for good, caches and pools; growth after that is per packet).
   Every process must still be the one that started.

    python -m bench packet_paths [--packets 1000000] [--rate 2000] [--burst 100000] [--seed 2019]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.results import write
from tools.gateway.interceptor import Config
from tools.lab.session import LabSession
from topologies.internet import FACEBOOK, all_sites

FB = all_sites((FACEBOOK,))["facebook.com"].address  # 157.240.241.35
DNS_SERVER, SENDER = "8.8.8.8", "home2"
PACKETS, RATE, BURST, SEED, CHUNK = 1_000_000, 2000, 100_000, 2019, 100_000
DRAIN = 120.0  # seconds at most for the queues to settle after a burst
QUIET = 5.0  # seconds a queue's counters stay still once it has settled (emptied, or holds packets)
HOLD = Config.flow_ttl + 15  # seconds, then, for every held packet to get its verdict
# key -> (censor, parameters), attached at gw in this order
PATHS: dict[str, tuple[str, dict[str, Any]]] = {
    "device": ("NationalInterception", {}),
    "throttle": ("ThrottleTrafficForTLSSNI", {"domains": ["tengrinews.kz"]}),
    "mtproto": ("BlockTrafficForMTProto", {}),
    "spoof": ("SpoofDNSResponse", {"domains": ["vlast.kz"]}),
    "blockpage": ("BlockpageForHTTPHost", {"domains": ["meduza.io"]}),
    "drop": ("DropTrafficForTLSSNI", {"domains": ["whatsapp.com"]}),
    "reset": ("ResetTrafficForTLSSNI", {"domains": ["azattyq.org"]}),
}
NAMES = ("facebook.com", "azattyq.org", "whatsapp.com", "meduza.io", "vlast.kz", "tengrinews.kz")
PROCESS = re.compile(r"^(\d+) .*/censors/([^/\s]+)/(?:engine|interceptor)\.json")


def send(lab: LabSession, count: int, seed: int, rate: float | None, tick: Callable[[], None] = lambda: None) -> dict:
    """Run the sender in home2 (in the background), calling ``tick`` about every 0.2 s
    until it ends; its counts."""
    out = lab.rundir / f"hostile-{seed}.json"
    names = " ".join(f"--name {n}" for n in NAMES)
    pace = f"--rate {rate}" if rate else ""
    command = f"python -m tools.dpi.hostile --count {count} --seed {seed} --dst {FB} --dns {DNS_SERVER} {pace} {names}"
    lab.run(SENDER, f"({command} --json > {out}.tmp 2> {out}.err; mv {out}.tmp {out}) < /dev/null > /dev/null 2>&1 &")
    deadline = time.monotonic() + count / (rate or 10_000) + 600
    while not out.exists() and time.monotonic() < deadline:
        tick()
        time.sleep(0.2)
    if not out.exists() or not out.read_text().strip():
        raise RuntimeError(f"the sender failed: {(out.parent / (out.name + '.err')).read_text()[-2000:]}")
    return json.loads(out.read_text())


def forwarded(lab: LabSession) -> int:
    """gw's IP ForwDatagrams (/proc/net/snmp)."""
    ip = [line.split() for line in lab.run("gw", "cat /proc/net/snmp").out.splitlines() if line.startswith("Ip:")]
    return int(ip[1][ip[0].index("ForwDatagrams")])


def queues(lab: LabSession) -> dict[int, tuple[int, int, int]]:
    """NFQUEUE number -> (waiting for a verdict, dropped because full, packets ever queued)."""
    out = lab.run("gw", "cat /proc/net/netfilter/nfnetlink_queue").out
    return {int(f[0]): (int(f[2]), int(f[5]), int(f[7])) for f in map(str.split, out.splitlines()) if len(f) >= 8}


def processes(lab: LabSession) -> dict[str, int]:
    out = lab.run("gw", "pgrep -af 'tools[.](gateway[.]interceptor|censors[.]engine)'").out
    return {m.group(2): int(m.group(1)) for m in map(PROCESS.match, out.splitlines()) if m}


def rss(lab: LabSession, pids: dict[str, int]) -> dict[str, int]:
    """Key -> VmRSS in bytes of each process still running, read inside gw."""
    command = "; ".join(f"echo {key} $(grep VmRSS /proc/{pid}/status 2>/dev/null)" for key, pid in pids.items())
    return {f[0]: int(f[2]) * 1024 for f in map(str.split, lab.run("gw", command).out.splitlines()) if len(f) >= 3}


def owners(lab: LabSession) -> dict[int, str]:
    """Queue number -> key, from the configurations the device and the engines run."""
    found = {}
    for key in PATHS:
        workdir = lab.rundir / "censors" / key
        if (workdir / "engine.json").exists():
            found[100 + json.loads((workdir / "engine.json").read_text())["index"]] = key
        elif (workdir / "interceptor.json").exists():
            found[json.loads((workdir / "interceptor.json").read_text())["queue"]] = key
    return found


def burst(lab: LabSession, count: int, seed: int) -> dict[str, Any]:
    """``count`` packets as fast as the sender goes: gw's forwarding rate, and per queue
    the packets taken, dropped (full), left without a verdict, and its decisions per
    second: packets taken over the time from the start to its last change (the queue
    emptied, or what is left in it stopped moving)."""
    q0, f0 = queues(lab), forwarded(lab)
    start = time.monotonic()
    last: dict[int, tuple[tuple[int, int, int], float]] = {}

    def watch() -> None:
        now = time.monotonic()
        for q, v in queues(lab).items():
            if q not in last or last[q][0] != v:
                last[q] = (v, now)

    sent = send(lab, count, seed, None, watch)
    f1 = forwarded(lab)
    deadline = time.monotonic() + DRAIN
    while time.monotonic() < deadline and any(v[0] and time.monotonic() - t < QUIET for v, t in last.values()):
        watch()
        time.sleep(0.2)
    # What is still waiting is held: the device keeps a ClientHello's first segments until
    # the rest comes or its flow has been idle flow_ttl; by then every packet has its verdict.
    deadline, left = time.monotonic() + HOLD, queues(lab)
    while any(v[0] for v in left.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        left = queues(lab)
    per_queue = {}
    for q, (v, changed) in last.items():
        taken = v[2] - q0.get(q, (0, 0, 0))[2]
        per_queue[q] = {
            "taken": taken,
            "dropped_full": v[1] - q0.get(q, (0, 0, 0))[1],
            "left": left.get(q, v)[0],
            "busy_s": changed - start,
            "decisions_per_s": taken / max(changed - start, 1e-9),
        }
    return {"sender": sent, "forwarded_pps": (f1 - f0) / sent["seconds"], "queues": per_queue}


def measure(packets: int, rate: float, burst_size: int, seed: int) -> dict[str, Any]:
    with LabSession() as lab:
        baseline = burst(lab, burst_size, seed)
        print(f"packet_paths: baseline {baseline['forwarded_pps']:,.0f} packets/s forwarded", flush=True)
        for key, (censor, params) in PATHS.items():
            lab.attach(key, censor, "gw", **params)
        pids = processes(lab)
        who = owners(lab)
        loaded = burst(lab, burst_size, seed + 1)
        samples = {"start": rss(lab, pids)}
        chunks, done = [], 0
        while done < packets:
            count = min(CHUNK, packets - done)
            chunks.append(send(lab, count, seed + 2 + done // CHUNK, rate))
            done += count
            if done == CHUNK:
                samples["after_100k"] = rss(lab, pids)
            print(f"packet_paths: {done:,} packets", flush=True)
        samples["end"] = rss(lab, pids)
        alive = processes(lab) == pids
    return {"baseline": baseline, "loaded": loaded, "owners": who, "rss": samples, "chunks": chunks, "alive": alive}


def report(raw: dict[str, Any], packets: int) -> dict[str, Any]:
    """The table, printed; the figures, returned."""
    base = raw["baseline"]["forwarded_pps"]
    loaded, who, rss_ = raw["loaded"], raw["owners"], raw["rss"]
    rows = {
        who.get(q, str(q)): {"queue": q, **v, "vs_forwarding": v["decisions_per_s"] / base}
        for q, v in sorted(loaded["queues"].items())
    }
    sent = sum(c["sent"] for c in raw["chunks"])
    print(f"\npacket_paths: {sent:,} packets in the memory run ({packets:,} asked), processes alive: {raw['alive']}")
    print(
        f"baseline: gw forwards {base:,.0f} packets/s with no censor; with every path attached"
        f" {loaded['forwarded_pps']:,.0f} ({loaded['forwarded_pps'] / base:.2f}x)"
    )
    print(
        "| path | taken | decisions/s | vs forwarding | dropped (full) | left, no verdict | RSS start | after 100k"
        " | end | end / after 100k |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for key in PATHS:
        row = rows.get(key, {"taken": 0, "decisions_per_s": 0.0, "vs_forwarding": 0.0, "dropped_full": 0, "left": 0})
        start, mid, end = (rss_.get(when, {}).get(key, 0) for when in ("start", "after_100k", "end"))
        flat = end / mid if mid else float("nan")
        row.update(rss_start=start, rss_after_100k=mid, rss_end=end, flat=flat)
        rows[key] = row
        print(
            f"| {key} | {row['taken']:,} | {row['decisions_per_s']:,.0f} | {row['vs_forwarding']:.3f}x"
            f" | {row['dropped_full']:,} | {row['left']:,} |"
            f" {start / 2**20:.0f} MiB | {mid / 2**20:.0f} MiB | {end / 2**20:.0f} MiB | {flat:.2f} |"
        )
    return {
        "baseline_forwarded_pps": base,
        "loaded_forwarded_pps": loaded["forwarded_pps"],
        "paths": rows,
        "sent": sent,
        "alive": raw["alive"],
        "raw": raw,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench packet_paths", description="the packet paths' memory and decisions under hostile packets"
    )
    parser.add_argument("--packets", type=int, default=PACKETS, help="packets in the memory run")
    parser.add_argument("--rate", type=float, default=RATE, help="packets per second in the memory run")
    parser.add_argument("--burst", type=int, default=BURST, help="packets in each unpaced burst")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.packets < CHUNK or args.rate <= 0 or args.burst < 1:
        parser.error(f"needs --packets >= {CHUNK:,}, --rate > 0 and --burst >= 1")
    t0 = time.monotonic()
    results = report(measure(args.packets, args.rate, args.burst, args.seed), args.packets)
    results.update(config=vars(args), elapsed_s=time.monotonic() - t0)
    write("packet_paths", results)
    print(f"packet_paths: {results['elapsed_s']:.0f}s in all; results/bench/packet_paths.json")
    return 0 if results["alive"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
