"""The Geneva engine (tools/circumvent/geneva) in a live lab: run in home2's own network
namespace, the page still loads through it, vk.com's server receives what each strategy
makes (kazakhstan.md section 6), a ClientHello split gets through a DPI that reads one
segment (ResetTrafficForTLSSNI at gw), the engine fails open, its rules go on SIGTERM,
and it refuses a namespace that is not a lab host's.

What these strategies do to the 2019 device itself is test_device_evasion.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from scapy.layers.inet import IP, TCP
from scapy.packet import Packet
from scapy.utils import rdpcap

from tests.lab import support
from tests.lab.strategies import counts, engine, text
from tools.basics.paths import REPO
from tools.circumvent.geneva.library import LIBRARY
from tools.dpi.tls import parse_client_hello
from tools.lab.session import LabSession
from topologies.internet import VK, all_sites

HOME2 = "95.56.1.2"
VK_ADDRESS = all_sites((VK,))["vk.com"].address
FETCH = "curl -sS -m 10 -o /dev/null -w '%{http_code} %{local_port}' https://vk.com/"


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession() as session:
        pcap, said = session.rundir / "at-vk.pcap", session.rundir / "tcpdump-vk.err"
        session.run(
            "vk",
            f"tcpdump -i vk-eth0 -U -w {pcap} 'tcp port 443 and src host {HOME2}' >/dev/null 2>{said} &",
        )
        support.poll(lambda: said.exists() and "listening on" in said.read_text(), 10, "tcpdump at vk")
        yield session


def home2_rules(lab: LabSession) -> str:
    return lab.run("home2", "iptables -S").out


def fetch(lab: LabSession) -> int:
    """Fetch https://vk.com/ from home2: its client port (the page must load)."""
    r = lab.run("home2", FETCH)
    code, port = r.out.split()
    assert (r.rc, code) == (0, "200"), r.err
    return int(port)


def at_vk(lab: LabSession, port: int, ready: Callable[[list[Packet]], bool]) -> list[Packet]:
    """home2's packets from ``port`` as vk's server received them, once ``ready``."""

    def read() -> list[Packet] | None:
        try:
            packets = [p for p in rdpcap(str(lab.rundir / "at-vk.pcap")) if p.haslayer(TCP) and p[TCP].sport == port]
        except (OSError, EOFError, ValueError):  # tcpdump is still writing its last record
            return None
        return packets if ready(packets) else None

    return support.poll(read, 10, f"home2's packets from port {port} at vk")


def data(packets: list[Packet]) -> list[bytes]:
    return [bytes(p[TCP].payload) for p in packets if p[TCP].payload]


def whole_hello(packets: list[Packet]) -> bool:
    return parse_client_hello(b"".join(data(packets))).complete


def test_clienthello_split_loads_the_page_and_vk_receives_the_hello_in_two_segments(lab: LabSession) -> None:
    before = home2_rules(lab)
    with engine(lab, "clienthello_split", "split") as err:
        rules = home2_rules(lab)
        assert "-A OUTPUT -j GENEVA0-OUT" in rules and rules.count("--queue-bypass") == 2
        assert "--tcp-flags FIN,SYN,RST,PSH,ACK,URG PSH,ACK" in rules  # only what [TCP:flags:PA] fires on
        port = fetch(lab)
    first, second, *_ = data(at_vk(lab, port, whole_hello))
    assert first.endswith(b"\x00\x00\x06v") and second.startswith(b"k.com")  # cut one byte into "vk.com"
    assert not parse_client_hello(first).complete
    assert parse_client_hello(first + second).sni == "vk.com"
    seen = counts(err)
    assert seen["triggered"] >= 1 and seen["made"] == 2 * seen["triggered"]  # each data segment cut in two
    assert seen["failed"] == 0 and "unmatched" not in seen and seen["lost"] == 0
    assert home2_rules(lab) == before  # SIGTERM took its rules away


def hello_cut_short(packets: list[Packet]) -> bool:
    """kz_small_ip_length: a first copy of IP total length 78, then the whole ClientHello."""
    lengths = [p[IP].len for p in packets if p[TCP].payload]
    return len(lengths) >= 2 and lengths[0] == 78 and whole_hello(packets[1:])


def two_syns(packets: list[Packet]) -> bool:
    syns = [p for p in packets if p[TCP].flags == "S"]
    return len(syns) == 2 and not syns[0][TCP].payload and len(syns[1][TCP].payload) == 10


def synack_first(packets: list[Packet]) -> bool:
    return [str(p[TCP].flags) for p in packets[:2]] == ["SA", "S"] and packets[0][TCP].seq == packets[1][TCP].seq


def halves(packets: list[Packet]) -> bool:
    pieces = data(packets)
    return len(pieces) >= 2 and abs(len(pieces[0]) - len(pieces[1])) <= 1 and whole_hello(packets)


@pytest.mark.parametrize(
    ("name", "received"),
    [
        ("kz_segmentation", halves),
        ("kz_small_ip_length", hello_cut_short),
        ("kz_syn_payload", two_syns),
        ("kz_tcb_turnaround", synack_first),
    ],
)
def test_each_kazakhstan_strategy_loads_the_page_and_vk_receives_what_section_6_describes(
    lab: LabSession, name: str, received: Callable[[list[Packet]], bool]
) -> None:
    with engine(lab, name, name):
        port = fetch(lab)
    assert received(at_vk(lab, port, received)), LIBRARY[name].what


def test_a_split_clienthello_gets_through_a_dpi_that_reads_one_segment(lab: LabSession) -> None:
    """docs/censors.md: ResetTrafficForTLSSNI reads the first data segment only."""
    lab.attach("sni", "ResetTrafficForTLSSNI", "gw", domains=["vk.com"])
    try:
        blocked = lab.run("home2", FETCH)
        assert blocked.rc != 0, "the censor did not block vk.com"
        with engine(lab, "clienthello_split", "evasion"):
            fetch(lab)
        assert lab.run("home2", FETCH).rc != 0  # blocked again without the engine
    finally:
        lab.detach("sni")


def test_an_inbound_tree_drops_the_resets_of_a_dpi_that_cannot_drop(lab: LabSession) -> None:
    """docs/censors.md: ResetTrafficForTLSSNI with ``tap: true`` only races the server with
    RSTs; a client that drops them (Geneva's inbound ``[TCP:flags:RA]-drop-|``) gets the page."""
    lab.attach("tap", "ResetTrafficForTLSSNI", "gw", domains=["vk.com"], tap=True)
    try:
        assert lab.run("home2", FETCH).rc != 0, "the tap's RSTs did not reset the connection"
        with engine(lab, "\\/ [TCP:flags:RA]-drop-|", "inbound") as err:
            rules = home2_rules(lab)
            assert "-A INPUT -j GENEVA0-IN" in rules and "GENEVA0-OUT" not in rules
            fetch(lab)
        assert counts(err)["triggered"] >= 1
    finally:
        lab.detach("tap")


def test_a_packet_that_cannot_be_sent_goes_unchanged_and_the_engine_goes_on(lab: LabSession) -> None:
    """Fail open: a payload over the link's MTU cannot leave the raw socket (EMSGSIZE)."""
    oversized = "[TCP:flags:PA]-tamper{TCP:load:replace:" + "a" * 1600 + "}-|"
    with engine(lab, oversized, "oversized") as err:
        fetch(lab)
        fetch(lab)
    seen = counts(err)
    assert seen["failed"] == seen["triggered"] >= 2 and seen["made"] == 0


def test_a_killed_engine_leaves_the_host_working_and_the_next_one_cleans_up(lab: LabSession) -> None:
    before = home2_rules(lab)
    out = lab.rundir / "geneva-killed.out"
    pid = lab.run("home2", f"python -m tools.circumvent.geneva --strategy kz_segmentation >{out} 2>&1 & echo $!").out
    support.poll(lambda: text(out).startswith("ready"), 30, "ready")
    lab.run("home2", f"kill -KILL {pid.strip()}")
    assert "GENEVA0-OUT" in home2_rules(lab)  # its rules stay, with nobody reading the queue
    fetch(lab)  # --queue-bypass: the packets pass
    with engine(lab, "kz_segmentation", "after-kill"):
        assert home2_rules(lab).count("GENEVA0-OUT") == 4  # the chain, its two rules, the jump: once
    assert home2_rules(lab) == before


def test_a_second_engine_on_a_queue_in_use_says_so_and_leaves_the_first_alone(lab: LabSession) -> None:
    with engine(lab, "kz_segmentation", "first") as err:
        rules = home2_rules(lab)
        second = lab.run("home2", "python -m tools.circumvent.geneva --strategy kz_syn_payload --queue 0")
        assert second.rc == 2 and second.err.startswith("kzlab: error: queue 0: ") and second.err.count("\n") == 1
        assert home2_rules(lab) == rules
        fetch(lab)
    assert counts(err)["triggered"] >= 1


def test_it_refuses_a_network_namespace_that_is_not_a_lab_hosts() -> None:
    """In a throw-away network and PID namespace its PID 1 shares: refused before any rule."""
    done = subprocess.run(
        ["unshare", "--net", "--pid", "--fork", "--mount-proc", sys.executable, "-m", "tools.circumvent.geneva",
         "--strategy", "kz_segmentation"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("kzlab: error: refusing to run here: this is the network namespace of PID 1")
    assert done.stderr.count("\n") == 1
