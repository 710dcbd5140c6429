"""The "why" answers, graded offline by key words: a short answer must say what the task's
censor reads or does (its mechanism) and what the recipe's method changes about that.

Each is a list of concepts; an answer shows a concept when it holds any of its words (case
folded; ``\\b`` marks a word's start). A hint names what the answer does not say yet, as a
question, not the words. The grade is coarse on purpose: it checks that an answer speaks of the
mechanism; the instructor reads the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labs.framework.checks import Task, TaskResult


@dataclass(frozen=True)
class Concept:
    says: str  # what the answer must say, for a hint
    words: tuple[str, ...]  # regular expressions, any of which shows it

    def shown(self, text: str) -> bool:
        return any(re.search(w, text, re.IGNORECASE) for w in self.words)


MIN_WORDS, MAX_WORDS = 8, 150
SNI = Concept("what the censor reads in a connection", (r"\bsni\b", r"server.name", r"client.?hello"))
DNS = Concept(
    "which step of reaching the site it acts on", (r"\bdns\b", r"look.?up", r"\bquer", r"nxdomain", r"resolv")
)
ADDRESS = Concept("what the censor matches packets by", (r"address", r"\bip\b", r"prefix", r"endpoint", r"destination"))
MECHANISMS: dict[str, tuple[Concept, ...]] = {
    "ResolverBlocklist": (Concept("who gives the false answer", (r"resolver",)), DNS),
    "SpoofDNSResponse": (
        Concept(
            "what the censor sends",
            (r"inject", r"\bforg", r"spoof", r"\bfake", r"on.path", r"\brac(e|es|ing)\b"),
        ),
        DNS,
    ),
    "ResetTrafficForTLSSNI": (SNI, Concept("what the censor does to the connection", (r"\breset", r"\brst\b"))),
    "DropTrafficForTLSSNI": (
        SNI,
        Concept(
            "what the censor does to the connection",
            (r"\bdrop", r"silen", r"time.?out", r"timed.out", r"discard", r"black.?hol"),
        ),
    ),
    "ThrottleTrafficForTLSSNI": (
        SNI,
        Concept(
            "what the censor does to the connection",
            (r"throttl", r"\bslow", r"\brate\b", r"delay", r"\bhold", r"\bheld\b", r"bandwidth"),
        ),
    ),
    "DropTrafficForServerEndpoint": (ADDRESS,),
    "NationalInterception": (
        SNI,
        Concept(
            "what the device does to the connection",
            (r"intercept", r"certificate", r"\bmitm\b", r"man.in.the.middle", r"decrypt", r"\bforg"),
        ),
    ),
    "BlockTrafficForMTProto": (
        Concept("what the censor recognises", (r"mtproto", r"obfuscat")),
        Concept(
            "how it recognises it",
            (r"\bdpi\b", r"recogni", r"pattern", r"fingerprint", r"signature", r"detect", r"deep.packet", r"inspect"),
        ),
    ),
}
ENCRYPTED = Concept("what the method does to what the censor reads", (r"encrypt", r"\btls\b", r"https"))
TUNNEL = Concept("what the method does to the host's traffic", (r"tunnel", r"encrypt"))
METHODS: dict[str, tuple[Concept, ...]] = {
    "doh": (ENCRYPTED,),
    "dot": (ENCRYPTED,),
    "wireguard": (TUNNEL,),
    "openvpn": (TUNNEL,),
    "shadowsocks": (Concept("what the method does to the host's traffic", (r"encrypt", r"proxy", r"relay")),),
    "tor": (
        Concept(
            "what the method does to the host's traffic",
            (r"\brelay", r"circuit", r"onion", r"\bexit", r"bridge", r"encrypt"),
        ),
    ),
    "fronting": (Concept("which name the connection shows", (r"\bfront", r"host.header", r"\bcdn")),),
    "geneva": (
        Concept(
            "what the strategy does to the packets the censor decides from",
            (
                r"segment",
                r"\bsplit",
                r"fragment",
                r"duplicat",
                r"\bsyn\b",
                r"reassembl",
                r"\btcb\b",
                r"length",
                r"\bttl\b",
            ),
        ),
    ),
    "mtproxy": (
        Concept("where Telegram's traffic goes", (r"proxy",)),
        Concept(
            "what that traffic looks like to the censor",
            (r"\btls\b", r"https", r"disguis", r"looks?.like", r"\bfake", r"mimic", r"imitat"),
        ),
    ),
}


def grade(task: Task, text: str, censors: list[str], method: str | None) -> TaskResult:
    """The "why" task for an answer ``text`` about ``censors`` got around with ``method``
    (None: the recipe names no method of the lab)."""
    words = len(re.findall(r"\w+", text))
    if not text.strip():
        return task.failed(f"no answer: {task.todo}")
    if method is None:
        return task.failed("a why needs its recipe: name the method first")
    if words < MIN_WORDS or words > MAX_WORDS:
        return task.failed(f"{words} words: answer in {MIN_WORDS} to {MAX_WORDS} words")
    concepts = [c for name in dict.fromkeys(censors) for c in MECHANISMS[name]] + list(METHODS[method])
    missing = [c.says for c in concepts if not c.shown(text)]
    if missing:
        return task.failed(f"say {missing[0]}")
    return task.passed()
