"""BlockpageForHTTPHost: a DPI box that answers a listed plain-HTTP Host with a block page.

On the first data segment of a port-80 flow, if the request's Host is on the list it
drops the request, injects an HTTP 200 block page (with FIN) to the client as if from
the server, resets the server's side, and the kernel drops the rest of the flow. The
page's title says access is restricted. Models the ISP block pages of the 2016-2019
blocking (kazakhstan.md section 3, mechanism unconfirmed); as ooni/netem's
DPISpoofBlockpageForString.
"""

from __future__ import annotations

from typing import ClassVar

from tools.censors.base import Decision, Field
from tools.censors.matching import LIST_FIELDS, ListsNames
from tools.censors.queue import QueueCensor
from tools.censors.tls_sni import selects_first_data
from tools.dpi.ipv4 import ACK, FIN, PSH, RST, Packet, tcp_segment

PAGE = (
    b"<!doctype html><html><head><title>Access restricted</title></head><body><h1>Access to this "
    b"resource is restricted</h1><p>In accordance with the legislation of the Republic of Kazakhstan "
    b"access to this resource has been restricted.</p></body></html>"
)


def request_host(payload: bytes) -> str | None:
    """The Host of an HTTP/1.x request head in ``payload`` (the first segment), if any."""
    head = payload.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    if len(lines[0].split(b" ")) != 3 or not lines[0].split(b" ")[2].startswith(b"HTTP/"):
        return None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            return value.strip().split(b":")[0].decode("ascii", "replace").lower()
    return None


class BlockpageForHTTPHost(ListsNames, QueueCensor):
    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | LIST_FIELDS
    models = "kazakhstan.md section 3 (block pages for plain HTTP; mechanism unconfirmed)"
    probe_sees = 'web_connectivity on http:// URLs: blocking "http-diff" (status/title/body differ)'
    circumvention = "HTTPS, a Host split over segments or in odd case/spacing, a VPN/proxy"

    def selection(self) -> list[str]:
        return ["-p tcp --dport 80 -m length --length 81:65535"]

    def selects(self, pkt: Packet) -> bool:
        return selects_first_data(pkt, 80)

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        host = request_host(pkt.payload)
        if not self.listed.covers(host):
            flows[pkt.key] = "pass"
            return Decision(flow="pass")
        flows[pkt.key] = "block"
        ack = pkt.seq + len(pkt.payload)
        response = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(PAGE)
        ) + PAGE
        to_client = tcp_segment(
            pkt.dst, pkt.dport, pkt.src, pkt.sport, pkt.ack, ack, FIN | PSH | ACK, response, window=8192
        )
        to_server = tcp_segment(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.seq, 0, RST)
        return Decision("drop", [to_client, to_server], flow="block", note=f"block page: Host {host}")
