"""A WireGuard interface in user space: wireguard-go on a TUN, configured by ``wg``, until stopped.

    unshare --mount --propagation private python -m tools.circumvent.tunnel.wgdevice \\
        --interface wg0 --profile FILE [--handshake]

The lab's kernel has no wireguard module, so the interface is wireguard-go's TUN device
and ``wg`` configures it through wireguard-go's control socket, which lives at the fixed
path /run/wireguard/<interface>.sock. Two lab hosts (the VPS and a subscriber), or two
runs, would share that directory: so this runs in its own mount namespace (``argv()``
starts it under ``unshare``) and mounts a fresh tmpfs on /run there, invisible to every
other process. It reads the profile before that (wg-quick's format: what ``wg setconf``
takes, and the interface's ``Address``), starts wireguard-go as its child, sets the
configuration, the address and the link up, and prints ``up``; with ``--handshake`` (a
client) it then waits for the first handshake with its peer and prints ``handshake``.
It ends wireguard-go on SIGTERM or SIGINT, and exits with an error line if wireguard-go
ends first. It refuses the root network namespace: run it in a lab host (the Mininet
CLI: ``mininet> home1 unshare ... --profile /run/kzlab/RUN/profiles/wireguard/home1.conf``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools.circumvent.geneva import netns

MODULE = "tools.circumvent.tunnel.wgdevice"
SOCKET_DIR = Path("/run/wireguard")
POLL_SECONDS = 0.05
SOCKET_SECONDS = 10.0  # wireguard-go makes its TUN and socket in milliseconds


def argv(interface: str, profile: Path, handshake: bool) -> list[str]:
    """The command that runs this module for ``interface`` in a mount namespace of its own."""
    args = ["--interface", interface, "--profile", str(profile), *(["--handshake"] * handshake)]
    return ["unshare", "--mount", "--propagation", "private", sys.executable, "-u", "-m", MODULE, *args]


def split_profile(text: str) -> tuple[str, str, str]:
    """(the profile without wg-quick's ``Address`` line, i.e. what ``wg setconf`` takes;
    the interface's address; the first peer's endpoint address, or "") of a profile."""
    kept, address, endpoint = [], "", ""
    for line in text.splitlines():
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "Address":
            address = value
            continue
        if key == "Endpoint" and not endpoint:
            endpoint = value.rpartition(":")[0]
        kept.append(line)
    return "\n".join(kept) + "\n", address, endpoint


def sh(*args: str, stdin: str | None = None) -> str:
    """A command's output; CalledProcessError (with its output) if it fails."""
    return subprocess.run(args, input=stdin, capture_output=True, text=True, check=True).stdout


def handshaken(interface: str) -> bool:
    """Whether some peer of ``interface`` completed a handshake (``wg show ... latest-handshakes``)."""
    return any(line.split()[1:] != ["0"] for line in sh("wg", "show", interface, "latest-handshakes").splitlines())


def main(args_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--interface", required=True)
    parser.add_argument("--profile", required=True, type=Path, help="the interface's profile (wg-quick format)")
    parser.add_argument("--handshake", action="store_true", help="wait for the first handshake and say so")
    args = parser.parse_args(args_)
    if (reason := netns.refusal()) is not None:
        print(f"kzlab: error: refusing to run here: {reason}; run it in a lab host", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    conf, address, _ = split_profile(args.profile.read_text())  # before /run, where the run's files are, is covered
    sh("mount", "-t", "tmpfs", "-o", "mode=0700", "kzlab-wireguard", "/run")
    device = subprocess.Popen(["wireguard-go", "-f", args.interface], env={**os.environ, "WG_PROCESS_FOREGROUND": "1"})
    try:
        return serve(device, args.interface, conf, address, args.handshake, stop)
    except subprocess.CalledProcessError as exc:
        print(f"kzlab: error: {' '.join(exc.cmd)}: {(exc.stderr or exc.stdout or '').strip()}", file=sys.stderr)
        return 1
    finally:
        if device.poll() is None:
            device.terminate()
        device.wait()


def serve(
    device: subprocess.Popen, interface: str, conf: str, address: str, handshake: bool, stop: threading.Event
) -> int:
    """Configure the running ``device``, then wait for ``stop`` or its end."""
    deadline = time.monotonic() + SOCKET_SECONDS
    while not (SOCKET_DIR / f"{interface}.sock").exists():
        if device.poll() is not None or time.monotonic() > deadline or stop.is_set():
            print(f"kzlab: error: wireguard-go made no control socket for {interface}", file=sys.stderr)
            return 1
        time.sleep(POLL_SECONDS)
    sh("wg", "setconf", interface, "/dev/stdin", stdin=conf)
    sh("ip", "address", "add", address, "dev", interface)
    sh("ip", "link", "set", interface, "up")
    print("up", flush=True)
    waiting = handshake
    while not stop.wait(POLL_SECONDS if waiting else 0.5):
        if device.poll() is not None:
            print(f"kzlab: error: wireguard-go exited ({device.returncode})", file=sys.stderr)
            return 1
        if waiting and handshaken(interface):
            print("handshake", flush=True)
            waiting = False
    return 0


if __name__ == "__main__":
    sys.exit(main())
