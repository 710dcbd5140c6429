"""The offline grader under hostile input (issue 9, item 5): anything that is not a
readable capture is one line and exit 2, never a traceback or a hang; what can still be
graded is graded, with warnings on stderr and in --json; a packet whose grading raises
gets the censor's failure verdict; memory stays flat however long the capture is.

The captures are written byte by byte here (struct), so each one is exactly the damage it
names; the packets in them are real (scapy, and the ClientHello Python's OpenSSL sends).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from tests.unit.samples import client_hello
from tools.basics.paths import REPO
from tools.censors.offline import FlowTable, grade, main
from tools.censors.registry import CENSORS
from tools.censors.reset_traffic_for_tls_sni import ResetTrafficForTLSSNI

CLIENT, FB, VK = "95.56.1.1", "157.240.241.35", "87.240.132.72"
MACS = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
GRADE = ["ResetTrafficForTLSSNI", "--param", 'domains=["facebook.com"]']
RAW, EN10MB = 101, 1


def hello(dst: str = FB, sni: str = "facebook.com", sport: int = 40001) -> bytes:
    return bytes(IP(src=CLIENT, dst=dst) / TCP(sport=sport, dport=443, flags="PA", seq=1, ack=1) / client_hello(sni))


def segment(dst: str = FB, sport: int = 40001, flags: str = "PA", size: int = 100) -> bytes:
    return bytes(IP(src=CLIENT, dst=dst) / TCP(sport=sport, dport=443, flags=flags, seq=2000, ack=1) / (b"x" * size))


# -- captures, byte by byte --------------------------------------------------------------


def pcap_header(link: int = RAW, snaplen: int = 65535, version: tuple[int, int] = (2, 4), order: str = "<") -> bytes:
    return struct.pack(order + "IHHiIII", 0xA1B2C3D4, *version, 0, 0, snaplen, link)


def record(data: bytes, n: int = 0, caplen: int | None = None, wire: int | None = None, order: str = "<") -> bytes:
    caplen = len(data) if caplen is None else caplen
    return struct.pack(order + "IIII", 1_700_000_000 + n, 0, caplen, len(data) if wire is None else wire) + data


def pcap(*frames: bytes, **header: Any) -> bytes:
    return pcap_header(**header) + b"".join(record(f, n) for n, f in enumerate(frames))


def block(kind: int, body: bytes, order: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", kind, len(body) + 12) + body + struct.pack(order + "I", len(body) + 12)


def shb(order: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def idb(link: int = RAW, snaplen: int = 0, order: str = "<", tsresol: int | None = None) -> bytes:
    options = b"" if tsresol is None else struct.pack(order + "HHB3xHH", 9, 1, tsresol, 0, 0)
    return block(1, struct.pack(order + "HHI", link, 0, snaplen) + options, order)


def epb(data: bytes, interface: int = 0, order: str = "<", ticks: int = 1_700_000_000_000_000) -> bytes:
    fixed = struct.pack(order + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data))
    return block(6, fixed + data, order)


def ether(packet: bytes, **fields: Any) -> bytes:
    return bytes(Ether(**MACS, **({"type": 0x0800} | fields)) / packet)


def grade_path(path: Path, *extra: str) -> tuple[int, str, str]:
    """The grader's command line in its own process."""
    out = subprocess.run(
        [sys.executable, "-m", "tools.censors.offline", *GRADE[:1], str(path), *GRADE[1:], *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.returncode, out.stdout, out.stderr


@pytest.fixture
def grader(capsys: pytest.CaptureFixture[str]) -> Any:
    """``grader(path, *args)``: main() in this process (no interpreter start per case)."""

    def call(path: Path, *extra: str) -> tuple[int, str, str]:
        code = main([GRADE[0], str(path), *GRADE[1:], *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call


# -- not a readable capture: one line, exit 2 ---------------------------------------------

GOOD = pcap(hello(), segment())
BAD_CAPTURES = {
    "empty file": (b"", "is empty (0 bytes)"),
    "garbage": (bytes(range(7, 250)) * 4, "is not a pcap or pcapng capture (it starts with 0708090a)"),
    "zeros": (b"\0" * 4096, "it starts with 00000000"),
    "gzip-compressed pcap": (b"\x1f\x8b\x08\x00" + b"\0" * 40, "it starts with 1f8b0800"),
    "text file": (b"GET / HTTP/1.1\r\nHost: facebook.com\r\n\r\n", "is not a pcap or pcapng capture"),
    "header cut short": (GOOD[:10], "too short for a pcap header (10 of 24 bytes)"),
    "impossible version": (pcap(hello(), version=(99, 0)), "pcap version 99.0 in the header"),
    "version 2.9": (pcap(hello(), version=(2, 9)), "pcap version 2.9"),
    "snaplen 0": (pcap(hello(), snaplen=0), "snaplen 0 in the header"),
    "snaplen 2^31": (pcap(hello(), snaplen=2**31), "snaplen 2147483648 in the header"),
    "unknown link type": (pcap(hello(), link=147), "link type 147: no IPv4 can be read from it"),
    "first record past the snaplen": (pcap_header(snaplen=100) + record(hello()), "more than the snaplen 100"),
    "first record absurd": (pcap_header() + record(hello(), caplen=0xFFFFFFFF), "claims 4294967295 bytes"),
    "first record truncated": (pcap_header() + record(hello())[:60], "record 1 is truncated: 44 of its"),
    "first record header truncated": (pcap_header() + record(hello())[:7], "its header has 7 of 16 bytes"),
    "no records": (pcap_header(), "no IPv4 packet to grade (0 records: no packets)"),
    "only IPv6 and ARP": (
        pcap(bytes(Ether(**MACS) / IPv6() / TCP()), bytes(Ether(**MACS) / ARP()), link=EN10MB),
        "no IPv4 packet to grade (2 records: IPv6 1, ARP 1)",
    ),
    "pcapng, bad byte-order magic": (b"\x0a\x0d\x0d\x0a" + struct.pack("<I", 28) + b"\0" * 20, "byte-order magic"),
    "pcapng, block length not a multiple of 4": (
        b"\x0a\x0d\x0d\x0a" + struct.pack("<II", 30, 0x1A2B3C4D) + b"\0" * 22,
        "claims 30 bytes: damaged",
    ),
    "pcapng, lengths differ": (shb()[:-4] + struct.pack("<I", 99) + idb() + epb(hello()), "two lengths differ"),
    "pcapng, version 2": (block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1)), "pcapng version 2"),
    "pcapng, packet on an undescribed interface": (shb() + idb() + epb(hello(), interface=3), "interface 3"),
    "pcapng, unknown link type only": (shb() + idb(link=147) + epb(hello()), "(1 records: link type 147 1)"),
}


@pytest.mark.parametrize("case", sorted(BAD_CAPTURES))
def test_not_a_readable_capture_is_one_line_and_exit_2(case: str, tmp_path: Path, grader: Any) -> None:
    content, message = BAD_CAPTURES[case]
    path = tmp_path / "capture.pcap"
    path.write_bytes(content)
    code, out, err = grader(path)
    assert code == 2, err
    assert out == ""
    assert err.splitlines() == [err.strip()] and err.startswith(f"kzlab: error: {path}: "), err
    assert message in err, err


def test_missing_file_and_directory(tmp_path: Path, grader: Any) -> None:
    code, _, err = grader(tmp_path / "nothing.pcap")
    assert (code, err) == (2, f"kzlab: error: {tmp_path / 'nothing.pcap'}: no such file\n")
    code, _, err = grader(tmp_path)
    assert (code, err) == (2, f"kzlab: error: {tmp_path}: is a directory, not a capture file\n")
    code, _, err = grader(tmp_path / "a-file-as-directory" / "x.pcap")
    assert code == 2 and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    ("target", "message"),
    [("fifo", "is a FIFO (a pipe: save the capture to a file first)"), ("/dev/zero", "is a device"),
     ("/dev/urandom", "is a device")],
)  # fmt: skip
def test_fifo_and_devices_are_refused_without_waiting(target: str, message: str, tmp_path: Path) -> None:
    """A FIFO with no writer would block an open() for ever, and a device may never end:
    the type is checked first (the subprocess' timeout is the hang detector)."""
    path = Path(target)
    if target == "fifo":
        path = tmp_path / "capture.pcap"
        os.mkfifo(path)
    code, out, err = grade_path(path)
    assert (code, out) == (2, "")
    assert err == f"kzlab: error: {path}: {message}, not a capture file\n"


def test_unreadable_file(tmp_path: Path) -> None:
    """Mode 000: as root, with every capability dropped (root reads anything otherwise)."""
    path = tmp_path / "capture.pcap"
    path.write_bytes(GOOD)
    path.chmod(0)
    tmp_path.chmod(0o755)
    drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"] if os.geteuid() == 0 else []
    out = subprocess.run(
        [*drop, sys.executable, "-m", "tools.censors.offline", *GRADE[:1], str(path), *GRADE[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == f"kzlab: error: {path}: cannot be read: permission denied\n"


def test_bad_censor_parameters_are_one_line(grader: Any, tmp_path: Path) -> None:
    path = tmp_path / "capture.pcap"
    path.write_bytes(GOOD)
    huge = "9" * 5000
    for value in ("facebook.com", huge, "[" * 100_000, "[1,2]"):
        code, out, err = grader(path, "--param", f"domains={value}")
        assert (code, out) == (2, ""), err
        assert len(err.splitlines()) == 1 and err.startswith("kzlab: error: ") and "domains" in err, err


# -- what can still be graded: graded, with warnings -------------------------------------


def warnings_of(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("kzlab: warning: ")]


WARNED = {
    "snaplen shorter than the packets": (
        pcap_header(snaplen=60) + record(hello()[:60], 0, wire=len(hello())) + record(segment()[:60], 1, wire=140),
        "2 of 2 packets were cut short by the capture",
        0,  # a ClientHello cut at 60 bytes has no SNI to see: nothing decided, and it says why
    ),
    "truncated last record": (
        GOOD + record(segment(), 2)[:-30],
        "record 3 is truncated: 110 of its 140 bytes; graded up to record 2",
        2,
    ),
    "damaged record after the first": (
        GOOD + record(segment(), 2, caplen=10**6),
        "record 3 claims 1000000 bytes, more than the snaplen 65535: damaged; graded up to record 2",
        2,
    ),
    "frames that are not IPv4": (
        pcap(
            bytes(Ether(**MACS) / ARP()),
            ether(hello()),
            bytes(Ether(**MACS) / IPv6() / TCP()),
            ether(b"\x00\x05\x08\x00" + segment(), type=0x8100),
            bytes(Ether(**MACS) / ARP()),
            link=EN10MB,
        ),
        "3 frames carry no IPv4 (ARP 2, IPv6 1): not graded",
        2,
    ),
    "pcapng with an interface of unknown link type": (
        shb() + idb(link=147) + idb() + epb(b"\x01" * 40, 0) + epb(hello(), 1) + epb(segment(), 1),
        "1 frames carry no IPv4 (link type 147 1): not graded",
        2,
    ),
}


@pytest.mark.parametrize("case", sorted(WARNED))
def test_what_can_still_be_graded_is_graded_with_a_warning(case: str, tmp_path: Path, grader: Any) -> None:
    content, warning, decided = WARNED[case]
    path = tmp_path / "capture.pcap"
    path.write_bytes(content)
    code, out, err = grader(path)
    assert code == 0, err
    (line,) = warnings_of(err)
    assert line.startswith(f"kzlab: warning: {warning}"), err
    assert err.splitlines()[-1].startswith("ResetTrafficForTLSSNI: ") and f", {decided} decided" in err, err
    assert len(out.splitlines()) == decided
    if decided:
        assert "reset: SNI facebook.com" in out.splitlines()[0]
    code, out, _ = grader(path, "--json")
    objects = [json.loads(line) for line in out.splitlines()]
    assert objects[-1] == {"warning": line.removeprefix("kzlab: warning: ")} and len(objects) == decided + 1


def test_formats_and_link_types_grade_alike(tmp_path: Path, grader: Any) -> None:
    """Every link type and byte order the reader knows gives the same verdicts and times."""
    packets = [hello(), segment(), hello(VK, "vk.com", 40002), segment(VK, 40002)]
    sll = struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800)
    sll2 = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02" * 8)
    framed = {
        1: ether,
        113: lambda p: sll + p,
        276: lambda p: sll2 + p,
        0: lambda p: struct.pack("<I", 2) + p,
        108: lambda p: struct.pack(">I", 2) + p,
        228: lambda p: p,
    }
    captures = {f"pcap link {link}": pcap(*map(frame, packets), link=link) for link, frame in framed.items()}
    captures["pcap big-endian, ns"] = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, RAW) + b"".join(
        struct.pack(">IIII", 1_700_000_000 + n, 0, len(p), len(p)) + p for n, p in enumerate(packets)
    )
    for order in "<>":
        captures[f"pcapng {order}"] = (
            shb(order) + idb(order=order, tsresol=9)
            + b"".join(epb(p, 0, order, (1_700_000_000 + n) * 10**9) for n, p in enumerate(packets))
        )  # fmt: skip
    expected = None
    for name, content in captures.items():
        path = tmp_path / "capture"
        path.write_bytes(content)
        code, out, err = grader(path, "--json")
        assert code == 0 and not warnings_of(err), (name, err)
        got = [(v["packet"], v["time"], v["verdict"], v["note"]) for v in map(json.loads, out.splitlines())]
        expected = expected or got
        assert got == expected, name
    assert expected == [(1, 1_700_000_000.0, "drop", "reset: SNI facebook.com"),
                        (2, 1_700_000_001.0, "drop", "flow blocked earlier"), (3, 1_700_000_002.0, "accept", ""),
                        (4, 1_700_000_003.0, "accept", "flow passed earlier")]  # fmt: skip


# -- one packet's failure is that packet's ----------------------------------------------


class FragileReset(ResetTrafficForTLSSNI):
    """The real SNI censor, with the bug of raising on one kind of packet: what the guard
    around each packet is for."""

    def decide(self, pkt: Any, flows: dict[tuple, str]) -> Any:
        if pkt.payload.startswith(b"boom"):
            raise struct.error("unpack requires a buffer of 4 bytes")
        return super().decide(pkt, flows)


@pytest.mark.parametrize(("params", "verdict"), [({}, "accept"), ({"fail_closed": True}, "drop")])
def test_a_packet_that_raises_gets_the_failure_verdict_and_grading_goes_on(params: dict, verdict: str) -> None:
    boom = IP(src=CLIENT, dst=VK) / TCP(sport=40009, dport=443, flags="PA") / (b"boom" + bytes(60))  # selected: > 80 B
    packets = [IP(hello()), boom, IP(segment()), IP(hello(VK, "vk.com", 40002))]
    out = list(grade(FragileReset(domains=["facebook.com"], **params), packets))
    assert [(v["packet"], v["verdict"], v["failed"]) for v in out] == [
        (1, "drop", False), (2, verdict, True), (3, "drop", False), (4, "accept", False)
    ]  # fmt: skip
    how = "fail closed" if params else "fail open"
    assert out[1]["note"] == f"error ({how}): error: unpack requires a buffer of 4 bytes"


def test_a_full_flow_table_forgets_the_oldest_flow() -> None:
    flows = FlowTable(limit=2)
    packets = [IP(hello(sport=p)) for p in (40001, 40002, 40003)] + [IP(segment(sport=40001))]
    out = list(grade(CENSORS["DropTrafficForTLSSNI"](domains=["facebook.com"]), packets, flows))
    assert [v["note"] for v in out][:3] == ["drop: SNI facebook.com"] * 3
    assert out[3]["note"] != "flow blocked earlier"  # the first flow was forgotten: its segment is new to it
    assert flows == {(CLIENT, 40003, FB, 443): "block", (CLIENT, 40001, FB, 443): "pass"} and flows.forgotten == 2


# -- memory: flat in the capture's length -------------------------------------------------


def long_capture(path: Path, packets: int) -> None:
    """``packets`` packets in flows of ten (a SYN, a ClientHello for a listed or another
    name, eight data segments) over 1,000 client ports, written as it goes."""
    listed, other, data, syn = hello(), hello(VK, "vk.com"), segment(), segment(flags="S", size=0)
    with path.open("wb") as f:
        f.write(pcap_header())
        for n in range(packets):
            p = (syn, listed if n // 10 % 2 else other)[n % 10] if n % 10 < 2 else data
            port = 20000 + (n // 10) % 1000
            f.write(record(p[:20] + struct.pack(">H", port) + p[22:], n))


# The grader's own peak (VmHWM of its address space, read as it exits): ru_maxrss would
# also count the pages of the test process it was forked from, until its exec.
PEAK = (
    "import runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('tools.censors.offline', run_name='__main__')\n"
    "finally:\n"
    "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
    "    print('peak-kib', hwm, file=sys.stderr)\n"
)


def peak_rss_kib(path: Path) -> tuple[int, str]:
    argv = ["offline", *GRADE[:1], str(path), *GRADE[1:]]
    proc = subprocess.run([sys.executable, "-c", PEAK, *argv], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak = next(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("peak-kib "))
    return peak, proc.stderr


def test_memory_is_flat_in_the_capture_length(tmp_path: Path) -> None:
    """50,000 packets peak within 4 MiB of 5,000 (every verdict kept would be ~25 MiB more),
    and under 200 MiB in all (scapy and the censors are most of it)."""
    peaks = {}
    for n in (5_000, 50_000):
        long_capture(tmp_path / f"{n}.pcap", n)
        peaks[n], err = peak_rss_kib(tmp_path / f"{n}.pcap")
        decided = n - min(n // 10, 1000)  # all but the SYNs that open the 1,000 flows
        assert f"{n} IPv4 packets, {decided} decided: accept {decided // 2}, drop {decided // 2}" in err, err
    assert peaks[50_000] - peaks[5_000] < 4 * 1024, peaks
    assert peaks[50_000] < 200 * 1024, peaks
