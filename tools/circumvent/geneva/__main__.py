"""Apply a Geneva strategy to this lab host's own packets for one TCP port, until stopped.

    python -m tools.circumvent.geneva --strategy STRATEGY [--port 443] [--queue N]
    python -m tools.circumvent.geneva --list

STRATEGY is a strategy string in Geneva's syntax or a name from the library (--list).
Run it inside a lab host (mininet> home2 python -m tools.circumvent.geneva ...): it
refuses the root network namespace. It prints ``ready`` once its iptables rules are in,
and removes them on SIGTERM or SIGINT. A strategy that does not parse is one line
``kzlab: error: strategy: ...`` naming the position, and exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading

from tools.circumvent.geneva import netns
from tools.circumvent.geneva.library import LIBRARY, strategy_named
from tools.circumvent.geneva.parser import StrategyError


def error(message: str) -> int:
    print(f"kzlab: error: {message}", file=sys.stderr)
    return 2


def print_library() -> None:
    for named in LIBRARY.values():
        print(f"{named.name}\n  {named.strategy}\n  {named.what}\n  success: {named.success}\n  source: {named.source}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.circumvent.geneva", description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", help="a strategy in Geneva's syntax, or a library name")
    parser.add_argument("--port", type=int, default=443, help="the TCP port whose packets it acts on (default 443)")
    parser.add_argument("--queue", type=int, default=0, help="the NFQUEUE number (default 0)")
    parser.add_argument("--list", action="store_true", help="print the library's strategies")
    args = parser.parse_args(argv)
    if args.list:
        print_library()
        return 0
    if args.strategy is None:
        return error("--strategy is required (a strategy string, or a name from --list)")
    try:
        strategy = strategy_named(args.strategy)
    except StrategyError as exc:
        return error(f"strategy: {exc}")
    if not 1 <= args.port <= 65535 or not 0 <= args.queue <= 65535:
        return error(f"--port must be 1..65535 and --queue 0..65535, got {args.port} and {args.queue}")
    if (reason := netns.refusal()) is not None:
        return error(f"refusing to run here: {reason}; run it in a lab host (mininet> home2 python -m ...)")

    from tools.circumvent.geneva.runner import serve  # netfilterqueue: only where it will run

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        counts = serve(strategy, args.port, args.queue, stop)
    except subprocess.CalledProcessError as exc:
        return error(f"iptables {' '.join(exc.cmd[2:])}: {(exc.stderr or '').strip() or exc.returncode}")
    except OSError as exc:  # the queue cannot be bound (another reader has it) or read
        return error(f"queue {args.queue}: {exc}")
    print("geneva: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
