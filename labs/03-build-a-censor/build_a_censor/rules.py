"""The rules a student's censor enforces: one per student, drawn from the student id.

Each rule is a way sites and apps were (or may have been) blocked in Kazakhstan,
kazakhstan.md section 3: SNI-based resets of Facebook, Instagram and YouTube (2016-2022),
DNS blocking (dropped queries, or answers pointing at a block page), ISP block pages for
plain HTTP, address blocking of Telegram's published data-centre blocks or of Facebook's
prefixes, and protocol DPI against Telegram's MTProto (restricted 2018, 2019-05-09,
2022-01-04). How each was really done is unconfirmed; each rule here says exactly what
the student's censor must do, so that its decisions can be graded.

A variant is JSON: the rule, the censor class the starter file names, the parameters the
checker builds that class with, the names the live check probes (one the rule blocks,
one it does not) and the seed of the hidden captures.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labs.framework.variants import rng
from topologies.internet import FACEBOOK, GOOGLE, MEDUZA, RFERL, TELEGRAM, TELEGRAM_DCS, Organisation

# Blocked at some point, kazakhstan.md section 3: Facebook, Instagram, YouTube (2016-12-16,
# 2019-05-09), WhatsApp and Telegram (2022-01-04), news sites (2019-05-09: rus.azattyq.org,
# vlast.kz; meduza.io is on Citizen Lab's kz list, section 5).
BLOCKABLE = (
    "facebook.com",
    "instagram.com",
    "whatsapp.com",
    "youtube.com",
    "telegram.org",
    "azattyq.org",
    "vlast.kz",
    "meduza.io",
)
# Up while those were blocked (VK and Twitter, section 3), and domestic services.
ALLOWED = ("vk.com", "twitter.com", "mail.ru", "ok.ru", "kaspi.kz", "tengrinews.kz", "gov.kz", "google.com")
# Organisations whose address blocks a variant may list, with a site in them to probe.
PREFIX_ORGS: tuple[tuple[Organisation, str], ...] = (
    (TELEGRAM, "telegram.org"),
    (FACEBOOK, "facebook.com"),
    (GOOGLE, "youtube.com"),
    (RFERL, "azattyq.org"),
    (MEDUZA, "meduza.io"),
)
# Telegram's clients connect to 443, 80 and 5222 (the data centres in the lab listen on 443 and 80).
LAB = 3  # this lab's number: a variant is seeded with sha256("lab3:" + id)
MTPROTO_PORTS = ((443,), (80, 443), (443, 5222), (80, 443, 5222))
BLOCKPAGE_TITLE = "Access restricted"


@dataclass(frozen=True)
class Rule:
    key: str
    censor: str  # the class the starter file defines and the checker loads
    models: str  # what it models, kazakhstan.md section 3
    draw: Callable[[random.Random], tuple[dict[str, Any], dict[str, str]]]  # (params, probe)
    describe: Callable[[dict[str, Any]], str]  # the rule in words, for these params


def _names(r: random.Random) -> dict[str, Any]:
    return {"domains": sorted(r.sample(BLOCKABLE, r.randint(2, 4))), "subdomains": r.random() < 0.5}


def _name_probe(r: random.Random, params: dict[str, Any]) -> dict[str, str]:
    return {"blocked": r.choice(params["domains"]), "allowed": r.choice(ALLOWED)}


def _draw_names(r: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    params = _names(r)
    return params, _name_probe(r, params)


def _draw_answer(r: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    params = _names(r) | {"address": f"92.46.49.{r.randrange(100, 200)}"}  # a Kazakhtelecom block-page host
    return params, _name_probe(r, params)


def _some_prefixes(r: random.Random, org: Organisation, site: str) -> list[str]:
    """The prefix holding ``site`` and some of the organisation's others, in its order."""
    address = ipaddress.IPv4Address(next(s.address for s in org.sites if s.domain == site))
    others = [p for p in org.prefixes if address not in ipaddress.IPv4Network(p)]
    chosen = set(r.sample(others, r.randint(0, len(others))))
    return [p for p in org.prefixes if p in chosen or address in ipaddress.IPv4Network(p)]


def _draw_prefixes(r: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    chosen = r.sample(PREFIX_ORGS, r.randint(1, 2))
    prefixes = [p for org, site in chosen for p in _some_prefixes(r, org, site)]
    blocked = chosen[0][1]
    names = {s.domain for org, _ in chosen for s in org.sites}
    return {"prefixes": prefixes}, {"blocked": blocked, "allowed": r.choice([a for a in ALLOWED if a not in names])}


def _draw_mtproto(r: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
    dc = r.choice(sorted(TELEGRAM_DCS))
    return {"ports": list(r.choice(MTPROTO_PORTS))}, {"blocked": TELEGRAM_DCS[dc], "allowed": "telegram.org"}


def _listed(params: dict[str, Any]) -> str:
    names = ", ".join(params["domains"])
    if params["subdomains"]:
        return f"{names}, and every name below one of them (www.{params['domains'][0]} is covered)"
    return f"{names} exactly: the names below them are not covered (www.{params['domains'][0]} passes)"


def _reset(params: dict[str, Any]) -> str:
    return (
        "Reset every TLS connection to port 443 whose ClientHello, in the flow's first data segment, "
        f"names a listed site in its SNI. Listed: {_listed(params)}. Drop that segment, send the client a TCP "
        "RST as if from the server (its sequence number is the one the client expects next: the "
        "segment's acknowledgement number), and have the rest of the flow dropped. Every other flow passes."
    )


def _drop_dns(params: dict[str, Any]) -> str:
    return (
        "Drop every DNS query (UDP to port 53) whose first question asks for a listed name, whatever the "
        f"record type. Listed: {_listed(params)}. Names compare case-insensitively (resolvers mix the "
        "case of the names they ask). Queries for other names, and answers, pass."
    )


def _answer_dns(params: dict[str, Any]) -> str:
    return (
        "Answer every DNS query (UDP to port 53) of type A whose first question asks for a listed name "
        f"with one A record holding {params['address']}, the ISP's block page, sent to the client as if "
        "from the server it asked; drop the query, so that the real answer never comes. "
        f"Listed: {_listed(params)}. Names compare case-insensitively. Queries of other types and for "
        "other names, and answers, pass."
    )


def _blockpage(params: dict[str, Any]) -> str:
    return (
        "Answer every plain-HTTP request (TCP to port 80) whose Host header, in the flow's first data "
        f"segment, names a listed site with a block page. Listed: {_listed(params)}. Header names and "
        "host names compare case-insensitively; a Host may carry a port (vk.com:80). The block page: an "
        f"HTTP/1.1 200 response whose HTML has the title {BLOCKPAGE_TITLE!r}, sent to the client as if "
        "from the server (its sequence number: the request's acknowledgement number; it acknowledges the "
        "request's bytes) with FIN; drop the request and the rest of the flow. Every other flow passes."
    )


def _prefixes(params: dict[str, Any]) -> str:
    return (
        "Drop every packet, whatever its protocol, whose destination address is in one of the listed "
        f"prefixes: {', '.join(params['prefixes'])}. Packets to any other address pass."
    )


def _mtproto(params: dict[str, Any]) -> str:
    return (
        f"Drop every TCP flow to port {' or '.join(map(str, params['ports']))} whose first data segment "
        "opens Telegram's obfuscated2 transport: 64 bytes or more whose protocol tag (bytes 56-60, "
        "decrypted with the AES-256-CTR key and IV the init carries in bytes 8-56) is one of MTProto's "
        "three tags (ef ef ef ef, ee ee ee ee, dd dd dd dd). Drop that segment and the rest of its flow. "
        "Every other flow passes: TLS, HTTP, and bytes whose tag does not decrypt."
    )


SECTION_3 = "kazakhstan.md section 3"
RULES: tuple[Rule, ...] = (
    Rule(
        "tls_sni_reset",
        "ResetTLSBySNI",
        f"SNI-based blocking of Facebook, Instagram and YouTube, 2016-2022 ({SECTION_3}: reset or drop unconfirmed)",
        _draw_names,
        _reset,
    ),
    Rule(
        "dns_drop",
        "DropDNSQueries",
        f"DNS-based blocking, one candidate for Facebook 2016-2022 ({SECTION_3}, unconfirmed)",
        _draw_names,
        _drop_dns,
    ),
    Rule(
        "dns_answer",
        "AnswerDNSQueries",
        f"DNS answers pointing blocked names at a block page ({SECTION_3}, DNS candidate, unconfirmed)",
        _draw_answer,
        _answer_dns,
    ),
    Rule(
        "http_blockpage",
        "BlockpageByHTTPHost",
        f"ISP block pages for plain HTTP, 2016-2019 ({SECTION_3}, unconfirmed)",
        _draw_names,
        _blockpage,
    ),
    Rule(
        "drop_prefixes",
        "DropTrafficToPrefixes",
        f"address blocking: Telegram's published data-centre blocks, Facebook's prefixes ({SECTION_3})",
        _draw_prefixes,
        _prefixes,
    ),
    Rule(
        "mtproto",
        "DropMTProtoFlows",
        f"Telegram restricted 2018, 2019-05-09, 2022-01-04 ({SECTION_3}: protocol DPI a candidate, unconfirmed)",
        _draw_mtproto,
        _mtproto,
    ),
)
BY_KEY = {rule.key: rule for rule in RULES}


def variant(student: str) -> dict[str, Any]:
    """A student's variant, drawn from the id (labs.framework.variants.rng)."""
    r = rng(LAB, student)
    rule = r.choice(RULES)
    params, probe = rule.draw(r)
    return {
        "student": student,
        "rule": rule.key,
        "censor": rule.censor,
        "params": params,
        "probe": probe,
        "seed": r.getrandbits(32),
    }


def describe(variant: dict[str, Any]) -> str:
    return BY_KEY[variant["rule"]].describe(variant["params"])
