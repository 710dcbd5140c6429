"""24,000 hostile packets through the live interception device and every blocking censor
that decides in Python at once, on one lab (DESIGN principle 8; issue 9).

At ``gw``: the interception device (2019 list) and the censors that decide in gw's Python
engine (one process serves them all), each with a list of its own (no name on the
device's list, none on another censor's), so that each one's decisions can be told apart. home1 installed the national
root; home2 sends, with the CLI sender (tools/dpi/hostile.py: one process, one raw
socket, bytes built before the first is sent) at RATE packets per second, every family
of the generator, toward facebook.com's address (TCP, raw) and 8.8.8.8 (DNS), with the
names of every list in its ClientHellos and queries. While it runs, each process's RSS
is read from /proc inside ``gw`` about once a second.

Afterwards: the device and the engine are the processes they were before; the device
still intercepts facebook.com (the chain ends at the national root); each censor blocks
its listed name as configured and passes an unlisted one, as it did before the flood;
no process grew by more than RSS_GROWTH; every packet a queue took got its verdict.
What the sender and the queues counted is printed (``pytest -s``). Lab addresses only
(topologies/internet.py).

What does not get through: the sender's kernel rewrites lying IP lengths and checksums and
the first router drops bad IP headers (see tools/dpi/hostile.py), so ``gw`` sees hostility
above the IP header. BlockTrafficForMTProto's kernel selection (the third client packet of
a connection conntrack tracks) takes no raw packet: a raw sender's ACK and data after its
SYN are invalid to conntrack until the server's SYN-ACK, which the sender's kernel answers
with a reset; its engine is fed every hostile opening offline (tests/unit/test_hostile.py)
and here it must still block a real client's MTProto.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.lab.support import neighbour_table_fulls
from tools.gateway.interceptor import Config
from tools.lab.session import LabSession
from topologies.internet import FACEBOOK, KASPI, TELEGRAM_DCS, all_sites

FB = all_sites((FACEBOOK,))["facebook.com"].address  # 157.240.241.35
KASPI_ADDR = all_sites((KASPI,))["kaspi.kz"].address
DNS_SERVER = "8.8.8.8"
SENDER, CLIENT = "home2", "home1"
COUNT, RATE, SEED = 24_000, 2000, 2019  # every family 2,000 times; bench/packet_paths sends a million at this rate
RSS_GROWTH = 64 << 20  # bytes: the most any process may grow over its RSS before the flood
SAMPLE_EVERY = 1.0  # seconds between RSS samples
# Seconds for the queues to hand back every packet once the sender is done: the device holds
# a ClientHello's first segments until the rest comes or its flow has been idle flow_ttl.
DRAIN = Config.flow_ttl + 15
BOGUS = "104.244.46.244"  # SpoofDNSResponse's default answer
QAZNET = "CN=Qaznet Trust Network,C=KZ"
SECURITY_CERTIFICATE = "CN=Security Certificate,C=KZ"
UNLISTED = "meduza.io"  # on no SNI list: every SNI censor and the device pass it over HTTPS


def curl(lab: LabSession, url: str, max_time: float = 10) -> tuple[int, str]:
    """curl's exit status and its ``%{http_code} %{time_appconnect}``, from the client."""
    r = lab.run(
        CLIENT,
        f"curl -s -o /dev/null --max-time {max_time} -w '%{{http_code}} %{{time_appconnect}}' {url}",
        timeout=max_time + 10,
    )
    return r.rc, r.out.strip()


def problems(*found: tuple[bool, str]) -> str | None:
    """The descriptions of the checks that failed, or None."""
    failed = [what for ok, what in found if not ok]
    return "; ".join(failed) or None


# -- what each censor must still do: None, or what it did instead ------------------------
def device(lab: LabSession) -> str | None:
    r = lab.run(CLIENT, "python -m tools.probes.cert_inspect facebook.com --json")
    seen = json.loads(r.out) if r.out else {}
    chain = seen.get("presented_chain") or [{}]
    trusted = (seen.get("verification") or {}).get("trusted_root")
    return problems(
        (
            chain[0].get("issuer") == SECURITY_CERTIFICATE and trusted == QAZNET,
            f"facebook.com not intercepted: issuer {chain[0].get('issuer')}, root {trusted}",
        )
    )


def reset(lab: LabSession) -> str | None:
    listed, unlisted = curl(lab, "https://azattyq.org/"), curl(lab, f"https://{UNLISTED}/")
    return problems(
        (listed[0] in (35, 56), f"azattyq.org not reset: curl {listed}"),
        (unlisted[0] == 0, f"{UNLISTED} did not load: curl {unlisted}"),
    )


def drop(lab: LabSession) -> str | None:
    listed, unlisted = curl(lab, "https://whatsapp.com/", max_time=4), curl(lab, f"https://{UNLISTED}/")
    return problems(
        (listed[0] == 28, f"whatsapp.com not dropped (timeout expected): curl {listed}"),
        (unlisted[0] == 0, f"{UNLISTED} did not load: curl {unlisted}"),
    )


def blockpage(lab: LabSession) -> str | None:
    listed = lab.run(CLIENT, "curl -s --max-time 10 http://meduza.io/").out
    unlisted = lab.run(CLIENT, "curl -s --max-time 10 http://vk.com/").out
    return problems(
        ("Access restricted" in listed, f"no block page for http://meduza.io: {listed[:80]!r}"),
        (bool(unlisted) and "Access restricted" not in unlisted, f"http://vk.com: {unlisted[:80]!r}"),
    )


def spoof(lab: LabSession) -> str | None:
    listed = lab.run(CLIENT, f"dig +short +time=3 +tries=1 @{DNS_SERVER} vlast.kz A").out.split()
    unlisted = lab.run(CLIENT, f"dig +short +time=3 +tries=1 @{DNS_SERVER} kaspi.kz A").out.split()
    return problems(
        (listed[:1] == [BOGUS], f"vlast.kz not spoofed: {listed}"), (unlisted == [KASPI_ADDR], f"kaspi.kz: {unlisted}")
    )


def mtproto(lab: LabSession) -> str | None:
    probe = f"from tools.probes.mtproto import handshake; print(handshake('{TELEGRAM_DCS[2]}', 443, timeout=3)['ok'])"
    listed = lab.run(CLIENT, f'python -c "{probe}"', timeout=30).out.strip()
    unlisted = curl(lab, "https://telegram.org/")
    return problems(
        (listed == "False", f"the MTProto handshake to DC2 was not blocked: ok={listed!r}"),
        (unlisted[0] == 0, f"https://telegram.org did not load: curl {unlisted}"),
    )


def throttle(lab: LabSession) -> str | None:
    listed, unlisted = curl(lab, "https://tengrinews.kz/"), curl(lab, f"https://{UNLISTED}/")
    slow = float(listed[1].split()[-1]) if listed[0] == 0 else 0.0
    fast = float(unlisted[1].split()[-1]) if unlisted[0] == 0 else 99.0
    return problems(
        (slow > 3.0, f"tengrinews.kz not throttled (handshake over 3 s expected): curl {listed}"),
        (fast < 1.0, f"{UNLISTED} slow or failed: curl {unlisted}"),
    )


Check = Callable[[LabSession], str | None]
# key -> (censor, parameters, the check of its decisions); attached at gw in this order
ATTACHED: dict[str, tuple[str, dict, Check]] = {
    "device": ("NationalInterception", {}, device),
    "throttle": ("ThrottleTrafficForTLSSNI", {"domains": ["tengrinews.kz"]}, throttle),
    "mtproto": ("BlockTrafficForMTProto", {}, mtproto),
    "spoof": ("SpoofDNSResponse", {"domains": ["vlast.kz"]}, spoof),
    "blockpage": ("BlockpageForHTTPHost", {"domains": ["meduza.io"]}, blockpage),
    "drop": ("DropTrafficForTLSSNI", {"domains": ["whatsapp.com"]}, drop),
    "reset": ("ResetTrafficForTLSSNI", {"domains": ["azattyq.org"]}, reset),
}
NAMES = ("facebook.com", "azattyq.org", "whatsapp.com", "meduza.io", "vlast.kz", "tengrinews.kz")
PROCESS = r"^(\d+) .*{rundir}/censors/([^/\s]+)/(?:engine|interceptor)\.json"  # pgrep sees other labs' too
# the processes in gw, by their directory: the device's, and the one engine of every censor above
PROCESSES = ("device", "engine-gw")


@dataclass
class Flood:
    """What the fixture saw: processes, checks and queues before and after, the RSS
    samples taken while the sender ran, and the sender's own counts."""

    pids_before: dict[str, int]
    checks_before: dict[str, str | None]
    queues_before: dict[int, tuple[int, ...]]
    rss: dict[str, list[int]] = field(default_factory=dict)  # bytes, in sampling order
    sender: dict = field(default_factory=dict)
    seconds: float = 0.0
    pids_after: dict[str, int] = field(default_factory=dict)
    queues_after: dict[int, tuple[int, ...]] = field(default_factory=dict)
    waiting: dict[int, int] = field(default_factory=dict)  # queue -> packets still without a verdict
    checks_after: dict[str, str | None] = field(default_factory=dict)
    owners: dict[int, str] = field(default_factory=dict)  # queue -> key
    neighbour_overflows: int = 0  # times the machine's ARP table was full meanwhile


def processes(lab: LabSession) -> dict[str, int]:
    """Directory -> pid of the device and the censors' engine in gw (by the config they run)."""
    out = lab.run("gw", "pgrep -af 'tools[.](gateway[.]interceptor|censors[.]engine)'").out
    pattern = re.compile(PROCESS.format(rundir=re.escape(str(lab.rundir))))
    return {m.group(2): int(m.group(1)) for m in map(pattern.match, out.splitlines()) if m}


def rss(lab: LabSession, pids: dict[str, int]) -> dict[str, int]:
    """Key -> VmRSS in bytes, read inside gw, of every process still running."""
    command = "; ".join(f"echo {key} $(grep VmRSS /proc/{pid}/status 2>/dev/null)" for key, pid in pids.items())
    found = {}
    for line in lab.run("gw", command).out.splitlines():
        key, *rest = line.split()
        if rest:  # "VmRSS: 12345 kB"
            found[key] = int(rest[1]) * 1024
    return found


def queues(lab: LabSession) -> dict[int, tuple[int, ...]]:
    """NFQUEUE number -> (waiting for a verdict, dropped: queue full, dropped: no reader,
    packets ever queued), in gw."""
    out = lab.run("gw", "cat /proc/net/netfilter/nfnetlink_queue").out
    return {
        int(f[0]): (int(f[2]), int(f[5]), int(f[6]), int(f[7]))
        for f in (line.split() for line in out.splitlines())
        if len(f) >= 8
    }


def queue_owners(lab: LabSession) -> dict[int, str]:
    """NFQUEUE number -> key, from the configurations the device and the engines run."""
    owners = {}
    for key in ATTACHED:
        workdir = lab.rundir / "censors" / key
        if (workdir / "engine.json").exists():
            owners[100 + json.loads((workdir / "engine.json").read_text())["index"]] = key
        elif (workdir / "interceptor.json").exists():
            owners[json.loads((workdir / "interceptor.json").read_text())["queue"]] = key
    return owners


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession() as session:
        yield session


@pytest.fixture(scope="module")
def flood(lab: LabSession) -> Flood:
    for key, (censor, params, _) in ATTACHED.items():
        lab.attach(key, censor, "gw", **params)
    lab.install_root(CLIENT)
    seen = Flood(processes(lab), {k: check(lab) for k, (_, _, check) in ATTACHED.items()}, queues(lab))
    assert set(seen.pids_before) == set(PROCESSES), seen.pids_before

    fulls_before = neighbour_table_fulls()
    out = lab.rundir / "hostile.json"
    names = " ".join(f"--name {n}" for n in NAMES)
    send = (
        f"python -m tools.dpi.hostile --count {COUNT} --seed {SEED} --dst {FB} --dns {DNS_SERVER}"
        f" --rate {RATE} {names} --json"
    )
    assert (
        lab.run(SENDER, f"({send} > {out}.tmp 2> {out}.err; mv {out}.tmp {out}) < /dev/null > /dev/null 2>&1 &").rc == 0
    )
    start = time.monotonic()
    deadline = start + COUNT / RATE + 180  # building the packets, sending them, and slack
    while not out.exists() and time.monotonic() < deadline:
        for key, value in rss(lab, seen.pids_before).items():
            seen.rss.setdefault(key, []).append(value)
        time.sleep(SAMPLE_EVERY)
    seen.seconds = time.monotonic() - start
    assert out.exists(), (
        f"the sender did not finish in {seen.seconds:.0f} s: {(out.parent / (out.name + '.err')).read_text()[-2000:]}"
    )
    seen.sender = json.loads(out.read_text())
    for key, value in rss(lab, seen.pids_before).items():
        seen.rss.setdefault(key, []).append(value)

    drained = time.monotonic() + DRAIN
    while (waiting := {q: v[0] for q, v in queues(lab).items() if v[0]}) and time.monotonic() < drained:
        time.sleep(0.5)
    seen.waiting, seen.queues_after, seen.pids_after = waiting, queues(lab), processes(lab)
    seen.owners = queue_owners(lab)
    seen.neighbour_overflows = neighbour_table_fulls() - fulls_before
    seen.checks_after = {k: check(lab) for k, (_, _, check) in ATTACHED.items()}
    print(f"\nhostile: {seen.sender} in {seen.seconds:.0f} s")
    for q, after in sorted(seen.queues_after.items()):
        before = seen.queues_before.get(q, (0, 0, 0, 0))
        print(
            f"queue {q} ({seen.owners.get(q, '?')}): took {after[3] - before[3]},"
            f" dropped (full) {after[1] - before[1]}, waiting {after[0]}"
        )
    for key, samples in seen.rss.items():
        print(
            f"RSS {key}: {samples[0] >> 20} -> max {max(samples) >> 20} -> {samples[-1] >> 20} MiB"
            f" ({len(samples)} samples)"
        )
    return seen


def test_the_sender_sent_every_family(flood: Flood) -> None:
    sent, refused = flood.sender["sent"], flood.sender["refused"]
    assert sent + sum(refused.values()) == COUNT
    assert set(refused) <= {"EINVAL", "EMSGSIZE"}, refused  # a header that lies about its length, nothing else
    assert sent > 0.9 * COUNT and len(flood.sender["families"]) == 12, flood.sender


def test_the_device_and_every_engine_are_the_same_processes(flood: Flood) -> None:
    changed = {
        k: (pid, flood.pids_after.get(k)) for k, pid in flood.pids_before.items() if flood.pids_after.get(k) != pid
    }
    assert not changed, f"died or restarted (pid before, after): {changed}"


@pytest.mark.parametrize("key", list(ATTACHED))
def test_each_still_decides_as_configured(flood: Flood, key: str) -> None:
    assert flood.checks_before[key] is None, f"{key} was wrong before the flood: {flood.checks_before[key]}"
    assert flood.checks_after[key] is None, f"{key} after {COUNT:,} hostile packets: {flood.checks_after[key]}"


@pytest.mark.parametrize("key", PROCESSES)
def test_memory_stayed_bounded(flood: Flood, key: str) -> None:
    samples = flood.rss.get(key, [])
    assert len(samples) >= COUNT / RATE / SAMPLE_EVERY / 2, f"{key}: {len(samples)} RSS samples"
    growth = max(samples) - samples[0]
    assert growth <= RSS_GROWTH, f"{key} grew {growth >> 20} MiB ({samples[0] >> 20} -> {max(samples) >> 20} MiB)"


def test_the_flood_left_the_machine_s_neighbour_table_alone(flood: Flood) -> None:
    """The kernel's ARP table is shared by every namespace (tests/lab/support.py)."""
    assert flood.neighbour_overflows == 0, f"the machine's neighbour table was full {flood.neighbour_overflows} times"


def test_every_queued_packet_got_its_verdict(flood: Flood) -> None:
    """A packet held without a verdict holds its slot: at 4,096 the kernel drops every new
    packet the queue selects (port 443 at the device)."""
    stuck = {f"{q} ({flood.owners.get(q, '?')})": n for q, n in flood.waiting.items()}
    assert not stuck, f"packets still waiting {DRAIN:.0f} s after the sender ended, by queue: {stuck}"
