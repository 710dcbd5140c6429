"""What the lab process does inside a node from one of its threads: entering the node's
namespaces, bind mounts, and rtnetlink requests (links up, addresses, routes, a route
count), with no process started.

A thread can enter a network namespace by itself; it can enter a mount namespace once it
has its own filesystem attributes (unshare(CLONE_FS)), and then what it mounts or opens
concerns that namespace alone, not the rest of the lab process. Python 3.11 has no
os.setns or mount: libc's, through ctypes.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

CLONE_FS, CLONE_NEWNS, CLONE_NEWNET = 0x200, 0x20000, 0x40000000
MS_BIND = 4096
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter(pid: int, *, mounts: bool = False) -> None:
    """Move the calling thread (only it) into the network namespace of process ``pid``,
    and with ``mounts`` into its mount namespace too."""
    kinds = [("net", CLONE_NEWNET)]
    if mounts:
        _check(_libc.unshare(CLONE_FS), "unshare(CLONE_FS)")
        kinds.append(("mnt", CLONE_NEWNS))
    for name, flag in kinds:
        fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY)
        try:
            _check(_libc.setns(fd, flag), f"setns into the {name} namespace of pid {pid}")
        finally:
            os.close(fd)


def inside(pid: int, fn: Callable[..., T], *args: Any, mounts: bool = False) -> T:
    """``fn(*args)``, run by a new thread that first enters the namespaces of ``pid``
    (enter()) and ends with it, so nothing else ever runs there by mistake."""

    def run() -> T:
        enter(pid, mounts=mounts)
        return fn(*args)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def bind_mount(source: str, target: str) -> None:
    """``mount --bind source target`` in the calling thread's mount namespace."""
    _check(_libc.mount(source.encode(), target.encode(), None, MS_BIND, None), f"mount: {target}")


RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_GETROUTE = 16, 20, 24, 26
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_GATEWAY = 1, 5
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST, RTN_BLACKHOLE = 254, 3, 1, 6
IFF_UP = 0x1
NLMSG = struct.Struct("=IHHII")  # length, type, flags, sequence, port
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


class Netlink:
    """An rtnetlink socket in the calling thread's network namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.seq = 0

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(NLMSG.pack(NLMSG.size + len(body), kind, NLM_F_REQUEST | flags, self.seq, 0) + body)
        return self.seq

    def _replies(self, seq: int) -> Iterator[tuple[int, bytes]]:
        while True:
            data, pos = self.sock.recv(1 << 16), 0
            while pos < len(data):
                length, kind, _, got, _ = NLMSG.unpack_from(data, pos)
                if got == seq:
                    yield kind, data[pos + NLMSG.size : pos + length]
                pos += (length + 3) & ~3

    def request(self, kind: int, flags: int, body: bytes, what: str) -> None:
        """Send one request and wait for its acknowledgement; OSError naming ``what`` if refused."""
        for reply, payload in self._replies(self._send(kind, flags | NLM_F_ACK, body)):
            if reply == NLMSG_ERROR:
                err = -struct.unpack_from("=i", payload)[0]
                if err:
                    raise OSError(err, f"{what}: {os.strerror(err)}")
                return

    def dump(self, kind: int, body: bytes) -> Iterator[bytes]:
        """The payload of every message a dump request answers."""
        for reply, payload in self._replies(self._send(kind, NLM_F_DUMP, body)):
            if reply == NLMSG_DONE:
                return
            if reply == NLMSG_ERROR:
                raise OSError(-struct.unpack_from("=i", payload)[0], "netlink dump refused")
            yield payload

    def link_up(self, name: str) -> None:
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, socket.if_nametoindex(name), IFF_UP, IFF_UP)
        self.request(RTM_NEWLINK, 0, body, f"link set {name} up")

    def add_address(self, name: str, interface: ipaddress.IPv4Interface) -> None:
        """The address, with its broadcast address on networks that have one (``brd +``)."""
        net = interface.network
        body = IFADDRMSG.pack(socket.AF_INET, net.prefixlen, 0, 0, socket.if_nametoindex(name))
        body += _attr(IFA_LOCAL, interface.ip.packed) + _attr(IFA_ADDRESS, interface.ip.packed)
        if net.prefixlen < 31:
            body += _attr(IFA_BROADCAST, net.broadcast_address.packed)
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body, f"address add {interface} dev {name}")

    def add_route(self, destination: ipaddress.IPv4Network, via: str | None) -> None:
        """A route to ``destination`` through gateway ``via``, or a blackhole (``via`` None)."""
        kind = RTN_UNICAST if via else RTN_BLACKHOLE
        body = RTMSG.pack(socket.AF_INET, destination.prefixlen, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0, kind, 0)
        if destination.prefixlen:
            body += _attr(RTA_DST, destination.network_address.packed)
        if via:
            body += _attr(RTA_GATEWAY, ipaddress.IPv4Address(via).packed)
        what = f"route add {destination} via {via}" if via else f"route add blackhole {destination}"
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body, what)

    def count_routes(self, protocol: int) -> int:
        """How many routes of ``protocol`` (RTPROT_*) the main IPv4 table holds."""
        body = RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
        count = 0
        for payload in self.dump(RTM_GETROUTE, body):
            table, proto = RTMSG.unpack_from(payload)[4:6]
            count += table == RT_TABLE_MAIN and proto == protocol
        return count
