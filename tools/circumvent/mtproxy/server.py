"""An MTProto proxy with a fake-TLS secret in front of Telegram's data centres: a lab service.

    python -m tools.circumvent.mtproxy.server --listen ADDRESS [--port 443] --link-file FILE
        --mask ADDRESS[:PORT] --dc 1=149.154.175.53[:PORT] [--dc ...]

It speaks Telegram's published MTProxy protocol (tools/dpi/faketls.py,
tools/dpi/mtproxy_codec.py), as the official MTProxy and alexbers' mtprotoproxy do with
an ``ee`` secret; there is no Debian package of either. Per connection (port 443 unless
``--port`` says otherwise; 0 picks a free one, printed on the first line):

1. The first record must be a ClientHello for the secret's domain whose random is the
   secret's HMAC, made within the accepted time skew, and whose random was not seen
   before (the REPLAY_CACHE most recent are kept). The proxy answers with the fake
   ServerHello, ChangeCipherSpec and FILLER bytes of random "certificate".
2. Anything else, whatever a censor's active probe sends (no TLS, another name, a wrong
   or replayed digest), is masked: the proxy connects to the domain's real server
   (``--mask``, port 443 by default), hands it the bytes read so far and splices the two
   connections, so the prober talks to the real web site through the proxy.
3. A client's application data starts with the obfuscated2 init keyed with the secret;
   it must name the padded-intermediate framing and a data centre of ``--dc``, to which
   the proxy opens an ordinary obfuscated2 connection (the same framing) and relays the
   two streams, decrypting and encrypting again, until either side ends or IDLE_SECONDS
   pass without data.

One line per connection goes to stdout: peer, and what became of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import CipherContext

from tools.circumvent.mtproxy.link import link_file
from tools.dpi import faketls, mtproto_codec, mtproxy_codec
from tools.services.base import ServiceContext
from tools.services.readiness import Readiness, tcp_ready
from topologies.model import Service

PORT = 443
Endpoint = tuple[str, int]
HELLO_SECONDS = 10.0  # for the first record and the init
CONNECT_SECONDS = 5.0  # to a data centre or the masked site
IDLE_SECONDS = 60.0  # a relayed connection with no data either way for this long ends
REPLAY_CACHE = 65_536  # client randoms remembered
READ = 1 << 14
TAG = mtproto_codec.MODES["padded"]


class Refused(Exception):
    """A connection that is not a client of this proxy; ``seen`` are the bytes read so far."""

    def __init__(self, why: str, seen: bytes) -> None:
        super().__init__(why)
        self.seen = seen


class Proxy:
    """The proxy's state: its secret, where it sends clients and non-clients, the replays."""

    def __init__(self, secret: faketls.Secret, dcs: dict[int, Endpoint], mask: Endpoint) -> None:
        self.secret, self.dcs, self.mask = secret, dcs, mask
        self.seen: OrderedDict[bytes, None] = OrderedDict()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection and log one line; no peer can stop the proxy."""
        peer = _endpoint(writer.get_extra_info("peername"))
        try:
            outcome = await self._serve(reader, writer)
        except TimeoutError:
            outcome = "closed: timed out"
        except Exception as exc:  # noqa: BLE001 - one bad peer must never stop the server
            outcome = f"closed: {type(exc).__name__}: {exc}"
        finally:
            writer.close()
        print(f"{peer}: {outcome}", flush=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        try:
            async with asyncio.timeout(HELLO_SECONDS):
                greeting = await self._greeting(reader)
        except Refused as refused:
            return await self._masked(str(refused), refused.seen, reader, writer)
        writer.write(faketls.server_answer(greeting, self.secret, faketls.filler_size()))
        await writer.drain()
        incoming = _ApplicationData(reader)
        async with asyncio.timeout(HELLO_SECONDS):
            init = await incoming.exactly(mtproto_codec.INIT_SIZE)
        from_client, to_client = mtproxy_codec.ciphers(init, self.secret.key)
        decrypted = from_client.update(init)
        if decrypted[mtproto_codec.TAG_SLICE] != TAG:
            return "closed: init is not padded intermediate under this secret"
        dc = mtproxy_codec.dc_of(decrypted)
        if abs(dc) not in self.dcs:
            return f"closed: no data centre {dc}"
        address, port = self.dcs[abs(dc)]
        async with asyncio.timeout(CONNECT_SECONDS):
            dc_reader, dc_writer = await asyncio.open_connection(address, port)
        try:
            up, down = await self._relay(incoming, writer, from_client, to_client, dc_reader, dc_writer)
        finally:
            dc_writer.close()
        return f"client, DC{dc} {address}: {up} bytes up, {down} down"

    @staticmethod
    async def _relay(
        incoming: _ApplicationData,
        writer: asyncio.StreamWriter,
        from_client: CipherContext,
        to_client: CipherContext,
        dc_reader: asyncio.StreamReader,
        dc_writer: asyncio.StreamWriter,
    ) -> tuple[int, int]:
        """Open an ordinary obfuscated2 connection on the data centre's socket and relay:
        the client's stream decrypted and encrypted again for the DC, and back."""
        dc_init = mtproto_codec.random_init(TAG)
        to_dc, from_dc = mtproto_codec.ciphers(dc_init)
        rest = incoming.rest()
        dc_writer.write(mtproxy_codec.sent_init(dc_init, to_dc) + to_dc.update(from_client.update(rest)))
        up, down = await _both(
            _pump(incoming.read, dc_writer, lambda data: to_dc.update(from_client.update(data))),
            _pump(
                lambda: dc_reader.read(READ),
                writer,
                lambda data: faketls.application_data(to_client.update(from_dc.update(data))),
            ),
        )
        return len(rest) + up, down

    async def _greeting(self, reader: asyncio.StreamReader) -> faketls.Greeting:
        """The client's ClientHello checked against the secret and the replays (Refused if not)."""
        head = await reader.read(5)
        if not head:
            raise EOFError("closed before sending anything")
        while len(head) < 5 and head.startswith(b"\x16\x03\x01"[: len(head)]):
            more = await reader.read(5 - len(head))
            if not more:
                raise Refused("closed before a whole record header", head)
            head += more
        if not head.startswith(b"\x16\x03\x01") or len(head) < 5:
            raise Refused("not a TLS handshake record", head)
        length = int.from_bytes(head[3:5], "big")
        if length > faketls.MAX_RECORD:
            raise Refused(f"first record of {length} bytes", head)
        try:
            hello = head + await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise Refused("first record cut short", head + exc.partial) from None
        try:
            greeting = faketls.check_client_hello(hello, self.secret, time.time())
        except faketls.FakeTlsError as exc:
            raise Refused(str(exc), hello) from None
        if greeting.random in self.seen:
            raise Refused("a replayed ClientHello", hello)
        self.seen[greeting.random] = None
        while len(self.seen) > REPLAY_CACHE:
            self.seen.popitem(last=False)
        return greeting

    async def _masked(self, why: str, seen: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        """Hand the connection to the domain's real server, with the bytes already read."""
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                site_reader, site_writer = await asyncio.open_connection(*self.mask)
        except (OSError, TimeoutError) as exc:
            return f"masked ({why}): cannot reach {self.mask[0]}: {exc or type(exc).__name__}"
        try:
            site_writer.write(seen)
            up, down = await _both(
                _pump(lambda: reader.read(READ), site_writer, bytes),
                _pump(lambda: site_reader.read(READ), writer, bytes),
            )
        finally:
            site_writer.close()
        return f"masked ({why}): {len(seen) + up} bytes to {self.mask[0]}, {down} back"


class _ApplicationData:
    """What a fake-TLS client sends inside its application-data records, ChangeCipherSpec
    records skipped; anything else ends the stream."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.records = faketls.Records()
        self.buffer = b""

    async def read(self) -> bytes:
        """The next application data (b"" at the end of the stream or on another record)."""
        if self.buffer:
            data, self.buffer = self.buffer, b""
            return data
        return await self._records()

    async def _records(self) -> bytes:
        """The payload of the next records that carry application data."""
        while chunk := await self.reader.read(READ):
            data = b""
            for record in self.records.feed(chunk):
                if record.kind == faketls.APPLICATION_DATA:
                    data += record.payload
                elif record.kind != faketls.CHANGE_CIPHER_SPEC:
                    return data
            if data:
                return data
        return b""

    async def exactly(self, size: int) -> bytes:
        """The next ``size`` bytes of application data (EOFError if the stream ends first)."""
        while len(self.buffer) < size:
            more = await self._records()
            if not more:
                raise EOFError(f"application data ended after {len(self.buffer)} bytes")
            self.buffer += more
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def rest(self) -> bytes:
        """What was read beyond the last ``exactly``."""
        data, self.buffer = self.buffer, b""
        return data


async def _pump(
    read: Callable[[], Awaitable[bytes]], writer: asyncio.StreamWriter, change: Callable[[bytes], bytes]
) -> int:
    """Copy what ``read`` returns, changed, to ``writer`` until the end (then half-close);
    the number of bytes read. TimeoutError after IDLE_SECONDS without data."""
    total = 0
    while data := await asyncio.wait_for(read(), IDLE_SECONDS):
        total += len(data)
        writer.write(change(data))
        await writer.drain()
    if writer.can_write_eof() and not writer.is_closing():
        with contextlib.suppress(OSError):  # the peer is gone already: nothing left to tell it
            writer.write_eof()
    return total


async def _both(first: Awaitable[int], second: Awaitable[int]) -> tuple[int, int]:
    """Run two pumps to their ends; if one fails, the other is cancelled."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        up, down = await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return up, down


def _endpoint(address: tuple | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "?"


async def serve(proxy: Proxy, address: str, port: int) -> None:
    """Serve on address:port until SIGTERM or SIGINT."""
    server = await asyncio.start_server(proxy.handle, address, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    listening = _endpoint(server.sockets[0].getsockname())
    print(f"listening on {listening}, fake TLS for {proxy.secret.domain}, masked by {proxy.mask[0]}", flush=True)
    await stop.wait()
    server.close()


def start(ctx: ServiceContext, node: str, service: Service) -> list[Readiness]:
    """Make the proxy's secret for the service's ``domain`` in the run's private directory,
    write its link there, and run the proxy in ``node``."""
    address = str(ctx.model.primary_address(node))
    link = faketls.ProxyLink(address, PORT, faketls.Secret.new(service.params["domain"]))
    path = link_file(ctx.rundir)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(f"{link}\n")
    dcs = [arg for n, a in sorted(service.params["dcs"].items()) for arg in ("--dc", f"{n}={a}")]
    args = ["--listen", address, "--link-file", str(path), "--mask", service.params["mask"], *dcs]
    ctx.python(node, "mtproxy", "tools.circumvent.mtproxy.server", *args)
    return [tcp_ready(node, "MTProto proxy", address, PORT)]


def _endpoint_arg(text: str) -> Endpoint:
    """ADDRESS or ADDRESS:PORT (443 when none is given)."""
    address, _, port = text.partition(":")
    return address, int(port) if port else PORT


def _dc(text: str) -> tuple[int, Endpoint]:
    number, _, endpoint = text.partition("=")
    return int(number), _endpoint_arg(endpoint)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True, metavar="ADDRESS")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--link-file", required=True, type=Path, help="the tg://proxy link with the secret")
    parser.add_argument("--mask", required=True, type=_endpoint_arg, metavar="ADDRESS[:PORT]", help="the real site")
    parser.add_argument("--dc", action="append", type=_dc, required=True, metavar="N=ADDRESS[:PORT]")
    args = parser.parse_args(argv)
    try:
        link = faketls.ProxyLink.parse(args.link_file.read_text())
    except (OSError, ValueError) as exc:
        sys.exit(f"mtproxy: {args.link_file}: {exc}")
    try:
        asyncio.run(serve(Proxy(link.secret, dict(args.dc), args.mask), args.listen, args.port))
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else exc
        sys.exit(f"mtproxy: cannot listen on {args.listen}:{args.port}: {reason}")


if __name__ == "__main__":
    main()
