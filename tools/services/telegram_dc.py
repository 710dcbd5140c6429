"""Telegram's data centres (DC1-DC5) inside the lab, at their published addresses.

Each listening socket serves what a censor's DPI sees of a real DC: the obfuscated2
MTProto transport in its three framings, answering ``req_pq_multi`` (or ``req_pq``) with
``resPQ`` and closing on anything else, and plain HTTP, answered with a bare 404 as
Telegram's HTTP transport answers garbage, which is all OONI's telegram test checks.
Nothing goes further: the lab has no Telegram key, so no auth key is ever made.

    python -m tools.services.telegram_dc --listen 149.154.175.53 [--listen ...]
        [--port 443 --port 80]

One line per connection goes to stdout: peer, local address, outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from tools.dpi import mtproto_codec

DEFAULT_PORTS = (443, 80)
CONNECTION_TIMEOUT = 30.0
HTTP_METHODS = (b"POST ", b"GET ", b"HEAD ")
HTTP_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_REQUEST = 1024  # a req_pq_multi frame is 40 bytes; anything far bigger is not one
PQ = 1229739323 * 1402015859  # two 31-bit primes: the example in Telegram's auth-key docs
FINGERPRINT = 0xD09D1D85DE64FD85  # Telegram's production RSA key


class ListenError(RuntimeError):
    """A listening socket could not be opened; the message names the address."""


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    """The obfuscated2 init, or fewer bytes once they already start an HTTP request."""
    head = b""
    while len(head) < mtproto_codec.INIT_SIZE and not head.startswith(HTTP_METHODS):
        chunk = await reader.read(mtproto_codec.INIT_SIZE - len(head))
        if not chunk:
            raise mtproto_codec.ProtocolError(f"eof after {len(head)} bytes of init")
        head += chunk
    return head


async def _serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Answer 404, half-close, and discard the rest of the request until the client closes.

    Closing with unread request bytes would make the kernel send RST, which can destroy
    the response before the client reads it.
    """
    writer.write(HTTP_NOT_FOUND)
    await writer.drain()
    writer.write_eof()
    while await reader.read(4096):
        pass
    return "http 404"


async def _serve_mtproto(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, init: bytes, trail: list[str]
) -> str:
    """Answer every req_pq in the client's framing until it closes or sends anything else."""
    inbound, outbound = mtproto_codec.ciphers(init)
    mode = mtproto_codec.mode_of(inbound.update(init))
    trail.append(f"obfuscated2 {mode}")
    deframer = mtproto_codec.Deframer(mode, limit=MAX_REQUEST)
    while chunk := await reader.read(4096):
        for frame in deframer.feed(inbound.update(chunk)):
            nonce = mtproto_codec.parse_req_pq(mtproto_codec.parse_unencrypted(frame)[1])
            answer = mtproto_codec.ResPQ(nonce, os.urandom(16), PQ, (FINGERPRINT,))
            body = mtproto_codec.unencrypted(mtproto_codec.res_pq(answer), mtproto_codec.message_id(server=True))
            writer.write(outbound.update(mtproto_codec.encode_frame(mode, body)))
            trail.append("resPQ")
        await writer.drain()
    return "client closed"


async def _converse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trail: list[str]) -> str:
    head = await _read_head(reader)
    if head.startswith(HTTP_METHODS):
        return await _serve_http(reader, writer)
    return await _serve_mtproto(reader, writer, head, trail)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Serve one connection for at most CONNECTION_TIMEOUT, then close it and log one line."""
    peer, local = (_endpoint(writer.get_extra_info(key)) for key in ("peername", "sockname"))
    trail: list[str] = []
    try:
        async with asyncio.timeout(CONNECTION_TIMEOUT):
            outcome = await _converse(reader, writer, trail)
    except TimeoutError:
        outcome = f"closed: not done within {CONNECTION_TIMEOUT:g} s"
    except mtproto_codec.ProtocolError as exc:
        outcome = f"closed: {exc}"
    except Exception as exc:  # noqa: BLE001 - one bad peer must never stop the server
        outcome = f"closed: {type(exc).__name__}: {exc}"
    finally:
        writer.close()
    print(f"{peer} -> {local}: {', '.join([*trail, outcome])}", flush=True)


def _endpoint(address: tuple | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "?"


async def start_servers(addresses: list[str], ports: list[int]) -> list[asyncio.Server]:
    """Listen on every (address, port); a bind error names the address it failed on."""
    servers = []
    for address in addresses:
        for port in ports:
            try:
                servers.append(await asyncio.start_server(handle, address, port))
            except OSError as exc:
                for server in servers:
                    server.close()
                reason = os.strerror(exc.errno) if exc.errno else str(exc)
                raise ListenError(f"cannot listen on {address}:{port}: {reason}") from exc
    return servers


async def serve(addresses: list[str], ports: list[int]) -> None:
    """Serve until SIGTERM or SIGINT."""
    servers = await start_servers(addresses, ports)
    for server in servers:
        for sock in server.sockets:
            print(f"listening on {_endpoint(sock.getsockname())}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", action="append", required=True, metavar="ADDRESS")
    parser.add_argument("--port", action="append", type=int, metavar="PORT", help="repeatable; default 443 and 80")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.listen, args.port or list(DEFAULT_PORTS)))
    except ListenError as exc:
        sys.exit(f"telegram_dc: {exc}")


if __name__ == "__main__":
    main()
