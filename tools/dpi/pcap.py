"""Read a pcap or pcapng capture as a stream of frames, every length checked first.

The offline grader (tools/censors/offline.py) reads whatever a student hands in, so this
reader trusts nothing in the file: it refuses anything but a regular file before opening
it (a FIFO would wait for a writer for ever, a device may never end or act on being
opened), checks the header's magic, version and snaplen and every record's lengths, and
holds one record at a time, so its memory does not grow with the file. A file that ends
in the middle of a record, or whose lengths go wrong after some records, is read up to
there and says so in ``problem``; one that goes wrong before its first record is a
``CaptureError``. Link types read: EN10MB (with 802.1Q tags), RAW, IPV4, LINUX_SLL,
LINUX_SLL2, NULL and LOOP; a frame that carries no IPv4 is yielded with ``ip=None`` and
counted by what it carries.
"""

from __future__ import annotations

import os
import stat
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_SNAPLEN = 262_144  # libpcap's largest snaplen: a longer record is damage, not a packet
MAX_BLOCK = MAX_SNAPLEN + 65_536  # a pcapng block: one packet and its options
MAX_INTERFACES = 1024  # per pcapng section; more is damage (and would be memory per block)

NULL, EN10MB, RAW, LOOP, LINUX_SLL, IPV4, LINUX_SLL2 = 0, 1, 101, 108, 113, 228, 276
LINK_NAMES = {NULL: "NULL", EN10MB: "EN10MB", RAW: "RAW", LOOP: "LOOP", LINUX_SLL: "LINUX_SLL", IPV4: "IPV4",
              LINUX_SLL2: "LINUX_SLL2"}  # fmt: skip
ETHERTYPES = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP"}
VLAN_TAGS = (0x8100, 0x88A8)
AF_INET, AF_INET6 = 2, (10, 24, 28, 30)  # AF_INET6 is 10 on Linux, 24/28/30 on the BSDs

PCAP_MAGICS = {  # the first 4 bytes: byte order, timestamp units per second
    b"\xd4\xc3\xb2\xa1": ("<", 10**6),
    b"\xa1\xb2\xc3\xd4": (">", 10**6),
    b"\x4d\x3c\xb2\xa1": ("<", 10**9),
    b"\xa1\xb2\x3c\x4d": (">", 10**9),
}
SHB = b"\x0a\x0d\x0d\x0a"  # pcapng's section header block (the same in either byte order)
SHB_TYPE = 0x0A0D0D0A
BYTE_ORDERS = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}  # a section's byte-order magic
IDB, OPB, SPB, EPB = 1, 2, 3, 6  # interface description; obsolete, simple, enhanced packet


class CaptureError(ValueError):
    """Not a capture this reader can read; the message says why, in one line."""


@dataclass(frozen=True)
class Frame:
    """One record: its time, the IPv4 packet it carries (None if it carries none) and
    whether the capture cut it (fewer bytes captured than were on the wire)."""

    time: float
    ip: bytes | None
    cut: bool


@dataclass(frozen=True)
class _Interface:
    link: int
    snaplen: int  # 0: no limit (pcapng)
    per_second: int  # timestamp units per second


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file, else CaptureError. The type is
    checked before opening (opening a device can act) and again on the open descriptor,
    opened non-blocking so that a FIFO swapped in meanwhile cannot make it wait."""
    try:
        kind = _kind(os.stat(path).st_mode)
        if kind is None:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
            kind = _kind(os.fstat(fd).st_mode)
            if kind is not None:
                os.close(fd)
    except FileNotFoundError:
        raise CaptureError("no such file") from None
    except PermissionError:
        raise CaptureError("cannot be read: permission denied") from None
    except OSError as exc:
        raise CaptureError(f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    if kind is not None:
        raise CaptureError(f"is {kind}, not a capture file")
    return os.fdopen(fd, "rb")


def _kind(mode: int) -> str | None:
    """What a file that is not regular is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (a pipe: save the capture to a file first)"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def carried(link: int, data: bytes) -> tuple[str, int]:
    """What a frame of ``link`` carries ("IPv4", "IPv6", "ARP", ...) and where it starts."""
    if link in (RAW, IPV4):
        version = data[0] >> 4 if data else 0
        return {4: "IPv4", 6: "IPv6"}.get(version, "not IP"), 0
    if link == EN10MB:
        offset = 12
        while len(data) >= offset + 2 and int.from_bytes(data[offset : offset + 2]) in VLAN_TAGS:
            offset += 4
        return _ethertype(data, offset), offset + 2
    if link == LINUX_SLL:
        return _ethertype(data, 14), 16
    if link == LINUX_SLL2:
        return _ethertype(data, 0), 20
    if link in (NULL, LOOP):
        if len(data) < 4:
            return "too short", 4
        family = {int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big")}  # NULL: the writer's order
        return ("IPv4" if AF_INET in family else "IPv6" if family & set(AF_INET6) else "not IP"), 4
    return f"link type {link}", 0


def _ethertype(data: bytes, offset: int) -> str:
    if len(data) < offset + 2:
        return "too short"
    return ETHERTYPES.get(int.from_bytes(data[offset : offset + 2]), "not IP")


class Capture:
    """An open capture file. ``frames()`` yields one Frame per record, in order; meanwhile
    ``records``, ``cut`` and ``not_ipv4`` count what was read, and ``problem`` says why
    reading stopped before the end of the file, if it did."""

    def __init__(self, path: Path) -> None:
        self.records = 0
        self.cut = 0
        self.not_ipv4: Counter[str] = Counter()  # frames that carry no IPv4, by what they carry
        self.problem: str | None = None
        self._file = open_regular(path)
        try:
            self.format, self._header = self._read_header()
        except BaseException:
            self._file.close()
            raise

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._file.close()

    def frames(self) -> Iterator[Frame]:
        return self._pcap_frames() if self.format == "pcap" else self._pcapng_frames()

    # -- reading --------------------------------------------------------------------------

    def _read(self, n: int) -> bytes:
        try:
            return self._file.read(n)
        except OSError as exc:
            raise CaptureError(f"cannot be read: {exc.strerror or type(exc).__name__}") from None

    def _stop(self, problem: str) -> None:
        """Reading cannot go on: an error if no record was read yet, else the reason kept."""
        if not self.records:
            raise CaptureError(problem)
        self.problem = problem

    def _frame(self, interface: _Interface, ticks: int, data: bytes, wire: int) -> Frame:
        self.records += 1
        what, offset = carried(interface.link, data)
        if what != "IPv4":
            self.not_ipv4[what] += 1
        cut = len(data) < wire
        self.cut += cut
        return Frame(ticks / interface.per_second, data[offset:] if what == "IPv4" else None, cut)

    def _read_header(self) -> tuple[str, bytes]:
        head = self._read(24)
        if not head:
            raise CaptureError("is empty (0 bytes), not a capture")
        if head[:4] == SHB:
            return "pcapng", head
        if head[:4] not in PCAP_MAGICS:
            raise CaptureError(f"is not a pcap or pcapng capture (it starts with {head[:4].hex()})")
        if len(head) < 24:
            raise CaptureError(f"is too short for a pcap header ({len(head)} of 24 bytes)")
        order, _ = PCAP_MAGICS[head[:4]]
        major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", head[4:])
        if major != 2 or minor > 4:
            raise CaptureError(f"pcap version {major}.{minor} in the header: only 2.0 to 2.4 exist")
        if not 0 < snaplen <= MAX_SNAPLEN:
            raise CaptureError(f"snaplen {snaplen} in the header: a pcap's is 1 to {MAX_SNAPLEN}")
        link = network & 0xFFFF  # the upper bits may say how long an Ethernet FCS is
        if link not in LINK_NAMES:
            known = ", ".join(LINK_NAMES.values())
            raise CaptureError(f"link type {link}: no IPv4 can be read from it (this grader reads {known})")
        return "pcap", head

    def _pcap_frames(self) -> Iterator[Frame]:
        order, per_second = PCAP_MAGICS[self._header[:4]]
        snaplen, network = struct.unpack(order + "II", self._header[16:24])
        interface = _Interface(network & 0xFFFF, snaplen, per_second)
        while True:
            n = self.records + 1
            head = self._read(16)
            if not head:
                return
            if len(head) < 16:
                return self._stop(f"record {n} is truncated: its header has {len(head)} of 16 bytes")
            seconds, fraction, caplen, wire = struct.unpack(order + "IIII", head)
            if caplen > snaplen:
                return self._stop(f"record {n} claims {caplen} bytes, more than the snaplen {snaplen}: damaged")
            data = self._read(caplen)
            if len(data) < caplen:
                return self._stop(f"record {n} is truncated: {len(data)} of its {caplen} bytes")
            yield self._frame(interface, seconds * per_second + fraction, data, wire)

    def _pcapng_frames(self) -> Iterator[Frame]:
        self._file.seek(0)
        order = "<"
        interfaces: list[_Interface] = []
        while True:
            n = self.records + 1
            head = self._read(8)
            if not head:
                return
            if len(head) < 8:
                return self._stop(f"the block after record {n - 1} is truncated ({len(head)} bytes)")
            if head[:4] == SHB:  # a new section: its own byte order and interfaces
                magic = self._read(4)
                order = BYTE_ORDERS.get(magic, "")
                if not order:
                    return self._stop("a pcapng section header without its byte-order magic: damaged")
                head, interfaces = head + magic, []
            kind, total = struct.unpack(order + "II", head[:8])
            if total < len(head) + 4 or total % 4 or total > MAX_BLOCK:
                return self._stop(f"the pcapng block before record {n} claims {total} bytes: damaged")
            rest = self._read(total - len(head))
            if len(rest) < total - len(head):
                got = len(head) + len(rest)
                return self._stop(f"the pcapng block before record {n} is truncated ({got} of {total} bytes)")
            body, trailer = head[8:] + rest[:-4], rest[-4:]
            if struct.unpack(order + "I", trailer)[0] != total:
                return self._stop(f"the pcapng block before record {n}: its two lengths differ: damaged")
            try:
                frame = self._block(kind, body, order, interfaces)
            except (struct.error, ValueError) as exc:
                return self._stop(f"the pcapng block before record {n}: {exc}: damaged")
            if frame is not None:
                yield frame

    def _block(self, kind: int, body: bytes, order: str, interfaces: list[_Interface]) -> Frame | None:
        """The frame a pcapng block holds, if any; a section or interface block is noted."""
        if kind == SHB_TYPE:
            major = struct.unpack(order + "H", body[4:6])[0]
            if major != 1:
                raise ValueError(f"pcapng version {major}: only 1 exists")
            return None
        if kind == IDB:
            link, _, snaplen = struct.unpack(order + "HHI", body[:8])
            if len(interfaces) >= MAX_INTERFACES:
                raise ValueError(f"more than {MAX_INTERFACES} interfaces")
            interfaces.append(_Interface(link, snaplen, _per_second(body[8:], order)))
            return None
        if kind in (EPB, OPB):
            fields = order + ("IIIII" if kind == EPB else "HHIIII")
            values = struct.unpack(fields, body[: struct.calcsize(fields)])
            index, high, low, caplen, wire = values[0], *values[-4:]
            data = body[struct.calcsize(fields) :][:caplen]
        elif kind == SPB:
            (wire,) = struct.unpack(order + "I", body[:4])
            index, high, low = 0, 0, 0
            caplen = min(wire, len(body) - 4, interfaces[0].snaplen or wire) if interfaces else 0
            data = body[4 : 4 + caplen]
        else:
            return None  # name resolution, statistics, secrets, custom blocks
        if index >= len(interfaces):
            raise ValueError(f"a packet on interface {index}, which no interface block describes")
        interface = interfaces[index]
        if len(data) < caplen:
            raise ValueError(f"a packet claims {caplen} bytes, more than its block holds")
        if interface.snaplen and caplen > interface.snaplen:
            raise ValueError(f"a packet claims {caplen} bytes, more than the snaplen {interface.snaplen}")
        return self._frame(interface, (high << 32) | low, data, wire)


def _per_second(options: bytes, order: str) -> int:
    """Timestamp units per second from an interface's if_tsresol option (default: µs)."""
    offset = 0
    while offset + 4 <= len(options):
        code, length = struct.unpack(order + "HH", options[offset : offset + 4])
        if code == 0:
            break
        if code == 9 and length >= 1 and offset + 4 < len(options):
            value = options[offset + 4]
            return 2 ** (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)
        offset += 4 + (length + 3) // 4 * 4
    return 10**6
