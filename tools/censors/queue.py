"""DPI censors: the kernel picks the packets, Python decides (DESIGN principle 6).

A ``QueueCensor`` names, as iptables matches, the packets its decision needs (the first
data segment of a flow, DNS queries); everything else never leaves the kernel. Its
chain in the node's FORWARD path:

    -m mark --mark BLOCK -> save to the connection; -m connmark --mark BLOCK -> DROP
    -m mark --mark DONE  -> save to the connection; -m connmark --mark DONE  -> RETURN
    <selection> -> NFQUEUE --queue-bypass           (fail open: no reader, no censor)

so once a flow is decided, its later packets are dropped or passed by the kernel alone.
``fail_closed`` drops the bypass: with the censor process gone, selected packets are
dropped. The engine (engine.py) runs inside the node and does the queue's work.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import Any, ClassVar

from tools.basics.params import BOOLEAN
from tools.censors.base import Attachment, Censor, Field
from tools.censors.process import CensorProcess

MAX_ATTACHED = 12  # censors with their own mark bits at once (the lab hands out 1..12)


def marks(index: int) -> tuple[int, int]:
    """(DONE, BLOCK) connection-mark bits of the censor attached with ``index`` (1..12);
    bits 0-1 belong to the interception device."""
    if not 1 <= index <= MAX_ATTACHED:
        raise ValueError(f"censor index {index} outside 1..{MAX_ATTACHED}")
    return 1 << (2 * index + 2), 1 << (2 * index + 3)


class QueueCensor(Censor):
    fields: ClassVar[dict[str, Field]] = {
        "fail_closed": Field(BOOLEAN, "drop what it selects while its engine is gone (default: fail open)", False),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.process: CensorProcess | None = None

    @abstractmethod
    def selection(self) -> list[str]:
        """iptables matches (each a string) for the packets ``decide`` must see."""

    def chain(self, index: int) -> str:
        return f"KZC{index}"

    def flow_mark(self, flow: str, index: int) -> int:
        """The mark a decided flow's packet leaves the queue with (saved on its connection)."""
        done, block = marks(index)
        return block if flow == "block" else done

    def rules(self, index: int) -> list[list[str]]:
        done, block = marks(index)
        queue = [f"--queue-num {100 + index}"] + ([] if self.params.get("fail_closed") else ["--queue-bypass"])
        chain = self.chain(index)
        out = [
            f"-N {chain}",
            f"-A {chain} -m mark --mark {block:#x}/{block:#x} -j CONNMARK --save-mark --nfmask {block:#x} "
            f"--ctmask {block:#x}",
            # The packet's own mark too: a packet conntrack does not track (SYN+FIN, say) has no
            # connection to carry the mark and would go round the queue for ever.
            f"-A {chain} -m mark --mark {block:#x}/{block:#x} -j DROP",
            f"-A {chain} -m connmark --mark {block:#x}/{block:#x} -j DROP",
            f"-A {chain} -m mark --mark {done:#x}/{done:#x} -j CONNMARK --save-mark --nfmask {done:#x} "
            f"--ctmask {done:#x}",
            f"-A {chain} -m mark --mark {done:#x}/{done:#x} -j RETURN",
            f"-A {chain} -m connmark --mark {done:#x}/{done:#x} -j RETURN",
        ]
        out += [f"-A {chain} {match} -j NFQUEUE {' '.join(queue)}" for match in self.selection()]
        out.append(f"-I FORWARD -j {chain}")
        return [r.split() for r in out]

    def cleanup(self, index: int) -> list[list[str]]:
        """iptables arguments that remove what ``rules`` installed (errors ignored)."""
        chain = self.chain(index)
        return [["-D", "FORWARD", "-j", chain], ["-F", chain], ["-X", chain]]

    def attach(self, at: Attachment) -> None:
        self.host = at.host
        self.index = at.index
        config = {
            "censor": self.name,
            "params": self.params,
            "index": at.index,
            "log": str(at.workdir / "decisions.jsonl"),
        }
        path = at.workdir / "engine.json"
        path.write_text(json.dumps(config))
        self.process = CensorProcess(
            at.host, "tools.censors.engine", path, at.workdir / "engine.log", f"censor {self.name}"
        )

    def failure(self) -> str | None:
        return self.process.failure() if self.process is not None else None

    def detach(self) -> None:
        """Stop the engine (it removes its rules) and remove them here too, in case it had
        died first: a killed fail-closed censor must not keep dropping after detach."""
        if self.process is not None:
            self.process.stop()
            self.process = None
        if self.host is not None:
            self.host.cmd(
                "; ".join("iptables -w " + " ".join(args) + " 2>/dev/null" for args in self.cleanup(self.index))
            )
