"""Lab 1's reference submission, made by measuring in a live lab (root).

    python -m labs solve 1 --student ID --out DIR

It builds the student's lab (tools.lab.session, sealed), captures on home1 while it
tests every site of the list from home1 and from abroad (DNS from the ISP resolver,
from 8.8.8.8 and from abroad; HTTPS and plain HTTP with curl), takes as blocked every
site whose results differ from abroad's or fail, and writes ``answers.json`` (the
mechanism from the variant: this is the answer key) and ``capture.pcap``. The evidence
packet is the first one the checker's evidence finder shows in that capture.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from labs.framework import evidence
from labs.framework.definition import LabDefinition
from tools.lab.session import LabSession

SUBSCRIBER, ABROAD = "home1", "abroad"
CAPTURE = "capture.pcap"
SLOW_S = 2.0
# One line per site: name, then what each measurement gave (fields separated by '|').
MEASURE = (
    "for n in {names}; do ("
    "isp=$(dig +short +time=2 +tries=1 $n A | sort | tr '\\n' ,); "
    "pub=$(dig +short +time=2 +tries=1 @8.8.8.8 $n A | sort | tr '\\n' ,); "
    "tls=$(curl -s -o /dev/null --max-time 8 -w '%{{http_code}}:%{{time_appconnect}}' https://$n/); "
    "web=$(curl -s --max-time 8 http://$n/ | grep -c 'Access restricted'); "
    'echo "$n|$isp|$pub|$tls|$web") & done; wait'
)
CONTROL = "for n in {names}; do echo \"$n|$(dig +short +time=2 +tries=1 $n A | sort | tr '\\n' ,)\"; done"


def blocked(lines: str, control: dict[str, str]) -> list[str]:
    """The sites whose measurements from the subscriber show a block."""
    out = []
    for line in lines.splitlines():
        name, isp, pub, tls, web = line.split("|")
        code, _, handshake = tls.partition(":")
        slow = float(handshake or 0) > SLOW_S
        if isp != control[name] or pub != control[name] or code in ("000", "") or slow or web != "0":
            out.append(name)
    return sorted(out)


def solve(lab: LabDefinition, student: str, out: Path) -> int:
    variant: dict[str, Any] = lab.variant(student)
    names = " ".join(lab.probe_sites)
    pcap = out.resolve() / CAPTURE
    with LabSession(lab.topology) as session:
        for step in lab.steps(variant):
            session.attach(step.key, step.censor, step.node, **step.params)
        control = dict(line.split("|") for line in session.run(ABROAD, CONTROL.format(names=names)).out.splitlines())
        log = out.resolve() / "tcpdump.log"
        tcpdump = f"tcpdump -i {SUBSCRIBER}-eth0 --immediate-mode -U -s 0 -w {pcap}"
        pid = session.run(SUBSCRIBER, f"{tcpdump} >{log} 2>&1 & echo $!").out.strip()
        _wait_for(lambda: "listening on" in log.read_text(), "tcpdump to start")
        measured = session.run(SUBSCRIBER, MEASURE.format(names=names), timeout=60).out
        # tcpdump writes what it holds when it ends: wait for its end before reading the capture
        session.run(SUBSCRIBER, f"kill {pid}; while kill -0 {pid} 2>/dev/null; do sleep 0.1; done", timeout=15)
        log.unlink()
    found = evidence.find(evidence.censor_of(lab.steps(variant)[0]), pcap)
    first = found.evidence[0] if found.evidence else None
    answers = {
        "mechanism": variant["mechanism"],
        "names": blocked(measured, control),
        "evidence": {
            "pcap": CAPTURE,
            "packet": first.packet if first else 0,
            "description": first.what if first else "",
        },
    }
    (out / "answers.json").write_text(json.dumps(answers, indent=2) + "\n")
    print(json.dumps(answers, indent=2))
    return 0


def _wait_for(condition: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)
