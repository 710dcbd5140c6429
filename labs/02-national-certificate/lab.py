"""Lab 2, "The national certificate": detect and dissect the 2019 HTTPS interception.

The student's variant places the interception device (kazakhstan.md sections 1 and 2) at
the ISP gateway ``gw`` or at the border router, one or two hops further from the
subscribers (1.5), picks the national root's generation (2019 Qaznet, 2020 ISCA), which
of the lab's names it intercepts (a subset of that generation's list, 1.3), and how far
back the forged validity starts (6 or 24 hours, 1.7). home1 and mob1 install the root;
home2 and mob2 refuse it.

Answers (``answers.json``) are graded from the file; the student's detector is run in a
live lab (detector.py), which needs root.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from labs.framework import answers as answers_file
from labs.framework.answers import INTEGER, OBJECT, STRING, STRINGS, Kind
from labs.framework.checks import Task, TaskResult
from labs.framework.definition import LabDefinition
from labs.framework.registry import load
from labs.framework.variants import rng
from tools.gateway.national_ca import GENERATIONS
from tools.gateway.targets import TARGETS
from tools.lab.steps import Step
from tools.services.pki import GLOBAL_ROOT_NAME
from topologies.internet import FACEBOOK, all_sites

detector = load(Path(__file__).with_name("detector.py"))

# The names a student tests: listed ones (1.3), their near misses (m.facebook.com, 1.3;
# www.twitter.com, m.vk.com) and names no list held.
SITES = (
    "facebook.com",
    "www.facebook.com",
    "m.facebook.com",
    "instagram.com",
    "messenger.com",
    "whatsapp.com",
    "google.com",
    "mail.google.com",
    "youtube.com",
    "twitter.com",
    "www.twitter.com",
    "vk.com",
    "m.vk.com",
    "mail.ru",
    "ok.ru",
    "telegram.org",
)
PLACES = ("gw", "border")  # where the device may sit: the gateway (as measured, 1.5) or the border router
SUBSCRIBER = "home2"  # the subscriber hops are counted from
ROOTED = ("home1", "mob1")  # they install the national root; home2 and mob2 refuse it
SHIFTS = (6, 24)  # 1.7: 6 hours, 24 from 2019-07-30
EXPONENT = 3  # 1.7
# What the device's log can hold of a subscriber, and what it holds (tools/gateway/surveillance.py).
LOGGED = ("sni", "url", "headers", "body")
SEEN = {"with_root": {"sni", "url", "headers"}, "without_root": {"sni"}}
KINDS: dict[str, Kind] = {
    "root": STRING,
    "root_abroad": STRING,
    "intercepted": STRINGS,
    "leaf": OBJECT,
    "leaf.public_exponent": INTEGER,
    "leaf.shift_hours": INTEGER,
    "hops": INTEGER,
    "surveillance": OBJECT,
    "surveillance.with_root": STRINGS,
    "surveillance.without_root": STRINGS,
}


def hops(node: str) -> int:
    """How many hops from SUBSCRIBER the device at ``node`` sits: the smallest TTL with
    which a ClientHello still reaches it."""
    address = str(all_sites((FACEBOOK,))["facebook.com"].address)
    return [h.node for h in detector.model().path(SUBSCRIBER, address)].index(node)


def common_name(text: str) -> str:
    """The CN of a distinguished name as typed (``CN=X,C=KZ`` or just ``X``), folded."""
    for part in text.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().upper() == "CN":
            return value.strip().casefold()
    return text.strip().casefold()


def root_cn(name: x509.Name) -> str:
    return str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


class NationalCertificate(LabDefinition):
    number = 2
    title = "The national certificate"
    hours = "2-3"
    cores = 2
    tasks = (
        Task("chain", "the chains seen inside and abroad", 10, '"root" and "root_abroad": the CNs each chain ends at'),
        Task("names", "the intercepted names", 15, '"intercepted": every intercepted name of the list (Task 2)'),
        Task("leaf", "the forged leaf's tell-tale fields", 15, '"leaf": its "public_exponent" and "shift_hours"'),
        Task("hops", "where the device sits", 15, '"hops": how many hops from home2 the device answers (Task 4)'),
        Task("surveillance", "what the state's log holds", 10, '"surveillance": "with_root" and "without_root"'),
        Task("detect_mitm", "the detector finds interception", 15, "detect (or detect.py): your detector (Task 6)"),
        Task("detect_clean", "the detector passes the rest", 20, "detect (or detect.py): your detector (Task 6)"),
    )
    probe_sites = SITES
    script = (
        ("home1", "python -m tools.probes.cert_inspect vk.com"),
        ("abroad", "python -m tools.probes.cert_inspect vk.com"),
        ("home2", "curl -sSI https://vk.com/"),
        ("home1", "python -m tools.gateway.surveillance $KZLAB_RUN_DIR"),
    )

    def variant(self, student: str) -> dict[str, Any]:
        r = rng(self.number, student)
        generation = r.choice(sorted(GENERATIONS))
        node = r.choice(PLACES)
        listed = [s for s in SITES if s in TARGETS[generation]]
        return {
            "student": student,
            "generation": generation,
            "node": node,
            "hops": hops(node),
            "intercepted": sorted(r.sample(listed, r.randint(3, 6))),
            "shift_hours": r.choice(SHIFTS),
        }

    def device(self, variant: dict[str, Any]) -> Step:
        """The variant's interception device, as the environment (and the grading lab) attach it."""
        params = {k: variant[k] for k in ("generation", "shift_hours")} | {"targets": variant["intercepted"]}
        return Step("attach", "device", "NationalInterception", variant["node"], params)

    def trials(self, variant: dict[str, Any]) -> list[Any]:
        """The detector's trials (detector.Trial): up to three intercepted names, a listed
        name this device passes, m.facebook.com (never listed, 1.3) and the self-signed
        server for an intercepted name, each from home1 and from home2."""
        intercepted = variant["intercepted"]
        passed = [s for s in SITES if s in TARGETS[variant["generation"]] and s not in intercepted][:1]
        named = [("intercepted", n, None) for n in intercepted[:3]] + [("passed", n, None) for n in passed]
        named += [("passed", "m.facebook.com", None), ("untrusted", intercepted[0], detector.untrusted())]
        return [
            detector.Trial(kind, n, node, a)
            for node in (detector.TRUSTING, detector.DISTRUSTING)
            for kind, n, a in named
        ]

    def steps(self, variant: dict[str, Any]) -> list[Step]:
        roots = [
            Step("install_root", f"root-{n}", node=n, params={"generation": variant["generation"]}) for n in ROOTED
        ]
        return [self.device(variant), *roots]

    def check(self, variant: dict[str, Any], submission: Path) -> list[TaskResult]:
        chain, names, leaf, hops_, surveillance, mitm, clean = self.tasks
        given = answers_file.read(submission, KINDS)
        if given is None:
            hint = f"no {answers_file.FILE} in {submission}; it needs "
            results = [t.failed(hint + t.todo) for t in (chain, names, leaf, hops_, surveillance)]
        else:
            results = [
                _chain(chain, given, variant),
                _names(names, given.get("intercepted"), set(variant["intercepted"])),
                _leaf(leaf, given.get("leaf") or {}, variant),
                _hops(hops_, given.get("hops"), variant),
                _surveillance(surveillance, given.get("surveillance") or {}),
            ]
        return results + self.run_detector(mitm, clean, variant, submission)

    def run_detector(self, mitm: Task, clean: Task, variant: dict[str, Any], submission: Path) -> list[TaskResult]:
        """The detector's two tasks, from its trials in the live grading lab."""
        program = detector.find(submission)
        if program is None:
            hint = f"no detect or detect.py in {submission}: write the detector of Task 6"
            return [mitm.failed(hint), clean.failed(hint)]
        if os.geteuid() != 0:
            hint = "your detector runs in a live lab, which needs root: sudo make check L=2 ..."
            return [mitm.failed(hint), clean.failed(hint)]
        try:
            outcomes = detector.shared().run(self.device(variant), self.trials(variant), program)
        except (RuntimeError, OSError) as exc:  # LabSessionError among them: the lab, not the detector
            hint = f"the grading lab failed, not your detector: {exc}"
            return [mitm.failed(hint), clean.failed(hint)]
        return [detector.grade(mitm, outcomes, intercepted=True), detector.grade(clean, outcomes, intercepted=False)]


def _chain(task: Task, given: dict[str, Any], variant: dict[str, Any]) -> TaskResult:
    root, abroad = given.get("root"), given.get("root_abroad")
    if not root or not abroad:
        return task.failed('give "root" (the chain from home1) and "root_abroad" (from abroad): Task 1')
    if common_name(root) != root_cn(GENERATIONS[variant["generation"]].root_name).casefold():
        return task.failed(f"{root!r} is not the root home1's chain ends at for an intercepted name")
    if common_name(abroad) != root_cn(GLOBAL_ROOT_NAME).casefold():
        return task.failed(f"{abroad!r} is not the root abroad's chain ends at")
    return task.passed()


def _names(task: Task, given: list[str] | None, intercepted: set[str]) -> TaskResult:
    if not given:
        return task.failed('no "intercepted" names: inspect every name of the list from home2 and from abroad')
    chosen = {n.strip().lower().rstrip(".") for n in given}
    if chosen == intercepted:
        return task.passed()
    wrong, missing = len(chosen - intercepted), len(intercepted - chosen)
    return task.failed(f"{wrong} of your names are not intercepted and {missing} intercepted names are missing: "
                       "the list is exact names (kazakhstan.md 1.3)")  # fmt: skip


def _leaf(task: Task, given: dict[str, Any], variant: dict[str, Any]) -> TaskResult:
    exponent, shift = given.get("public_exponent"), given.get("shift_hours")
    if exponent is None or shift is None:
        return task.failed('give "leaf": {"public_exponent": ..., "shift_hours": ...}: Task 3')
    if exponent != EXPONENT:
        return task.failed("not the forged leaf's public exponent: look at its key, not the intermediate's")
    if shift != variant["shift_hours"]:
        return task.failed("not the shift: compare the forged leaf's validity with the real one seen from abroad")
    return task.passed()


def _hops(task: Task, given: int | None, variant: dict[str, Any]) -> TaskResult:
    if given is None:
        return task.failed('no "hops": send the ClientHello with a growing TTL (Task 4)')
    if given != variant["hops"]:
        return task.failed(f"the device is not {given} hops from home2: find the smallest TTL still answered")
    return task.passed()


def _surveillance(task: Task, given: dict[str, Any]) -> TaskResult:
    if not given:
        return task.failed('no "surveillance": read the device\'s log after browsing from home1 and home2 (Task 5)')
    for key, seen in SEEN.items():
        chosen = {w.strip().lower() for w in given.get(key) or []}
        if chosen - set(LOGGED):
            return task.failed(f"{key}: use the words {', '.join(LOGGED)}")
        if chosen != seen:
            return task.failed(f"{key}: not what the log holds of a subscriber {key.replace('_', ' ')}")
    return task.passed()


LAB = NationalCertificate()
