"""A Telegram client's first round trip to a data centre through a fake-TLS MTProto proxy.

``handshake`` does what the Telegram app does with a ``tg://proxy`` link whose secret
starts with ``ee``: a ClientHello for the secret's domain carrying the secret's HMAC
(tools/dpi/faketls.py), a check that the proxy's ServerHello carries the answering HMAC
(else the server is not this proxy: the domain's own server, say), then the obfuscated2
init keyed with the secret and naming the data centre (tools/dpi/mtproxy_codec.py) and a
framed ``req_pq_multi``, both inside TLS application-data records, and the ``resPQ`` the
data centre sends back through the proxy. The result names the step that failed:
``connect`` (to the proxy), ``tls_handshake`` (the fake one) or ``mtproto_handshake``,
with OONI's df-007 failure strings and the lab's ``mtproto_invalid_response`` for an
answer that is there but is not the protocol's.

    python -m tools.probes.mtproxy 'tg://proxy?server=...&port=...&secret=ee...' [--dc N ...]

prints one JSON line per data centre (all five unless ``--dc`` says) and exits 0 if any
was reached, 1 if none, 2 for a link that is not one.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from os import urandom
from typing import Any

from tools.dpi import faketls, mtproxy_codec
from tools.dpi.mtproto_codec import (
    MODES,
    Deframer,
    ProtocolError,
    encode_frame,
    message_id,
    parse_res_pq,
    parse_unencrypted,
    req_pq_multi,
    unencrypted,
)
from tools.probes.failures import classify
from tools.probes.mtproto import INVALID_MTPROTO
from tools.probes.netx import Timeouts
from topologies.internet import TELEGRAM_DCS

MODE = "padded"  # what fake-TLS proxies accept


class _Incoming:
    """The records a proxy sends, one at a time, as they arrive."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = faketls.Records()
        self.pending: deque[faketls.Record] = deque()

    def next(self) -> faketls.Record:
        """The next whole record; EOFError if the connection ends between records,
        ProtocolError if inside one."""
        while not self.pending:
            chunk = self.sock.recv(4096)
            if not chunk:
                if self.reader.partial:
                    raise ProtocolError(f"connection closed {self.reader.partial} bytes into a record")
                raise EOFError("connection closed")
            self.pending.extend(self.reader.feed(chunk))
        return self.pending.popleft()

    def application_data(self) -> bytes:
        """The payload of the next record, which must be application data."""
        record = self.next()
        if record.kind != faketls.APPLICATION_DATA:
            raise ProtocolError(f"record of type {record.kind:#x} where data was expected")
        return record.payload


def handshake(
    address: str, port: int, secret: faketls.Secret, dc: int, timeouts: Timeouts | None = None
) -> dict[str, Any]:
    """Reach data centre ``dc`` through the proxy at ``address``:``port``, connecting within
    the probes' connect timeout and waiting on each answer at most their TLS timeout."""
    timeouts = timeouts or Timeouts()
    start = time.monotonic()
    result: dict[str, Any] = {"address": address, "port": port, "dc": dc, "ok": False, "failure": None}
    result["operation"] = "connect"
    try:
        with socket.create_connection((address, port), timeout=timeouts.connect) as sock:
            sock.settimeout(timeouts.tls)
            result["operation"] = "tls_handshake"
            incoming = _Incoming(sock)
            hello = faketls.client_hello(secret, time.time())
            sock.sendall(hello)
            answer = [incoming.next() for _ in range(3)]
            faketls.check_server_answer(answer, hello[faketls.RANDOM], secret)
            result["operation"] = "mtproto_handshake"
            _req_pq(sock, incoming, secret, dc)
        result.update(ok=True, operation=None)
    except (ProtocolError, faketls.FakeTlsError):
        result["failure"] = INVALID_MTPROTO
    except (OSError, EOFError) as exc:
        result["failure"] = classify(exc)
    result["t"] = round(time.monotonic() - start, 6)
    return result


def _req_pq(sock: socket.socket, incoming: _Incoming, secret: faketls.Secret, dc: int) -> None:
    """Send the init and req_pq_multi through the proxy; check the resPQ that returns."""
    init = mtproxy_codec.client_init(MODES[MODE], dc)
    outbound, inbound = mtproxy_codec.ciphers(init, secret.key)
    nonce = urandom(16)
    request = encode_frame(MODE, unencrypted(req_pq_multi(nonce), message_id(server=False)))
    stream = mtproxy_codec.sent_init(init, outbound) + outbound.update(request)
    sock.sendall(faketls.CHANGE_CIPHER + faketls.application_data(stream))
    deframer = Deframer(MODE)
    while not (frames := deframer.feed(inbound.update(incoming.application_data()))):
        pass
    parse_res_pq(parse_unencrypted(frames[0])[1], nonce)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Telegram's data centres through a fake-TLS MTProto proxy")
    parser.add_argument("link", help="tg://proxy?server=ADDRESS&port=PORT&secret=ee...")
    parser.add_argument("--dc", type=int, action="append", choices=sorted(TELEGRAM_DCS), help="repeatable")
    args = parser.parse_args(argv)
    try:
        link = faketls.ProxyLink.parse(args.link)
    except ValueError as exc:
        parser.error(str(exc))
    dcs = args.dc or sorted(TELEGRAM_DCS)
    with ThreadPoolExecutor(max_workers=len(dcs)) as pool:
        results = list(pool.map(lambda dc: handshake(link.server, link.port, link.secret, dc), dcs))
    for result in results:
        print(json.dumps(result))
    return 0 if any(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
