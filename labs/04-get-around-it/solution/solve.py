"""Lab 4's reference submission: a recipe and its why for each task, for any student id.

    python -m labs solve 4 --student ID --out DIR

Per flavour of censor, the ways around in order of preference, the first that the
variant's counter-move is not there to stop; nothing is measured (no root needed), the
lab tests replay them live. The whys say what the censor acts on and what the method
changes about it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the lab's package (a lab folder is no package)

from get_around_it.catalogue import COUNTER_MOVES, TASKS

from labs.framework.definition import LabDefinition

SPLIT = {"strategy": "clienthello_split"}  # one byte into the SNI: no segment holds the whole name
REFERENCE: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "resolver_nxdomain": (("doh", {"resolver": "google"}), ("shadowsocks", {})),
    "resolver_redirect": (("doh", {"resolver": "cloudflare"}), ("shadowsocks", {})),
    "dns_injection": (("dot", {"resolver": "cloudflare"}), ("shadowsocks", {})),
    "sni_reset": (("geneva", SPLIT),),
    "sni_drop": (("geneva", SPLIT),),
    "sni_throttle": (("geneva", SPLIT),),
    "address": (("wireguard", {}), ("shadowsocks", {})),
    "device": (("geneva", {"strategy": "kz_segmentation"}),),  # kazakhstan.md section 6: 100%
    "telegram_dpi": (("mtproxy", {}), ("wireguard", {})),
    "telegram_addresses": (("mtproxy", {}), ("wireguard", {})),
    "telegram_both": (("mtproxy", {}), ("wireguard", {})),
}
MECHANISM = {
    "ResolverBlocklist": "The ISP's resolver answers the DNS lookup for the blocked name with a lie.",
    "SpoofDNSResponse": "An injector on the path forges a DNS answer to the plain UDP query, and it arrives first.",
    "ResetTrafficForTLSSNI": "The gateway reads the SNI in the ClientHello and resets the connection.",
    "DropTrafficForTLSSNI": "The gateway reads the SNI in the ClientHello and drops the flow, so it times out.",
    "ThrottleTrafficForTLSSNI": "The gateway reads the SNI in the ClientHello, holds it and slows the replies.",
    "DropTrafficForServerEndpoint": "The gateway drops every packet to the listed address prefixes.",
    "NationalInterception": (
        "The device reads the SNI of the first data segment's ClientHello and intercepts the connection with a "
        "forged certificate from the national root; it does not reassemble TCP."
    ),
    "BlockTrafficForMTProto": "The gateway's DPI recognises the opening of MTProto's obfuscated2 transport.",
}
METHOD = {
    "doh": "With DoH the lookups go encrypted over HTTPS to a resolver abroad, so no one on the path reads them.",
    "dot": "With DoT the lookups go encrypted over TLS to a resolver abroad, so no one on the path reads them.",
    "shadowsocks": "Shadowsocks relays the TCP and DNS through an encrypted proxy abroad the censor cannot read.",
    "wireguard": "WireGuard carries everything through an encrypted tunnel to a server abroad, names and addresses.",
    "geneva": (
        "The Geneva strategy sends the ClientHello split over two TCP segments, so the first segment the censor "
        "decides from holds no whole name."
    ),
    "mtproxy": "Telegram goes through an MTProto proxy abroad whose fake-TLS traffic looks like TLS to kaspi.kz.",
}


def recipe(lab: LabDefinition, student: str, task: str) -> dict[str, Any]:
    """The reference recipe of ``student``'s ``task``, with its why."""
    variant = lab.variant(student)
    spec = variant["tasks"][task]
    counter = variant["counter_move"]
    stopped = COUNTER_MOVES[counter["censor"]] if counter else ()
    method, params = next((m, p) for m, p in REFERENCE[spec["flavour"]] if m not in stopped)
    why = " ".join([*(MECHANISM[c["censor"]] for c in spec["censors"]), METHOD[method]])
    return {"method": method, "params": params, "why": why}


def solve(lab: LabDefinition, student: str, out: Path) -> int:
    answers = {task: recipe(lab, student, task) for task in TASKS}
    (out / "answers.json").write_text(json.dumps(answers, indent=2) + "\n")
    print(json.dumps(answers, indent=2))
    return 0
