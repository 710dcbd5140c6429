"""The student's starter file: the censor class of the variant, its typed fields, and its
three methods empty, with comments on what to fill in.

Untouched, it runs (the engine starts it, the checker grades it) and blocks nothing, so
every task fails with a hint. The fields' defaults are the variant's own values; the
checker builds the class with them explicitly.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

from build_a_censor.rules import BY_KEY, describe

FILE = "censor.py"  # the starter file's name, and the file a submission holds


@dataclass(frozen=True)
class Skeleton:
    imports: tuple[tuple[str, str], ...]  # (module, names) of the helpers this rule needs
    fields: str  # the class's fields, their defaults the variant's values (MY_NAME)
    selection: str  # comments: what to select in the kernel
    selects: str  # comments: the same, in Python
    decide: str  # comments: the decision


NAMES = """\
        "domains": Field(DOMAINS, "the listed names", MY_DOMAINS),
        "subdomains": Field(BOOLEAN, "whether a listed name covers the names below it", MY_SUBDOMAINS),"""
NAME_IMPORTS = (("tools.basics.params", "BOOLEAN, DOMAINS"),)
COMMON = (
    ("typing", "ClassVar"),
    ("tools.basics.params", "Field"),
    ("tools.censors.base", "Decision"),
    ("tools.censors.queue", "QueueCensor"),
    ("tools.dpi.ipv4", "Packet"),
)
MATCH = """\
        #    Listed: self.params["domains"] (lower case); self.params["subdomains"] says whether
        #    www.NAME is covered by NAME. Compare in lower case; "notNAME" is not "NAME"."""
FLOWS = """\
        #    Record the flow's fate for offline grading, flows[pkt.key] = "block" or "pass",
        #    and return it in Decision(flow=...): live, the engine marks the connection and
        #    the kernel drops or passes the rest of it without asking you again."""
SKELETONS = {
    "tls_sni_reset": Skeleton(
        (*NAME_IMPORTS, ("tools.dpi.ipv4", "ACK, RST, tcp_segment"), ("tools.dpi.tls", "parse_client_hello")),
        NAMES,
        """\
        # The kernel hands the queue only what this returns: iptables matches, one string each,
        # e.g. "-p tcp --dport 443" (TCP to port 443). Only segments that carry data can hold a
        # ClientHello: "-m length --length 81:65535" (longer than the IP and TCP headers).""",
        """\
        # The same choice in Python, for offline grading: pkt.tcp, pkt.dport, pkt.payload.""",
        f"""\
        # 1. The SNI: parse_client_hello(pkt.payload) says is_tls, complete and sni.
        # 2. Is it listed?
{MATCH}
        # 3. Listed: drop the segment and inject a RST to the client as if from the server:
        #    tcp_segment(src, sport, dst, dport, seq, ack, flags) with the server's address and
        #    port as source, seq = pkt.ack (what the client expects next), flags RST | ACK.
        #    Return Decision("drop", [rst], flow="block", note="...").
{FLOWS}
        # Anything you cannot read: let it pass (fail open).""",
    ),
    "dns_drop": Skeleton(
        (*NAME_IMPORTS, ("tools.dpi.dns", "first_question")),
        NAMES,
        """\
        # iptables matches, one string each, for the packets decide() must see: DNS queries are
        # UDP to port 53 ("-p udp --dport 53").""",
        """\
        # The same choice in Python, for offline grading: pkt.udp, pkt.dport.""",
        f"""\
        # 1. The question: first_question(pkt.payload) gives .name (lower case) and .qtype, or None
        #    for anything that is not a query it can read (let that pass: fail open).
        # 2. Is the name listed?
{MATCH}
        # 3. Listed: Decision("drop", note="..."). Each query is decided on its own (a stub
        #    resolver sends it again; drop that too).""",
    ),
    "dns_answer": Skeleton(
        (
            *NAME_IMPORTS,
            ("tools.basics.params", "ADDRESS"),
            ("tools.dpi.dns", "TYPE_A, first_question, forged_answer"),
            ("tools.dpi.ipv4", "udp_datagram"),
        ),
        NAMES + '\n        "address": Field(ADDRESS, "the address the answers point at", MY_ADDRESS),',
        """\
        # iptables matches, one string each, for the packets decide() must see: DNS queries are
        # UDP to port 53 ("-p udp --dport 53").""",
        """\
        # The same choice in Python, for offline grading: pkt.udp, pkt.dport.""",
        f"""\
        # 1. The question: first_question(pkt.payload) gives .name (lower case) and .qtype
        #    (TYPE_A for A), or None for anything it cannot read (let that pass: fail open).
        # 2. An A query for a listed name?
{MATCH}
        # 3. Then answer it: forged_answer(question, self.params["address"]) is the DNS answer;
        #    udp_datagram(src, sport, dst, dport, payload) sends it to the client as if from the
        #    server it asked (swap the addresses and ports). Drop the query:
        #    Decision("drop", [answer], note="...").""",
    ),
    "http_blockpage": Skeleton(
        (*NAME_IMPORTS, ("tools.dpi.ipv4", "ACK, FIN, PSH, tcp_segment")),
        NAMES,
        """\
        # iptables matches, one string each: TCP to port 80 ("-p tcp --dport 80"), segments that
        # carry data ("-m length --length 81:65535": longer than the IP and TCP headers).""",
        """\
        # The same choice in Python, for offline grading: pkt.tcp, pkt.dport, pkt.payload.""",
        f"""\
        # 1. The Host: the request head is pkt.payload up to b"\\r\\n\\r\\n", lines split by
        #    b"\\r\\n"; the first is "METHOD PATH HTTP/1.x", then "Name: value" headers. Header
        #    names are case-insensitive; a Host may end in ":PORT".
        # 2. Is it listed?
{MATCH}
        # 3. Listed: build an HTTP/1.1 200 response (headers, a blank line, HTML whose <title>
        #    is "Access restricted") and inject it to the client as if from the server:
        #    tcp_segment(src, sport, dst, dport, seq, ack, flags, payload, window) with
        #    seq = pkt.ack, ack = pkt.seq + len(pkt.payload), flags FIN | PSH | ACK, window 8192.
        #    Return Decision("drop", [page], flow="block", note="...").
{FLOWS}""",
    ),
    "drop_prefixes": Skeleton(
        (("ipaddress", ""), ("tools.basics.params", "SOME_PREFIXES")),
        '        "prefixes": Field(SOME_PREFIXES, "the blocked address prefixes", MY_PREFIXES),',
        """\
        # iptables matches, one string each: packets to a prefix are "-d PREFIX" (one match
        # per prefix, any protocol).""",
        """\
        # The same choice in Python, for offline grading: is pkt.dst in one of the prefixes?
        # ipaddress.IPv4Address(pkt.dst) in ipaddress.IPv4Network(prefix); build the networks
        # once (in __init__, after super().__init__(**params)), not for every packet.""",
        f"""\
        # Everything selected is dropped: Decision("drop", flow="block", note="...").
{FLOWS}""",
    ),
    "mtproto": Skeleton(
        (("tools.basics.params", "ports"), ("tools.dpi.mtproto", "decrypted_tag")),
        '        "ports": Field(ports(15), "the destination ports whose flows it reads", MY_PORTS),',
        """\
        # iptables matches, one string each: TCP to the listed ports ("-p tcp -m multiport
        # --dports 80,443"), segments that carry data ("-m length --length 81:65535").""",
        """\
        # The same choice in Python, for offline grading: pkt.tcp, pkt.dport, pkt.payload.""",
        f"""\
        # 1. An obfuscated2 init is 64 bytes or more; decrypted_tag(pkt.payload) decrypts its
        #    protocol tag with the key and IV the init carries and names MTProto's framing
        #    ("abridged", "intermediate", "padded"), or None when the tag does not decrypt.
        # 2. A tag: drop, Decision("drop", flow="block", note="..."); else the flow passes.
{FLOWS}""",
    ),
}

TEMPLATE = '''\
"""Lab 3, Build a censor: my censor, for student {student}.

My rule:
{rule}

{models}

Fill in the three methods marked TODO (the handout: labs/03-build-a-censor/README.md), then:
    python labs/03-build-a-censor/run.py offline --student {student} lab3-work/censor.py CAPTURE.pcap
    make check L=3 STUDENT={student} SUBMISSION=lab3-work
"""

from __future__ import annotations

{imports}
# My variant's values: the fields' defaults (the checker builds the class with them too).
{values}


class {censor}(QueueCensor):
    """My censor (write here what it does)."""

    fields: ClassVar[dict[str, Field]] = QueueCensor.fields | {{
{fields}
    }}

    def selection(self) -> list[str]:
        """iptables matches for the packets decide() must see; the kernel hands only those to
        the queue, and everything else never leaves the kernel (fast path)."""
        # TODO
{selection}
        return []

    def selects(self, pkt: Packet) -> bool:
        """Whether the kernel would hand ``pkt`` over: the offline twin of selection()."""
        # TODO
{selects}
        return False

    def decide(self, pkt: Packet, flows: dict[tuple, str]) -> Decision:
        """The verdict on one selected packet: Decision(verdict, inject, flow, note)."""
        # TODO
{decide}
        return Decision()
'''


def _type_order(name: str) -> tuple[int, str]:
    """isort's order within an import: constants, then classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def import_block(imports: tuple[tuple[str, str], ...]) -> str:
    """``imports`` as isort sorts them: the standard library, then kzlab; plain imports first."""
    merged: dict[str, set[str]] = {}
    for module, names in imports:
        merged.setdefault(module, set()).update(n.strip() for n in names.split(",") if n.strip())
    groups: list[list[str]] = [[], []]
    for module in sorted(merged, key=lambda m: (bool(merged[m]), m)):
        names = ", ".join(sorted(merged[module], key=_type_order))
        groups[module.startswith("tools.")].append(f"from {module} import {names}" if names else f"import {module}")
    return "\n\n".join("\n".join(group) for group in groups if group) + "\n"


def literal(value: Any) -> str:
    """``value`` as Python source: a list one item per line, so that it stays readable."""
    if isinstance(value, list):
        return "[\n" + "".join(f"    {literal(v)},\n" for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def render(variant: dict[str, Any]) -> str:
    """The starter file of ``variant``."""
    rule, skeleton = BY_KEY[variant["rule"]], SKELETONS[variant["rule"]]
    return TEMPLATE.format(
        student=variant["student"],
        rule=textwrap.fill(describe(variant), 88, initial_indent="    ", subsequent_indent="    "),
        models=textwrap.fill(f"It models {rule.models}.", 88),
        imports=import_block(skeleton.imports + COMMON),
        censor=variant["censor"],
        values="\n".join(f"MY_{name.upper()} = {literal(v)}" for name, v in variant["params"].items()),
        fields=skeleton.fields,
        selection=skeleton.selection,
        selects=skeleton.selects,
        decide=skeleton.decide,
    )
