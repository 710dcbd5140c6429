"""DPI censors: the kernel picks the packets, Python decides (DESIGN principle 6).

A ``QueueCensor`` names, as iptables matches, the packets its decision needs (the first
data segment of a flow, DNS queries); everything else never leaves the kernel. Every
queue censor attached at a node is served by that node's one engine process (engine.py),
which decides a selected packet for each censor that selected it, in turn, in a single
trip through NFQUEUE: a DPI box classifies a packet once, not once per rule.

Each censor's chain in the node's FORWARD path (V: the engine's verdict is on the packet):

    -m mark --mark V+BLOCK -> save BLOCK on the connection; DROP
    -m connmark --mark BLOCK -> DROP
    -m mark --mark V+DONE  -> save DONE on the connection; RETURN
    -m connmark --mark DONE  -> RETURN
    <selection>, no V      -> MARK DONE   (before the verdict, DONE means "selected")

and after every censor's chain, the node's KZQ chain (a packet with none of these bits
returns at its first rule):

    -j KZQC: DONE, no V -> NFQUEUE 100+index        (fail-closed censors, oldest first)
    -j KZQO: DONE, no V -> NFQUEUE 100+index --queue-bypass   (the others, newest first)
    -m mark --mark V+X -> DROP   (a packet a censor dropped, once the flows' marks are saved)

so a packet is queued once however many censors selected it, and a decided flow's later
packets are dropped or passed by the kernel alone. As the selections all come before the
queue, a packet some chain drops in the kernel (a flow another censor blocked, an address
rule) is dropped before any censor decides it. With the engine gone, a packet any
fail-closed censor selected meets that censor's queue first and is dropped; one only
fail-open censors selected is passed (--queue-bypass).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tools.basics.params import BOOLEAN
from tools.censors.base import Attachment, Censor, Field
from tools.censors.process import CensorProcess

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from mininet.node import Node

MAX_ATTACHED = 12  # censors with their own mark bits at once (the lab hands out 1..12)
VERDICT, DROP_NOW = 0x4, 0x8  # bits 2-3: the engine has decided this packet; drop it at KZQ
CENSOR_BITS = sum(1 << bit for bit in range(4, 4 + 2 * MAX_ATTACHED))  # every censor's DONE and BLOCK
ENGINE_BITS = sum(1 << bit for bit in range(4, 4 + 2 * MAX_ATTACHED, 2)) | VERDICT | DROP_NOW  # DONE, V, X
QUEUE, CLOSED, OPEN = "KZQ", "KZQC", "KZQO"
QUEUE_CHAINS_SETUP = (  # idempotent: the node's queue chains, last in FORWARD
    f"iptables -w -N {QUEUE} 2>/dev/null && iptables -w -N {CLOSED} && iptables -w -N {OPEN}"
    f" && iptables -w -A {QUEUE} -m mark --mark 0x0/{ENGINE_BITS:#x} -j RETURN"  # no censor's business: at once
    f" && iptables -w -A {QUEUE} -j {CLOSED} && iptables -w -A {QUEUE} -j {OPEN}"
    f" && iptables -w -A {QUEUE} -m mark --mark {VERDICT | DROP_NOW:#x}/{VERDICT | DROP_NOW:#x} -j DROP;"
    f" iptables -w -C FORWARD -j {QUEUE} 2>/dev/null || iptables -w -A FORWARD -j {QUEUE}"
)
QUEUE_CHAINS_REMOVAL = (  # once no censor's queue rule is left in them
    f"iptables -w -S {CLOSED} 2>/dev/null | grep -q -- '^-A' || iptables -w -S {OPEN} 2>/dev/null | grep -q -- '^-A'"
    f" || {{ iptables -w -D FORWARD -j {QUEUE}; iptables -w -F {QUEUE};"
    f" iptables -w -X {QUEUE}; iptables -w -X {CLOSED}; iptables -w -X {OPEN}; }} 2>/dev/null; true"
)


def marks(index: int) -> tuple[int, int]:
    """(DONE, BLOCK) connection-mark bits of the censor attached with ``index`` (1..12);
    bits 0-1 belong to the interception device, 2-3 to the engine's verdict."""
    if not 1 <= index <= MAX_ATTACHED:
        raise ValueError(f"censor index {index} outside 1..{MAX_ATTACHED}")
    return 1 << (2 * index + 2), 1 << (2 * index + 3)


class QueueCensor(Censor):
    fields: ClassVar[dict[str, Field]] = {
        "fail_closed": Field(BOOLEAN, "drop what it selects while its engine is gone (default: fail open)", False),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.engine: NodeEngine | None = None

    @abstractmethod
    def selection(self) -> list[str]:
        """iptables matches (each a string) for the packets ``decide`` must see."""

    def chain(self, index: int) -> str:
        return f"KZC{index}"

    def flow_mark(self, flow: str, index: int) -> int:
        """The mark a decided flow's packet leaves the queue with (saved on its connection)."""
        done, block = marks(index)
        return block if flow == "block" else done

    def queue_rule(self, index: int) -> list[str]:
        """The rule of KZQC or KZQO that queues what this censor selected (after ``-A`` or ``-I``)."""
        done, _ = marks(index)
        chain, bypass = (CLOSED, []) if self.params.get("fail_closed") else (OPEN, ["--queue-bypass"])
        match = ["-m", "mark", "--mark", f"{done:#x}/{done | VERDICT:#x}"]
        return [chain, *match, "-j", "NFQUEUE", "--queue-num", str(100 + index), *bypass]

    def rules(self, index: int) -> list[list[str]]:
        """iptables arguments that install the censor's chain and queue rule, once
        QUEUE_CHAINS_SETUP has made the node's queue chains."""
        done, block = marks(index)
        chain = self.chain(index)
        out = [
            f"-N {chain}",
            f"-A {chain} -m mark --mark {VERDICT | block:#x}/{VERDICT | block:#x} -j CONNMARK --save-mark"
            f" --nfmask {block:#x} --ctmask {block:#x}",
            # The packet's own mark too: a packet conntrack does not track (SYN+FIN, say) has no
            # connection to carry the mark and would go round the queue for ever.
            f"-A {chain} -m mark --mark {VERDICT | block:#x}/{VERDICT | block:#x} -j DROP",
            f"-A {chain} -m connmark --mark {block:#x}/{block:#x} -j DROP",
            f"-A {chain} -m mark --mark {VERDICT | done:#x}/{VERDICT | done:#x} -j CONNMARK --save-mark"
            f" --nfmask {done:#x} --ctmask {done:#x}",
            f"-A {chain} -m mark --mark {VERDICT | done:#x}/{VERDICT | done:#x} -j RETURN",
            f"-A {chain} -m connmark --mark {done:#x}/{done:#x} -j RETURN",
        ]
        out += [
            f"-A {chain} {match} -m mark --mark 0x0/{VERDICT:#x} -j MARK --or-mark {done:#x}"
            for match in self.selection()
        ]
        queue = self.queue_rule(index)
        # fail-closed: oldest first (an engine that died before a newer one started still drops);
        # fail-open: newest first (a dead engine's bypass must not take a live engine's packets)
        out.append(" ".join(["-A" if queue[0] == CLOSED else "-I", *queue]))
        out.append(f"-I FORWARD -j {chain}")
        return [r.split() for r in out]

    def cleanup(self, index: int) -> list[list[str]]:
        """iptables arguments that remove what ``rules`` installed (errors ignored); then
        QUEUE_CHAINS_REMOVAL."""
        chain = self.chain(index)
        return [["-D", "FORWARD", "-j", chain], ["-F", chain], ["-X", chain], ["-D", *self.queue_rule(index)]]

    def attach(self, at: Attachment) -> None:
        self.host = at.host
        self.index = at.index
        config = {
            "censor": self.name,
            "params": self.params,
            "index": at.index,
            "log": str(at.workdir / "decisions.jsonl"),
        }
        (at.workdir / "engine.json").write_text(json.dumps(config))  # what the node's engine runs for it
        self.engine = NodeEngine.at(at.host, at.rundir)
        self.engine.attach(self, config)

    def failure(self) -> str | None:
        return self.engine.process.failure(f"censor {self.name}") if self.engine is not None else None

    def detach(self) -> None:
        """The engine stops serving the censor (and removes its rules), and they are removed
        here too, in case the engine had died first: a killed fail-closed censor must not
        keep dropping after detach."""
        if self.engine is not None:
            self.engine.detach(self)
            self.engine = None
        if self.host is not None:
            self.host.cmd(
                "; ".join("iptables -w " + " ".join(args) + " 2>/dev/null" for args in self.cleanup(self.index))
                + "; "
                + QUEUE_CHAINS_REMOVAL
            )


class NodeEngine:
    """The engine process of one node (engine.py) and the queue censors it serves. The
    first censor attached at a node starts it, the last one detached stops it; a censor
    attached after it died gets a new one (the dead one's censors stay dead: the runner
    reports them). Its configuration and log are in the run's censors/engine-NODE/."""

    running: ClassVar[dict[Node, NodeEngine]] = {}  # the live engine of each node

    def __init__(self, host: Node, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "engine.json"
        config.write_text(json.dumps({"censors": [], "control": True}))
        self.host = host
        self.served: dict[int, QueueCensor] = {}
        self.process = CensorProcess(
            host, "tools.censors.engine", config, directory / "engine.log", "the DPI engine", control=True
        )

    @classmethod
    def at(cls, host: Node, rundir: Path) -> NodeEngine:
        """The node's live engine, started if there is none."""
        engine = cls.running.get(host)
        if engine is None or engine.process.failure() is not None:
            engine = cls.running[host] = cls(host, rundir / "censors" / f"engine-{host.name}")
        return engine

    def attach(self, censor: QueueCensor, config: dict[str, Any]) -> None:
        reply = self.process.request(json.dumps({"attach": config}))
        if "ready" not in reply:
            raise RuntimeError(f"censor {censor.name} did not start on {self.host.name}: {reply}")
        self.served[config["index"]] = censor

    def detach(self, censor: QueueCensor) -> None:
        self.served.pop(censor.index, None)
        if self.served and self.process.failure() is None:
            self.process.request(json.dumps({"detach": censor.index}))
        elif not self.served:
            self.process.stop()
            if self.running.get(self.host) is self:
                del self.running[self.host]
