"""The censors a student gets around: one variant per student id.

Three tasks, each a censor (Telegram's: one or two) of kzlab's catalogue keeping one
subscriber from one target, all attached at once:

- ``dns``: the ISP's resolver lies about a site (NXDOMAIN, or a Kazakhtelecom address
  where nothing answers), or an injector at the gateway races the real DNS answer;
- ``site``: the gateway resets, drops or throttles TLS connections by their SNI, or drops
  every packet to the site's address;
- ``device_or_telegram``: the 2019 interception device (kazakhstan.md sections 1 and 6),
  or Telegram blocked by MTProto DPI, by its data centres' addresses, or both (2018-2022).

Half the variants add a counter-move (issue 11): a censor that rules out one obvious way
around (encrypted DNS, VPN protocols, Tor's public relays, fake-TLS MTProto proxies).
Every censor of a variant blocks only names that are no other task's target, so each
task's way around is tested against its own censor. The injection task's subscriber is
home2, who asks Google's 8.8.8.8 itself (its lookups cross the gateway); the others are
home1's, who uses the ISP's resolver. Neither installed the national root.

A variant is JSON: per task its flavour, subscriber, target (a site, or ``telegram``) and
censors (name, node, parameters); and the counter-move, or None.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from labs.framework.variants import rng
from tools.gateway.targets import TARGETS
from tools.lab.steps import Step
from tools.play.spec import Target
from topologies.internet import DOMESTIC, INTERNATIONAL, TELEGRAM_PREFIXES, all_sites

LAB = 4
TOPOLOGY: dict[str, Any] = {"circumvention": True, "public_dns": ("home2",)}
TASKS = ("dns", "site", "device_or_telegram")
TELEGRAM = "telegram"  # the target of Telegram's censors: the telegram probe (every data centre)
GENERATION = "2019"  # the device Geneva got around (section 6)
# Blocked at some point (kazakhstan.md section 3) or up meanwhile: one name per server
# address (so address blocking of one is no other's), none in Telegram's blocks.
SITES = (
    "facebook.com",
    "instagram.com",
    "whatsapp.com",
    "youtube.com",
    "twitter.com",
    "vk.com",
    "ok.ru",
    "mail.ru",
    "azattyq.org",
    "meduza.io",
    "vlast.kz",
)
REDIRECT = "92.46.49.99"  # a Kazakhtelecom address a lying resolver may answer (nothing answers there)


@dataclass(frozen=True)
class Blocker:
    """A censor of a flavour: its name, node, fixed parameters, and the parameter that
    takes the blocked names ("domains", "targets"; "prefixes": their addresses; "":
    none, Telegram's own)."""

    censor: str
    node: str
    params: tuple[tuple[str, Any], ...] = ()
    lists: str = "domains"


@dataclass(frozen=True)
class Flavour:
    name: str
    subscriber: str
    blockers: tuple[Blocker, ...]


TELEGRAM_DPI = Blocker("BlockTrafficForMTProto", "gw", lists="")
TELEGRAM_ADDRESSES = Blocker("DropTrafficForServerEndpoint", "gw", (("prefixes", TELEGRAM_PREFIXES),), lists="")
FLAVOURS: dict[str, tuple[Flavour, ...]] = {
    "dns": (
        Flavour("resolver_nxdomain", "home1", (Blocker("ResolverBlocklist", "resolver"),)),
        Flavour("resolver_redirect", "home1", (Blocker("ResolverBlocklist", "resolver", (("address", REDIRECT),)),)),
        Flavour("dns_injection", "home2", (Blocker("SpoofDNSResponse", "gw"),)),
    ),
    "site": (
        Flavour("sni_reset", "home1", (Blocker("ResetTrafficForTLSSNI", "gw"),)),
        Flavour("sni_drop", "home1", (Blocker("DropTrafficForTLSSNI", "gw"),)),
        Flavour("sni_throttle", "home1", (Blocker("ThrottleTrafficForTLSSNI", "gw"),)),
        Flavour("address", "home1", (Blocker("DropTrafficForServerEndpoint", "gw", lists="prefixes"),)),
    ),
    "device_or_telegram": (
        Flavour("device", "home1", (Blocker("NationalInterception", "gw", (("generation", GENERATION),), "targets"),)),
        Flavour("telegram_dpi", "home1", (TELEGRAM_DPI,)),
        Flavour("telegram_addresses", "home1", (TELEGRAM_ADDRESSES,)),
        Flavour("telegram_both", "home1", (TELEGRAM_ADDRESSES, TELEGRAM_DPI)),
    ),
}
# Counter-moves (tools/censors), at the gateway with their defaults, and the methods
# (tools/circumvent) each is there to stop: what a hint names when a recipe falls to one.
COUNTER_MOVES: dict[str, tuple[str, ...]] = {
    "DropTrafficForEncryptedDNS": ("doh", "dot"),
    "BlockTrafficForVPNProtocols": ("wireguard", "openvpn"),
    "BlockTorRelays": ("tor",),
    "BlockTrafficForMTProtoProxy": ("mtproxy",),
}
DEVICE_NAMES = tuple(sorted(set(TARGETS[GENERATION]) & set(SITES)))


def variant(student: str) -> dict[str, Any]:
    """The student's three tasks and counter-move, drawn from the id."""
    r = rng(LAB, student)
    third = r.choice(FLAVOURS["device_or_telegram"][:1] * 3 + FLAVOURS["device_or_telegram"][1:])
    targets = {"device_or_telegram": r.choice(DEVICE_NAMES) if third.name == "device" else TELEGRAM}
    flavours = {"dns": r.choice(FLAVOURS["dns"]), "site": r.choice(FLAVOURS["site"]), "device_or_telegram": third}
    for task in ("dns", "site"):
        targets[task] = r.choice([s for s in SITES if s not in targets.values()])
    others = [s for s in SITES if s not in targets.values()]
    tasks = {task: _task(r, flavours[task], targets[task], others, set(targets.values())) for task in TASKS}
    counters = [c for c in COUNTER_MOVES if c != "BlockTrafficForMTProtoProxy" or targets[TASKS[2]] == TELEGRAM]
    counter = {"censor": r.choice(counters), "node": "gw", "params": {}} if r.random() < 0.5 else None
    return {"student": student, "tasks": tasks, "counter_move": counter}


def _task(r: random.Random, flavour: Flavour, target: str, others: list[str], taken: set[str]) -> dict[str, Any]:
    censors = []
    for blocker in flavour.blockers:
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in blocker.params}
        if blocker.lists == "targets":  # the device: the target and a few more names of its list
            listed = [n for n in TARGETS[GENERATION] if n not in taken]
            params["targets"] = sorted([target, *r.sample(listed, r.randint(2, 4))])
        elif blocker.lists:
            names = sorted([target, *r.sample(others, r.randint(0, 2))])
            params[blocker.lists] = names if blocker.lists == "domains" else [_prefix(n) for n in names]
        censors.append({"censor": blocker.censor, "node": blocker.node, "params": params})
    return {"flavour": flavour.name, "subscriber": flavour.subscriber, "target": target, "censors": censors}


def _prefix(site: str) -> str:
    return f"{all_sites(INTERNATIONAL + DOMESTIC)[site].address}/32"


def steps(variant: dict[str, Any]) -> list[Step]:
    """Every censor of the variant, as the student's lab and the checker attach them."""
    out = [
        Step("attach", f"{task}-{i}", c["censor"], c["node"], c["params"])
        for task in TASKS
        for i, c in enumerate(variant["tasks"][task]["censors"])
    ]
    if (counter := variant["counter_move"]) is not None:
        out.append(Step("attach", "counter-move", counter["censor"], counter["node"], counter["params"]))
    return out


def target(task: dict[str, Any]) -> Target:
    """What a task's probe measures: the site's front page over HTTPS, or Telegram."""
    name = task["target"]
    return Target(TELEGRAM, "telegram") if name == TELEGRAM else Target.web(name)


def describe(variant: dict[str, Any]) -> str:
    """The variant in words, as the lab's CLI prints it (``censors``)."""
    lines = [f"Your censors (student {variant['student']}), all attached at once:"]
    for n, task in enumerate(TASKS, start=1):
        t = variant["tasks"][task]
        lines.append(f"  Task {n} ({task}): {t['subscriber']} cannot reach {t['target']}")
        lines += [f"    {c['censor']} at {c['node']}: {json.dumps(c['params'])}" for c in t["censors"]]
    counter = variant["counter_move"]
    lines.append(f"  Counter-move: {counter['censor']} at {counter['node']}" if counter else "  Counter-move: none")
    return "\n".join(lines)
