"""The search's evaluator inside one lab host: a fetch through one strategy at a time.

    python -m tools.circumvent.geneva.search.worker --socket PATH --url URL --root PEM [--timeout S] [--queue N]

Run it in a subscriber host (it refuses the root network namespace, as the engine does).
It listens on the Unix socket PATH, a file in the run's directory, for the search
(pool.py) and answers each request line ``{"strategy": TEXT, "seed": N}`` with one line:
what the fetch got and the engine's counts. For each request it applies the strategy to
the host's port-443 packets with the engine's own Runner (runner.py) and rules
(rules.py), as ``python -m tools.circumvent.geneva`` does, fetches URL with curl
meanwhile, and takes the rules away when curl ends. The queue stays bound from one
request to the next, so a request costs a fetch and a few iptables calls, not the
seconds it takes to start Python and scapy. The engine's random draws (``corrupt``) come
from the request's seed.

It runs at real-time priority, as the lab tests run the engine (tests/lab/strategies.py
says why), and its curl at normal priority (SCHED_RESET_ON_FORK).

What the fetch got (``got``): fitness.REAL when curl got the page (HTTP 2xx or 3xx) and
the chain it was sent names the lab's global root (--root) as an issuer; "page,
certificate from ISSUER" when the chain goes up to another root (the national one); else
how it failed, by curl's exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography import x509

from tools.circumvent.geneva import netns, rules
from tools.circumvent.geneva.parser import parse
from tools.circumvent.geneva.runner import Runner
from tools.circumvent.geneva.search.fitness import REAL
from tools.dpi import nfqueue

PRIORITY = 10  # SCHED_FIFO, as tests/lab/strategies.py runs the engine
GRACE = 5.0  # seconds past curl's own limit before it is killed
PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
FAILURES = {
    6: "dns",
    7: "connect",
    28: "timeout",
    35: "reset or TLS failure",
    52: "reset or TLS failure",
    56: "reset or TLS failure",
    51: "certificate rejected",
    60: "certificate rejected",
}


def got(status: int, output: str, root: x509.Name) -> str:
    """What one curl -w '%{http_code}\\n%{certs}' fetch got, in a few words."""
    if status != 0:
        return FAILURES.get(status, f"curl exit {status}")
    code, _, certs = output.partition("\n")
    if not code.startswith(("2", "3")):
        return f"HTTP {code}"
    chain = [x509.load_pem_x509_certificate(pem.encode()) for pem in PEM.findall(certs)]
    if any(cert.issuer == root for cert in chain):
        return REAL
    return f"page, certificate from {chain[-1].issuer.rfc4514_string()}" if chain else "page, no certificate"


class Worker:
    def __init__(self, url: str, root: x509.Name, timeout: float, queue_num: int) -> None:
        self.url, self.root, self.timeout, self.queue_num = url, root, timeout, queue_num
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.raw.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, rules.SENT)
        self.runner = Runner(parse("\\/"), self.raw, random.Random(0))
        self.queue = nfqueue.bind(queue_num, lambda pkt: self.runner.handle(pkt))
        self.evaluations = 0

    def close(self) -> None:
        rules.remove(self.queue_num)
        self.queue.run(block=False)
        self.queue.unbind()
        self.raw.close()

    def evaluate(self, text: str, seed: int) -> dict[str, Any]:
        strategy = parse(text)
        self.runner = Runner(strategy, self.raw, random.Random(seed))
        start = time.monotonic()
        rules.install(443, self.queue_num, {"out": strategy.outbound, "in": strategy.inbound})
        try:
            status, output = self.fetch()
        finally:
            rules.remove(self.queue_num)
            self.queue.run(block=False)
        self.evaluations += 1
        counts = self.runner.counts
        return {
            "got": got(status, output, self.root),
            "triggered": counts["triggered"],
            "made": counts["made"],
            "failed": counts["failed"],
            "seconds": round(time.monotonic() - start, 3),
        }

    def fetch(self) -> tuple[int, str]:
        """curl's exit status and output, the queue served until curl ends."""
        argv = ["curl", "-sS", "-o", "/dev/null", "-m", f"{self.timeout:g}", "-w", "%{http_code}\n%{certs}", self.url]
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
            ended = os.pidfd_open(proc.pid)
            try:
                deadline = time.monotonic() + self.timeout + GRACE
                while True:
                    readable = select.select([self.queue.get_fd(), ended], [], [], 0.5)[0]
                    if self.queue.get_fd() in readable:
                        self.queue.run(block=False)
                    if ended in readable:
                        break
                    if time.monotonic() > deadline:
                        proc.kill()
            finally:
                os.close(ended)
            status = proc.wait()
            out.seek(0)
            return status, out.read().decode(errors="replace")


def serve(worker: Worker, path: Path) -> None:
    """Answer the requests of one connection on ``path`` until it closes."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    try:
        server.bind(str(path))
        server.listen(1)
        print(f"ready: {path}", flush=True)
        conn, _ = server.accept()
        with conn, conn.makefile("rw") as stream:
            for line in stream:
                request = json.loads(line)
                stream.write(json.dumps(worker.evaluate(request["strategy"], request["seed"])) + "\n")
                stream.flush()
    finally:
        server.close()
        path.unlink(missing_ok=True)


def error(message: str) -> int:
    print(f"kzlab: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.circumvent.geneva.search.worker")
    parser.add_argument("--socket", type=Path, required=True, help="the Unix socket to listen on")
    parser.add_argument("--url", required=True, help="the https:// URL to fetch")
    parser.add_argument("--root", type=Path, required=True, help="the lab's global root (PEM)")
    parser.add_argument("--timeout", type=float, default=5.0, help="curl's limit on one fetch, seconds")
    parser.add_argument("--queue", type=int, default=17, help="the NFQUEUE number")
    args = parser.parse_args(argv)
    if (reason := netns.refusal()) is not None:
        return error(f"refusing to run here: {reason}; run it in a lab host")
    root = x509.load_pem_x509_certificate(args.root.read_bytes()).subject
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(PRIORITY))
    except PermissionError as exc:
        print(f"geneva search worker: at normal priority ({exc})", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    worker = Worker(args.url, root, args.timeout, args.queue)
    try:
        serve(worker, args.socket)
    finally:
        worker.close()
        print(f"geneva search worker: {worker.evaluations} evaluations", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
