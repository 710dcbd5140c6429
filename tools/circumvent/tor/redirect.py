"""The host's own iptables rules that send its TCP and DNS through tor, as Tor's
transparent-proxy setups do (TransPort, DNSPort): in the nat table's OUTPUT chain of the
subscriber's own network namespace, so the host's programs (the probes, curl, a browser)
need nothing.

Every new TCP connection is redirected to tor's TransPort and every DNS query over UDP,
to whichever resolver, to its DNSPort; tor's own connections are left alone by their
destination (the relays or the bridge it talks to: the lab's tors run as root, like
every process of a lab host, so there is no tor user to tell them by). Everything sits
in one chain of its own, loaded at once with iptables-restore (nothing of it is left if
loading fails) and removed whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mininet.node import Node

CHAIN = "KZLAB_TOR"


def rules(exempt: Iterable[str], trans_port: int, dns_port: int) -> str:
    """iptables-restore input for the chain and the jump to it."""
    lines = ["*nat", f":{CHAIN} - [0:0]", f"-A {CHAIN} -d 127.0.0.0/8 -j RETURN"]
    lines += [f"-A {CHAIN} -d {address}/32 -j RETURN" for address in dict.fromkeys(exempt)]
    lines += [
        f"-A {CHAIN} -p udp --dport 53 -j REDIRECT --to-ports {dns_port}",
        f"-A {CHAIN} -p tcp --syn -j REDIRECT --to-ports {trans_port}",
        f"-A OUTPUT -j {CHAIN}",
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


def install(host: Node, path: Path, text: str) -> None:
    """Load ``text`` (rules()) in ``host``; RuntimeError with iptables' words if it fails."""
    if CHAIN in host.cmd("iptables -w -t nat -S OUTPUT"):
        raise RuntimeError(f"{host.name} sends its traffic through a tor already ({CHAIN} in nat OUTPUT)")
    path.write_text(text)
    out = host.cmd(f"iptables-restore -w --noflush < {path} 2>&1; echo rc=$?").strip()
    if not out.endswith("rc=0"):
        raise RuntimeError(f"iptables-restore in {host.name}: {' '.join(out.split())}")


def remove(host: Node) -> None:
    """Remove the jump and the chain (nothing happens if they are not there)."""
    host.cmd(
        f"iptables -w -t nat -D OUTPUT -j {CHAIN} 2>/dev/null; "
        f"iptables -w -t nat -F {CHAIN} 2>/dev/null; iptables -w -t nat -X {CHAIN} 2>/dev/null"
    )
