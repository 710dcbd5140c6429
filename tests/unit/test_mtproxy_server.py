"""The fake-TLS MTProto proxy (tools/circumvent/mtproxy/server.py) on loopback only: the
lab's DC server and a stand-in for the masking site on ephemeral ports, the proxy as the
lab runs it (``python -m``). Its clients reach their DC; replays, other names and garbage
reach the site; no input stops it or keeps it busy; SIGTERM ends it.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.conftest import LOOPBACK, LoopbackServer
from tools.basics.processes import stop_process
from tools.dpi import faketls, mtproxy_codec
from tools.dpi.faketls import ProxyLink
from tools.dpi.mtproto_codec import MODES
from tools.probes import mtproxy

REPO = Path(__file__).resolve().parents[2]
SITE_ANSWER = b"the real site"
CAPTURE: dict = {"cwd": REPO, "capture_output": True, "text": True, "timeout": 60}
DC = 2


def listening_port(proc: subprocess.Popen) -> int:
    first = proc.stdout.readline()
    assert first.startswith(f"listening on {LOOPBACK}:"), first + proc.stderr.read()
    return int(first.split()[2].rstrip(",").rsplit(":", 1)[1])


def python(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-u", "-m", *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@dataclass
class Lab:
    secret: faketls.Secret
    port: int
    proc: subprocess.Popen
    site: list[bytes]  # what the masking site received, per connection


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One proxy for the module (the last test ends it), its DC and its masking site."""
    dc = python("tools.services.telegram_dc", "--listen", LOOPBACK, "--port", "0")
    received: list[bytes] = []

    def site(conn: socket.socket) -> None:
        conn.settimeout(2)
        data = b""
        try:
            while chunk := conn.recv(65536):  # until the proxy passes the prober's end on
                data += chunk
        except TimeoutError:
            pass
        received.append(data)
        conn.sendall(SITE_ANSWER)

    masking = LoopbackServer(site)
    secret = faketls.Secret.new("kaspi.kz")
    link = tmp_path_factory.mktemp("mtproxy") / "proxy.link"
    link.write_text(f"{ProxyLink(LOOPBACK, 443, secret)}\n")
    endpoint = f"{LOOPBACK}:{listening_port(dc)}"
    args = ["--listen", LOOPBACK, "--port", "0", "--link-file", str(link), "--mask", f"{LOOPBACK}:{masking.port}"]
    proc = python("tools.circumvent.mtproxy.server", *args, "--dc", f"{DC}={endpoint}")
    try:
        yield Lab(secret, listening_port(proc), proc, received)
    finally:
        for p in (proc, dc):
            stop_process(p)
        masking.close()


def client(lab: Lab, dc: int = DC) -> dict:
    return mtproxy.handshake(LOOPBACK, lab.port, lab.secret, dc)


def exchange(lab: Lab, data: bytes, then: bytes = b"") -> bytes:
    """Send ``data`` (and ``then`` once something came back), end our side, read to the end."""
    with socket.create_connection((LOOPBACK, lab.port), timeout=5) as s:
        s.sendall(data)
        answer = s.recv(65536) if then else b""
        if then:
            s.sendall(then)
        s.shutdown(socket.SHUT_WR)
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def test_a_client_reaches_its_data_centre_and_only_a_known_one(proxy: Lab) -> None:
    assert client(proxy)["ok"]
    unknown = client(proxy, dc=3)
    assert (unknown["operation"], unknown["failure"]) == ("mtproto_handshake", "eof_error")


def test_replays_other_names_and_other_protocols_reach_the_site(proxy: Lab) -> None:
    hello = faketls.client_hello(proxy.secret, time.time())
    first = exchange(proxy, hello)
    assert first[:3] == b"\x16\x03\x03" and not proxy.site  # the proxy's own answer
    other = faketls.client_hello(faketls.Secret(proxy.secret.key, "vk.com"), time.time())
    for probe in (hello, other, b"GET / HTTP/1.1\r\nHost: kaspi.kz\r\n\r\n"):
        assert exchange(proxy, probe) == SITE_ANSWER
    assert proxy.site == [hello, other, b"GET / HTTP/1.1\r\nHost: kaspi.kz\r\n\r\n"]


def test_no_input_stops_or_busies_the_proxy(proxy: Lab) -> None:
    rng = random.Random(5)
    for n in range(60):
        hello = faketls.client_hello(proxy.secret, time.time())
        init = mtproxy_codec.client_init(MODES["padded"], DC)
        cases = (
            (rng.randbytes(rng.randint(1, 3000)), b""),
            (b"\x16\x03\x01" + rng.randbytes(rng.randint(0, 600)), b""),
            (hello, faketls.CHANGE_CIPHER + rng.randbytes(rng.randint(1, 300))),  # no records
            (hello, faketls.CHANGE_CIPHER + faketls.application_data(rng.randbytes(rng.randint(1, 63)))),  # short init
            (hello, faketls.application_data(init)),  # an init not keyed with the secret
            (bytes(b ^ (i == n * 7 % len(hello)) for i, b in enumerate(hello)), b""),  # one bit changed
        )
        exchange(proxy, *cases[n % len(cases)])
    started = time.monotonic()
    assert client(proxy)["ok"] and time.monotonic() - started < 2
    assert proxy.proc.poll() is None


def probe_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.probes.mtproxy", *args], **CAPTURE)


def test_the_probe_command_takes_the_link(proxy: Lab) -> None:
    link = str(ProxyLink(LOOPBACK, proxy.port, proxy.secret))
    ok = probe_command(link, "--dc", str(DC))
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"], ok.stderr
    refused = probe_command(link, "--dc", "3")
    assert refused.returncode == 1 and json.loads(refused.stdout)["failure"] == "eof_error"
    bad = probe_command(link.replace("secret=ee", "secret=dd"))
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.strip().splitlines()[-1].endswith("error: a fake-TLS secret is ee, 16 key bytes and a domain")


def test_sigterm_ends_it(proxy: Lab) -> None:  # the module's last test
    with socket.create_connection((LOOPBACK, proxy.port)) as idle:  # a connection in progress
        idle.sendall(b"\x16\x03\x01")
        proxy.proc.terminate()
        assert proxy.proc.wait(5) == 0
