"""A student's censor run over the hidden captures and over hostile packets, offline.

Every packet goes through tools.censors.offline.grade: the censor's own ``selects`` and
``decide``, the flow table the kernel's connection marks keep live, and the engine's
rule for a packet whose handling raises (it gets the failure verdict: accept, the censor
fails open). So what is measured here is what the live engine would do.

- ``captured``: each labelled flow of the hidden captures (flows.py), blocked or not:
  a flow is blocked when one of its packets is dropped or answered (something injected).
- ``hostile``: 1,800 malformed packets around the rule's triggers (the listed names,
  addresses, ports) and 1,800 around what the rule leaves alone (tools/dpi/hostile.py,
  seeded by the variant), through one censor: whether a decision raised (fine: the
  engine fails open), stalled (more than SLOW seconds of CPU: the engine's one loop
  waits for it), or escaped the engine's guard (SystemExit, KeyboardInterrupt: the
  engine dies); how many packets of the second set it blocked, though none names what
  the rule blocks (failing closed); and whether, after all that, the same censor still
  blocks a flow the rule blocks and passes one it passes.

Student code runs here: the checker runs this module in a child process (run.py
evaluate) with limits, and reads the results it writes after each phase.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from build_a_censor.flows import Addresses, Flow, address_of, hidden
from build_a_censor.rules import ALLOWED
from tools.censors.offline import FlowTable, grade
from tools.censors.queue import QueueCensor
from tools.dpi import hostile
from tools.dpi.pcap import Frame

SLOW = 0.25  # CPU seconds for one decision, as tests/unit/test_hostile.py allows the catalogue's censors
HOSTILE_PER_SET = 1800


class Watch:
    """Times the censor's ``selects`` and ``decide`` (CPU) and knows which packet is being
    graded, so a slow or fatal packet can be named."""

    def __init__(self, censor: QueueCensor) -> None:
        self.slowest, self.slowest_at, self.current = 0.0, "", ""
        for method in ("selects", "decide"):
            setattr(censor, method, self.timed(getattr(censor, method)))

    def timed(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            start = time.process_time()
            try:
                return method(*args)
            finally:
                spent = time.process_time() - start
                if spent > self.slowest:
                    self.slowest, self.slowest_at = spent, self.current

        return call

    def feed(self, packets: Iterable[tuple[str, bytes]]) -> Iterator[Frame]:
        """Frames for offline.grade, noting each packet's label as it is handed over."""
        for n, (label, data) in enumerate(packets):
            self.current = label
            yield Frame(n * 0.001, data, False)


def run(censor: QueueCensor, watch: Watch, packets: list[tuple[str, bytes]], table: FlowTable) -> dict[str, Any]:
    """offline.grade over ``packets`` ((label, bytes) pairs): which packets were blocked,
    how many raised (the first error), and the escape that stopped it, if one did."""
    blocked: set[int] = set()
    raised, first_error, crash = 0, None, None
    try:
        for v in grade(censor, watch.feed(packets), table):
            if v["verdict"] == "drop" or v["injected"]:
                blocked.add(v["packet"] - 1)
            if v["failed"]:
                raised += 1
                first_error = first_error or f"{v['note']} on {packets[v['packet'] - 1][0]}"
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt: what would kill the engine
        crash = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]} on {watch.current}"
    return {"blocked": blocked, "raised": raised, "first_error": first_error, "crash": crash}


def captured(censor: QueueCensor, flows: list[Flow]) -> dict[str, Any]:
    """Each flow of the hidden captures: what the rule does with it and what the censor did."""
    watch = Watch(censor)
    packets = [(flow.what, data) for flow in flows for data in flow.packets]
    owner = [i for i, flow in enumerate(flows) for _ in flow.packets]
    seen = run(censor, watch, packets, FlowTable())
    blocked = {owner[n] for n in seen.pop("blocked")}
    rows = [{"what": f.what, "block": f.block, "blocked": i in blocked} for i, f in enumerate(flows)]
    return {"flows": rows, **seen}


def targets(variant: dict[str, Any], lab: Addresses) -> tuple[hostile.Target, hostile.Target, tuple[str, ...]]:
    """The hostile sets' targets, around the rule's triggers and around what it leaves alone,
    and the names no packet of the second set may carry to count as innocent."""
    params, rule, probe = variant["params"], variant["rule"], variant["probe"]
    client = lab.subscribers[0]
    port = 80 if rule == "http_blockpage" else 443
    listed = tuple(params.get("domains", ()))
    trigger = address_of(probe["blocked"]) if rule != "mtproto" else probe["blocked"]
    near = hostile.Target(client, trigger, lab.public_resolver, listed or hostile.Target.names, tls_port=port)
    spared = [ipaddress.IPv4Network(p) for p in params.get("prefixes", ())]
    allowed = tuple(n for n in ALLOWED if not any(ipaddress.IPv4Address(address_of(n)) in net for net in spared))
    far = hostile.Target(client, address_of(probe["allowed"]), lab.public_resolver, allowed[:3], tls_port=port)
    return near, far, listed


def names_in(data: bytes, names: tuple[str, ...]) -> bool:
    """Whether ``data`` carries one of ``names``, as text or as DNS labels, in any case."""
    low = data.lower()
    for name in names:
        labels = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
        if name.encode() in low or labels in low:
            return True
    return False


def under_attack(censor: QueueCensor, variant: dict[str, Any], flows: list[Flow], lab: Addresses) -> dict[str, Any]:
    """The hostile sets through one censor, then a flow the rule blocks and one it passes."""
    near, far, listed = targets(variant, lab)
    seed = variant["seed"]
    families = [f for f in hostile.FAMILIES if not (variant["rule"] == "mtproto" and f == "mtproto")]
    first = [(f"a malformed {p.family} packet", p.data) for p in hostile.generate(HOSTILE_PER_SET, seed, near)]
    second = [
        (f"a malformed {p.family} packet", p.data) for p in hostile.generate(HOSTILE_PER_SET, seed + 1, far, families)
    ]
    innocent = {len(first) + i for i, (_, data) in enumerate(second) if not names_in(data, listed)}
    watch = Watch(censor)
    table = FlowTable()
    seen = run(censor, watch, first + second, table)
    closed = sorted(seen.pop("blocked") & innocent)
    result = {
        **seen,
        "packets": len(first) + len(second),
        "innocent": len(innocent),
        "closed": len(closed),
        "closed_examples": sorted({(first + second)[n][0] for n in closed})[:3],
        "slowest": round(watch.slowest, 3),
        "slowest_at": watch.slowest_at,
    }
    if seen["crash"] is None:
        block = next(f for f in flows if f.block)
        allow = next(f for f in flows if not f.block)
        after = run(censor, watch, [(f.what, d) for f in (block, allow) for d in f.packets], table)
        blocked_flows = {0 if n < len(block.packets) else 1 for n in after["blocked"]}
        result["after"] = {"blocks": block.what, "blocked": 0 in blocked_flows,
                           "passes": allow.what, "passed": 1 not in blocked_flows, "crash": after["crash"]}  # fmt: skip
    return result


def evaluate(censor_factory: Callable[[], QueueCensor], variant: dict[str, Any], write: Callable[[dict], None]) -> None:
    """Both phases, each with a fresh censor; ``write`` gets the results after each."""
    lab = Addresses.of_lab()
    flows = hidden(variant, lab)
    results: dict[str, Any] = {"captured": captured(censor_factory(), flows)}
    write(results)
    results["hostile"] = under_attack(censor_factory(), variant, flows, lab)
    write(results)
