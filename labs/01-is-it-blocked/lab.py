"""Lab 1, "Is it blocked, and how?": a mystery censor blocks some of the lab's sites.

The student's variant picks one blocking mechanism from the censor catalogue, where it
sits (the ISP gateway ``gw``, or the ISP resolver for a resolver blocklist), and which of
the lab's sites it blocks. The student measures, names the mechanism and the names, and
submits a capture whose packets prove it; the checker grades the capture with the very
censor the variant picked (labs.framework.evidence).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labs.framework import evidence
from labs.framework.checks import Task, TaskResult
from labs.framework.definition import LabDefinition
from labs.framework.errors import BadInput
from labs.framework.variants import rng
from tools.censors.base import Censor
from tools.dpi.pcap import CaptureError
from tools.lab.steps import Step
from topologies.internet import DOMESTIC, INTERNATIONAL, all_sites

# The sites a student tests: one name per server address, none below another, so every
# mechanism (even address blocking) blocks exactly the names it was given.
SITES = (
    "facebook.com",
    "instagram.com",
    "whatsapp.com",
    "youtube.com",
    "twitter.com",
    "vk.com",
    "ok.ru",
    "mail.ru",
    "telegram.org",
    "azattyq.org",
    "meduza.io",
    "vlast.kz",
)
# A Kazakhtelecom address a resolver blocklist may send blocked names to (nothing answers there).
REDIRECT = "92.46.49.99"
# (mechanism, node, extra parameters): each flavour equally likely.
FLAVOURS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ResolverBlocklist", "resolver", {}),
    ("ResolverBlocklist", "resolver", {"address": REDIRECT}),
    ("SpoofDNSResponse", "gw", {}),
    ("DropTrafficForServerEndpoint", "gw", {}),
    ("ResetTrafficForTLSSNI", "gw", {}),
    ("DropTrafficForTLSSNI", "gw", {}),
    ("BlockpageForHTTPHost", "gw", {}),
    ("ThrottleTrafficForTLSSNI", "gw", {}),
)
MECHANISMS = tuple(sorted({m for m, _, _ in FLAVOURS}))
ANSWERS = "answers.json"


class IsItBlocked(LabDefinition):
    number = 1
    title = "Is it blocked, and how?"
    hours = "1-2"
    cores = 2
    tasks = (
        Task("mechanism", "name the blocking mechanism", 30, '"mechanism": the censor\'s name (Task 3)'),
        Task("names", "list the blocked names", 30, '"names": every blocked site of the list (Task 2)'),
        Task("pcap", "a capture whose packets prove the mechanism", 30, '"evidence"."pcap": your capture (Task 4)'),
        Task("packet", "point at the packet that proves it", 10, '"evidence"."packet": its frame number (Task 4)'),
    )
    probe_sites = SITES
    script = (
        ("home1", "dig +short vk.com"),
        ("abroad", "dig +short vk.com"),
        ("home1", "curl -sS -o /dev/null -w 'vk.com: HTTP %{http_code}\\n' https://vk.com/"),
    )

    def variant(self, student: str) -> dict[str, Any]:
        r = rng(self.number, student)
        mechanism, node, extra = r.choice(FLAVOURS)
        names = sorted(r.sample(SITES, r.randint(2, 4)))
        sites = all_sites(INTERNATIONAL + DOMESTIC)
        if mechanism == "DropTrafficForServerEndpoint":
            params = {"prefixes": [f"{sites[n].address}/32" for n in names]}
        else:
            params = {"domains": names, **extra}
        return {"student": student, "mechanism": mechanism, "node": node, "names": names, "params": params}

    def steps(self, variant: dict[str, Any]) -> list[Step]:
        return [Step("attach", "mystery", variant["mechanism"], variant["node"], variant["params"])]

    def check(self, variant: dict[str, Any], submission: Path) -> list[TaskResult]:
        mechanism, names, pcap, packet = self.tasks
        answers = read_answers(submission / ANSWERS)
        if answers is None:
            return [t.failed(f"no {ANSWERS} in {submission}; it needs {t.todo}") for t in self.tasks]
        results = []
        given = answers.get("mechanism")
        if given == variant["mechanism"]:
            results.append(mechanism.passed())
        elif given is None:
            results.append(mechanism.failed(f'{ANSWERS} has no "mechanism" (one of {", ".join(MECHANISMS)})'))
        elif given not in MECHANISMS:
            results.append(mechanism.failed(f"{given!r} is not one of {', '.join(MECHANISMS)}"))
        else:
            results.append(mechanism.failed(f"not {given}: compare what a subscriber and the abroad vantage see, "
                                            "layer by layer (DNS, TCP connect, TLS, HTTP)"))  # fmt: skip
        results.append(_names(names, answers.get("names"), set(variant["names"])))
        results += _capture(
            pcap, packet, evidence.censor_of(self.steps(variant)[0]), submission, answers.get("evidence") or {}
        )
        return results


def read_answers(path: Path) -> dict[str, Any] | None:
    """The answers file, None if absent; BadInput if it is not what the handout asks for."""
    if not path.exists():
        return None
    try:
        answers = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{path}: not a JSON file: {' '.join(str(exc).split())}") from None
    if not isinstance(answers, dict):
        raise BadInput(f"{path}: expected a JSON object with mechanism, names and evidence")
    expected = {"mechanism": str, "names": list, "evidence": dict}
    for key, kind in expected.items():
        if key in answers and not isinstance(answers[key], kind):
            raise BadInput(
                f"{path}: {key!r} must be a JSON {kind.__name__.replace('dict', 'object').replace('str', 'string')}"
            )
    if not all(isinstance(n, str) for n in answers.get("names", [])):
        raise BadInput(f"{path}: 'names' must be a list of strings")
    evidence_ = answers.get("evidence", {})
    if "pcap" in evidence_ and not isinstance(evidence_["pcap"], str):
        raise BadInput(f"{path}: evidence.pcap must be a file name (a string)")
    if "packet" in evidence_ and (not isinstance(evidence_["packet"], int) or isinstance(evidence_["packet"], bool)):
        raise BadInput(f"{path}: evidence.packet must be a whole number (the frame number)")
    return answers


def _names(task: Task, given: list[str] | None, blocked: set[str]) -> TaskResult:
    if not given:
        return task.failed(f'{ANSWERS} lists no "names": test every site of the handout\'s list')
    chosen = {n.strip().lower().rstrip(".") for n in given}
    if chosen == blocked:
        return task.passed()
    wrong, missing = len(chosen - blocked), len(blocked - chosen)
    return task.failed(f"{wrong} of your names are not blocked and {missing} blocked names are missing: "
                       "test each site from a subscriber and from abroad")  # fmt: skip


def _capture(pcap: Task, packet: Task, censor: Censor, submission: Path, given: dict[str, Any]) -> list[TaskResult]:
    name = given.get("pcap")
    if not name:
        hint = "evidence.pcap names no capture file: capture on the subscriber (tcpdump -s 0 -w FILE) while you test"
        return [pcap.failed(hint), packet.failed(hint)]
    path = submission / name
    if Path(name).name != name or not path.is_file():
        hint = f"evidence.pcap: no file {name!r} in the submission's folder"
        return [pcap.failed(hint), packet.failed(hint)]
    try:
        found = evidence.find(censor, path)
    except CaptureError as exc:
        hint = f"{name}: cannot be read ({exc}): capture with tcpdump -s 0 -w FILE"
        return [pcap.failed(hint), packet.failed(hint)]
    if not found.evidence:
        if not found.acted_on:
            hint = f"{name} holds no packet your lab's censor acts on: capture while you reach a blocked name"
        else:
            hint = (f"{name}: the censor acted on {found.acted_on} packets, but the capture does not show what "
                    "proves it: capture long enough to see the reply (or the silence) that follows")  # fmt: skip
        return [pcap.failed(hint), packet.failed("no evidence in the capture to point at")]
    results = [pcap.passed()]
    numbers = {e.packet for e in found.evidence}
    if given.get("packet") in numbers:
        results.append(packet.passed())
    else:
        results.append(packet.failed(f"packet {given.get('packet')} of {name} is not one that proves the mechanism "
                                     "(the frame number Wireshark and tcpdump -# show)"))  # fmt: skip
    return results


LAB = IsItBlocked()
