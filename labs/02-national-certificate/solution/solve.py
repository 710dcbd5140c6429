"""Lab 2's reference submission, measured in a live lab (root).

    python -m labs solve 2 --student ID --out DIR

In the grading lab (detector.py: home1 trusts the national roots, home2 does not) with
the student's device attached, it inspects every name of the list from home2 and from
abroad (intercepted: home2 gets another leaf than abroad), reads where the chains end
from home1 and from abroad, compares a forged leaf with the real one (its exponent and
how far back its validity starts), sends ClientHellos with TTLs 1 to 6 from home2 with
the handout's ttl_hello.py (the smallest answered with a forged leaf is the device's
distance), fetches an intercepted name from home1 and from home2 and reads what the
device logged of each. It writes ``answers.json`` beside the reference detector,
``detect.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from labs.framework.definition import LabDefinition
from labs.framework.registry import load
from tools.gateway.surveillance import read
from tools.lab.session import LabSession

detector = load(Path(__file__).parent.parent / "detector.py")

# Every name inspected at once, from one host: name -> tools.probes.cert_inspect's result.
INSPECT = (
    "import json, sys; from concurrent.futures import ThreadPoolExecutor; "
    "from tools.probes.cert_inspect import inspect; names = sys.argv[1:]; "
    "print(json.dumps(dict(zip(names, ThreadPoolExecutor(8).map(inspect, names)))))"
)
TTL_HELLO = Path(__file__).parent.parent / "ttl_hello.py"  # the handout's tool (Task 4)


def inspect_all(session: LabSession, node: str, names: list[str], tries: int = 3) -> dict[str, Any]:
    """Every name's chain as ``node`` sees it; a name whose handshake failed (on a loaded
    machine the device's first forging for a host can outlast the probe's timeout) is
    inspected again, up to ``tries`` times in all."""
    results: dict[str, Any] = {}
    for _ in range(tries):
        missing = [n for n in names if "presented_chain" not in results.get(n, {})]
        if not missing:
            break
        r = session.run(node, f"python -c {shlex.quote(INSPECT)} {' '.join(missing)}")
        results |= json.loads(r.out)
    return results


def hops(session: LabSession, node: str, address: str, sni: str, forged_issuer: str) -> int:
    """The smallest TTL whose ClientHello comes back with a forged leaf."""
    r = session.run(node, f"python {TTL_HELLO} {sni} --address {address} --json")
    answered = {int(ttl): issuer for ttl, issuer in json.loads(r.out).items()}
    return min((ttl for ttl, issuer in answered.items() if issuer == forged_issuer), default=0)


def logged(session: LabSession, subscriber: str, name: str) -> set[str]:
    """What the device's log holds of ``subscriber`` once it fetched https://NAME/."""
    address = str(detector.model().primary_address(subscriber))
    session.run(subscriber, f"curl -s -o /dev/null --max-time 10 https://{name}/lab2-reference")
    deadline = time.monotonic() + 10
    while True:
        events = [e for e in read(session.rundir / "surveillance.jsonl") if e["subscriber"] == address]
        if any(e.get("sni") == name for e in events) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    kinds = {"sni"} if any(e.get("sni") for e in events) else set()
    requests = [e for e in events if e["event"] == "request"]
    kinds |= {"url"} if requests else set()
    kinds |= {"headers"} if any(e.get("headers") for e in requests) else set()
    return kinds


def solve(lab: LabDefinition, student: str, out: Path) -> int:
    variant: dict[str, Any] = lab.variant(student)
    names = list(lab.probe_sites)
    device = lab.steps(variant)[0]  # the interception device, as the student's lab attaches it
    with detector.shared().device(device) as session:
        inside = inspect_all(session, detector.DISTRUSTING, names)
        abroad = inspect_all(session, detector.ABROAD, names)
        intercepted = sorted(
            n for n in names if inside[n]["presented_chain"][0]["issuer"] != abroad[n]["presented_chain"][0]["issuer"]
        )
        name = intercepted[0]
        trusted = inspect_all(session, detector.TRUSTING, [name])[name]
        forged, real = inside[name]["presented_chain"][0], abroad[name]["presented_chain"][0]
        shift = dt.datetime.fromisoformat(real["not_before"]) - dt.datetime.fromisoformat(forged["not_before"])
        distance = hops(session, detector.DISTRUSTING, inside[name]["address"], name, forged["issuer"])
        surveillance = {
            "with_root": sorted(logged(session, detector.TRUSTING, name)),
            "without_root": sorted(logged(session, detector.DISTRUSTING, name)),
        }
    answers = {
        "root": trusted["verification"]["trusted_root"],
        "root_abroad": abroad[name]["verification"]["trusted_root"],
        "intercepted": intercepted,
        "leaf": {"public_exponent": forged["public_exponent"], "shift_hours": round(shift.total_seconds() / 3600)},
        "hops": distance,
        "surveillance": surveillance,
    }
    (out / "answers.json").write_text(json.dumps(answers, indent=2) + "\n")
    shutil.copy(Path(__file__).with_name("detect.py"), out / "detect.py")
    print(json.dumps(answers, indent=2))
    return 0
