"""The MTProto codec, the probe, and the lab's Telegram DC server, on loopback only.

The server runs as the lab runs it (``python -m tools.services.telegram_dc``) on an
ephemeral port; its per-connection log lines are collected so tests can check outcomes.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tools.dpi import mtproto_codec
from tools.probes import mtproto

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


class DcServer:
    """A running telegram_dc subprocess and the log lines it has printed so far."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "tools.services.telegram_dc", "--listen", LOOPBACK, "--port", "0"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = self.proc.stdout.readline()
        assert first.startswith(f"listening on {LOOPBACK}:"), first + self.proc.stderr.read()
        self.port = int(first.rsplit(":", 1)[1])
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def log_for(self, client_port: int, timeout: float = 2.0) -> str:
        """The log line of the connection from ``client_port``, once the server has written it."""
        prefix = f"{LOOPBACK}:{client_port} -> {LOOPBACK}:{self.port}: "
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith(prefix):
                    return line[len(prefix) :]
            time.sleep(0.01)
        raise AssertionError(f"no log line for port {client_port}: {self.lines}")


@pytest.fixture(scope="module")
def dc() -> Iterator[DcServer]:
    server = DcServer()
    yield server
    server.proc.terminate()
    assert server.proc.wait(timeout=5) == 0


def obfuscated(tag: bytes, payload: bytes = b"") -> bytes:
    """An obfuscated2 opening with an arbitrary ``tag``, then ``payload`` encrypted."""
    init = mtproto_codec.random_init(tag)
    outbound, _ = mtproto_codec.ciphers(init)
    return init[:56] + outbound.update(init)[56:] + outbound.update(payload)


def server_closes(port: int, payload: bytes, half_close: bool = False) -> tuple[bytes, int]:
    """Send ``payload``; return (bytes received until the server closed, our local port)."""
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(payload)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
        return received, sock.getsockname()[1]


def one_shot_server(reply: bytes) -> int:
    """A loopback listener that answers one connection with ``reply`` and closes it."""
    listener = socket.create_server((LOOPBACK, 0))

    def serve() -> None:
        with listener, listener.accept()[0] as conn:
            conn.recv(4096)
            conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


# --- against the server ------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(mtproto_codec.MODES))
def test_handshake_succeeds_in_every_framing(dc: DcServer, mode: str) -> None:
    result = mtproto.handshake(LOOPBACK, dc.port, timeout=2, mode=mode)
    assert result["ok"] is True
    assert (result["failure"], result["operation"]) == (None, None)
    assert (result["address"], result["port"]) == (LOOPBACK, dc.port)
    assert 0 < result["t"] < 2


def test_server_logs_mode_and_answer(dc: DcServer) -> None:
    with socket.create_connection((LOOPBACK, dc.port), timeout=2) as sock:
        sock.sendall(mtproto.first_packet("abridged"))
        assert sock.recv(4096)
        client_port = sock.getsockname()[1]
    assert dc.log_for(client_port) == "obfuscated2 abridged, resPQ, client closed"


def test_http_post_gets_a_status_line(dc: DcServer) -> None:
    result = mtproto.http_post(LOOPBACK, dc.port, timeout=2)
    assert (result["ok"], result["status"], result["failure"]) == (True, 404, None)


def test_http_answer_is_complete_and_closed(dc: DcServer) -> None:
    request = b"GET / HTTP/1.0\r\n\r\n"
    answer, client_port = server_closes(dc.port, request)
    assert answer == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    assert dc.log_for(client_port) == "http 404"


GARBAGE = {
    "random": (random.Random(7).randbytes(300), False, "closed: unknown protocol tag"),
    "tls_client_hello": (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(506),
        False,
        "closed: unknown protocol tag",
    ),
    "truncated_init": (
        obfuscated(mtproto_codec.MODES["intermediate"])[:30],
        True,
        "closed: eof after 30 bytes of init",
    ),
    "bad_tag": (obfuscated(b"\x01\x02\x03\x04"), False, "closed: unknown protocol tag 01020304"),
    "oversized_abridged": (
        obfuscated(mtproto_codec.MODES["abridged"], b"\x7f\xff\xff\xff"),
        False,
        "obfuscated2 abridged, closed: frame length 67108860 outside 1..1024",
    ),
    "unknown_message": (
        obfuscated(
            mtproto_codec.MODES["intermediate"],
            mtproto_codec.encode_frame(
                "intermediate", mtproto_codec.unencrypted(bytes.fromhex("bee412d7") + bytes(16), 4)
            ),
        ),
        False,
        "obfuscated2 intermediate, closed: not a req_pq: d712e4be",
    ),
}


@pytest.mark.parametrize("name", GARBAGE)
def test_garbage_is_closed_and_server_keeps_serving(dc: DcServer, name: str) -> None:
    payload, half_close, outcome = GARBAGE[name]
    answer, client_port = server_closes(dc.port, payload, half_close)
    assert answer == b""
    assert dc.log_for(client_port).startswith(outcome)
    assert mtproto.handshake(LOOPBACK, dc.port, timeout=2)["ok"] is True


def test_bind_error_names_the_address(dc: DcServer) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.services.telegram_dc", "--listen", LOOPBACK, "--port", str(dc.port)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert proc.returncode != 0
    assert f"cannot listen on {LOOPBACK}:{dc.port}" in proc.stderr
    assert proc.stderr.count("\n") == 1


# --- probe failures ----------------------------------------------------------------------


def test_closed_port_is_connection_refused() -> None:
    with socket.create_server((LOOPBACK, 0)) as probe:
        port = probe.getsockname()[1]
    result = mtproto.handshake(LOOPBACK, port, timeout=2)
    assert (result["ok"], result["failure"], result["operation"]) == (False, "connection_refused", "connect")


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        (b"", "eof_error"),
        (b"\x00" * 7, "mtproto_invalid_response"),
        (random.Random(3).randbytes(200), "mtproto_invalid_response"),
    ],
)
def test_handshake_failures(reply: bytes, failure: str) -> None:
    result = mtproto.handshake(LOOPBACK, one_shot_server(reply), timeout=2)
    assert (result["ok"], result["failure"], result["operation"]) == (False, failure, "mtproto_handshake")


def test_http_post_rejects_a_non_http_answer() -> None:
    result = mtproto.http_post(LOOPBACK, one_shot_server(b"SSH-2.0-OpenSSH\r\n"), timeout=2)
    assert (result["ok"], result["status"], result["failure"]) == (False, None, "http_invalid_response")


# --- codec -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", sorted(mtproto_codec.MODES))
def test_first_packet_decrypts_to_tag_and_req_pq(mode: str) -> None:
    packet = mtproto.first_packet(mode)
    init = packet[: mtproto_codec.INIT_SIZE]
    assert init[0] != 0xEF and any(init[4:8])
    inbound, _ = mtproto_codec.ciphers(init)
    assert mtproto_codec.mode_of(inbound.update(init)) == mode
    (frame,) = mtproto_codec.Deframer(mode).feed(inbound.update(packet[mtproto_codec.INIT_SIZE :]))
    msg_id, body = mtproto_codec.parse_unencrypted(frame)
    assert msg_id % 4 == 0 and abs((msg_id >> 32) - time.time()) < 5
    assert len(mtproto_codec.parse_req_pq(body)) == 16
    assert body[:4] == bytes.fromhex("f18e7ebe")


def test_ciphers_follow_the_obfuscated2_key_layout() -> None:
    init = bytes(range(64))
    reverse = init[8:56][::-1]

    def keystream(key: bytes, iv: bytes) -> bytes:
        return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(bytes(32))

    to_server, to_client = mtproto_codec.ciphers(init)
    assert to_server.update(bytes(32)) == keystream(init[8:40], init[40:56])
    assert to_client.update(bytes(32)) == keystream(reverse[:32], reverse[32:])
    assert keystream(init[8:40], init[40:56]) != keystream(reverse[:32], reverse[32:])


def test_random_init_redraws_what_real_clients_avoid(monkeypatch: pytest.MonkeyPatch) -> None:
    good = bytes(range(1, 65))
    draws = iter(
        [
            b"\xef" + good[1:],
            b"POST" + good[4:],
            b"\x16\x03\x01\x02" + good[4:],
            good[:4] + bytes(4) + good[8:],
            good,
        ]
    )
    monkeypatch.setattr(mtproto_codec, "urandom", lambda n: next(draws))
    init = mtproto_codec.random_init(b"\xee" * 4)
    assert init == good[:56] + b"\xee" * 4 + good[60:]


def test_res_pq_round_trip_and_nonce_mismatch() -> None:
    answer = mtproto_codec.ResPQ(bytes(range(16)), bytes(range(16, 32)), 0x17ED48941A08F981, (0xD09D1D85DE64FD85,))
    body = mtproto_codec.res_pq(answer)
    assert body[:4] == bytes.fromhex("63241605") and body[36:37] == b"\x08"
    assert len(body) == 4 + 16 + 16 + 12 + 8 + 8
    assert mtproto_codec.parse_res_pq(body, answer.nonce) == answer
    forged = body[:4] + bytes(16) + body[20:]
    with pytest.raises(mtproto_codec.ProtocolError, match="nonce"):
        mtproto_codec.parse_res_pq(forged, answer.nonce)
    with pytest.raises(mtproto_codec.ProtocolError, match="count"):
        mtproto_codec.parse_res_pq(body[:-8], answer.nonce)


@pytest.mark.parametrize("mode", sorted(mtproto_codec.MODES))
def test_framing_round_trip_byte_by_byte(mode: str) -> None:
    payloads = [bytes([n % 251]) * n for n in (4, 0x7E * 4, 0x7F * 4, 5000 * 4)]
    stream = b"".join(mtproto_codec.encode_frame(mode, p) for p in payloads)
    deframer = mtproto_codec.Deframer(mode)
    frames = [f for i in range(len(stream)) for f in deframer.feed(stream[i : i + 1])]
    assert len(frames) == len(payloads)
    for frame, payload in zip(frames, payloads, strict=True):
        assert frame[: len(payload)] == payload
        assert len(frame) - len(payload) in (range(16) if mode == "padded" else (0,))


def test_abridged_length_forms() -> None:
    assert mtproto_codec.encode_frame("abridged", bytes(0x7E * 4))[:1] == b"\x7e"
    assert mtproto_codec.encode_frame("abridged", bytes(0x7F * 4))[:4] == b"\x7f\x7f\x00\x00"
    assert mtproto_codec.encode_frame("abridged", bytes(0x10203 * 4))[:4] == b"\x7f\x03\x02\x01"
    assert mtproto_codec.encode_frame("intermediate", bytes(300))[:4] == b"\x2c\x01\x00\x00"
    with pytest.raises(ValueError):
        mtproto_codec.encode_frame("abridged", bytes(6))


@pytest.mark.parametrize(
    ("mode", "data"),
    [
        ("abridged", b"\x7f\xff\xff\xff"),
        ("intermediate", b"\x01\x04\x00\x00"),
        ("padded", b"\x00\x00\x00\x00"),
        ("abridged", b"\x80"),
    ],
)
def test_deframer_rejects_bad_lengths(mode: str, data: bytes) -> None:
    with pytest.raises(mtproto_codec.ProtocolError):
        mtproto_codec.Deframer(mode, limit=1024).feed(data)


def test_unencrypted_message_parsing() -> None:
    message = mtproto_codec.unencrypted(b"abcd", 1234 << 32)
    assert mtproto_codec.parse_unencrypted(message + bytes(7)) == (1234 << 32, b"abcd")
    with pytest.raises(mtproto_codec.ProtocolError, match="auth_key_id"):
        mtproto_codec.parse_unencrypted(b"\x01" + message[1:])
    with pytest.raises(mtproto_codec.ProtocolError, match="message_length"):
        mtproto_codec.parse_unencrypted(message[:-1])
    assert mtproto_codec.message_id(server=True) % 4 == 1
