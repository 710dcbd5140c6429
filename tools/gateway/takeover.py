"""Taking over a TCP connection in flight, as an inline DPI device does.

The interception device lets every connection's handshake pass between client and
server untouched; only when it sees a ClientHello worth intercepting does it step in.
At that point it holds the client's ClientHello segments (NFQUEUE), so it knows the
client's next sequence number and the server's, and, from the SYN and SYN-ACK it saw,
the options the two ends agreed. ``adopt()`` builds a kernel socket that continues
the connection as the server would (Linux TCP_REPAIR, as CRIU uses to restore
connections), puts the ClientHello the client already sent into its receive queue, and
returns it ready for a TLS server handshake. The server's half is reset. Packets of the
flow that reach the device later are delivered to this socket by the TPROXY-style rules
the interceptor installs (``-m socket --transparent`` + a local route for the mark).

This is why a ClientHello whose TTL expires between the device and the server still
gets the forged certificate back (kazakhstan.md 1.5), while flows the device does not
intercept are never terminated: their packets are forwarded as they came.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

from tools.dpi.ipv4 import tcp_options

SOL_TCP = socket.IPPROTO_TCP
TCP_REPAIR = 19
TCP_REPAIR_QUEUE = 20
TCP_QUEUE_SEQ = 21
TCP_REPAIR_OPTIONS = 22
TCP_TIMESTAMP = 24
TCP_REPAIR_WINDOW = 29
TCP_RECV_QUEUE = 1
TCP_SEND_QUEUE = 2
TCPOPT_MSS = 2
TCPOPT_WINDOW = 3
TCPOPT_SACK_PERM = 4
TCPOPT_TIMESTAMP = 8
TCP_MIN_MSS = 88  # Linux's floor: a SYN may name any MSS, down to 0


@dataclass(slots=True)
class Handshake:
    """The options each end offered in the SYN / SYN-ACK the device saw."""

    client_mss: int = 536
    client_wscale: int | None = None
    client_sack: bool = False
    client_ts: bool = False
    server_mss: int = 536
    server_wscale: int | None = None
    server_sack: bool = False
    server_ts: bool = False

    @classmethod
    def of(cls, client: bytes, server: bytes) -> Handshake:
        """From the raw TCP options of the client's SYN and the server's SYN-ACK (read only
        now, at a takeover, not for every SYN the device sees)."""
        c, s = tcp_options(client), tcp_options(server)
        return cls(
            c.mss or 536,  # RFC 9293 3.7.1: 536 when the SYN names none
            c.wscale,
            c.sack,
            c.ts_val is not None,
            s.mss or 536,
            s.wscale,
            s.sack,
            s.ts_val is not None,
        )


@dataclass(frozen=True)
class Segment:
    """The client's first data segment as held in the queue."""

    client: tuple[str, int]
    server: tuple[str, int]
    seq: int  # the client's sequence number of the first byte of data
    ack: int  # the server's next sequence number
    window: int  # the client's advertised window (unscaled field)
    ts_echo: int | None  # the server's last timestamp, echoed by the client
    seen: float = 0.0  # time.monotonic() when the device saw this segment


def _u32(value: int) -> bytes:
    """Sequence numbers and timestamps are unsigned 32-bit: past 2**31 they are no C int."""
    return struct.pack("I", value & 0xFFFFFFFF)


def adopt(seg: Segment, hs: Handshake, data: bytes) -> socket.socket:
    """A socket that is the server's end of the client's connection, with ``data`` (the
    bytes the client sent from ``seg.seq``) already received."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_IP, socket.IP_TRANSPARENT, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(SOL_TCP, TCP_REPAIR, 1)
        s.bind(seg.server)
        s.setsockopt(SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
        s.setsockopt(SOL_TCP, TCP_QUEUE_SEQ, _u32(seg.seq))
        s.setsockopt(SOL_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        s.setsockopt(SOL_TCP, TCP_QUEUE_SEQ, _u32(seg.ack))
        s.connect(seg.client)
        options = [(TCPOPT_MSS, max(TCP_MIN_MSS, min(hs.client_mss, hs.server_mss)))]
        client_scale = server_scale = 0  # windows are scaled only if both ends offered it
        if hs.client_wscale is not None and hs.server_wscale is not None:
            client_scale, server_scale = hs.client_wscale, hs.server_wscale
            # snd_wscale: how the client scales its windows; rcv_wscale: how ours are read.
            options.append((TCPOPT_WINDOW, client_scale | (server_scale << 16)))
        if hs.client_sack and hs.server_sack:
            options.append((TCPOPT_SACK_PERM, 0))
        ts_echo = seg.ts_echo if hs.client_ts and hs.server_ts else None
        if ts_echo is not None:
            options.append((TCPOPT_TIMESTAMP, 0))
        s.setsockopt(SOL_TCP, TCP_REPAIR_OPTIONS, b"".join(struct.pack("II", *o) for o in options))
        if ts_echo is not None:
            # Continue the server's millisecond clock from where the client last saw it, or
            # the client's PAWS check drops our segments as old.
            elapsed_ms = int((time.monotonic() - seg.seen) * 1000) if seg.seen else 0
            s.setsockopt(SOL_TCP, TCP_TIMESTAMP, _u32(ts_echo + 1 + elapsed_ms))
        snd_wnd = seg.window << client_scale
        rcv_wnd = 65535 << server_scale
        window = struct.pack("IIIII", seg.seq, snd_wnd, snd_wnd, min(rcv_wnd, 1 << 20), seg.seq)
        s.setsockopt(SOL_TCP, TCP_REPAIR_WINDOW, window)
        if data:
            s.setsockopt(SOL_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
            s.send(data)
        s.setsockopt(SOL_TCP, TCP_REPAIR, 0)
    except OSError:
        s.close()
        raise
    return s
