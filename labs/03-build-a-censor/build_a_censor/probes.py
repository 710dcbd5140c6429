"""The live check's two probes, run inside a subscriber while the student's censor is at gw.

One probe reaches what the variant's rule blocks and must see the rule's effect (a reset
TLS handshake, a DNS query that times out, the block page's address, the block page, a
connection that times out, an MTProto handshake that gets no answer); the other reaches
what it leaves alone and must get through. They use kzlab's own probe code
(tools/probes: OONI's operations and df-007 failure strings), with short timeouts so a
check takes seconds. DNS probes ask 8.8.8.8, abroad, so that the query crosses gw.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from build_a_censor.flows import address_of
from build_a_censor.rules import BLOCKPAGE_TITLE
from tools.probes import mtproto, netx

TIMEOUTS = netx.Timeouts(dns=3.0, connect=3.0, tls=3.0, http=4.0)
PUBLIC_DNS = "8.8.8.8"
TIMEOUT, RESET = "generic_timeout_error", "connection_reset"


@dataclass(frozen=True)
class Probe:
    """What was reached, what the rule wants to see, what was seen, and whether they agree."""

    target: str
    expected: str
    seen: str
    ok: bool


def _title(page: netx.Fetch) -> str | None:
    found = netx.TITLE.search(page.body)
    return found.group(1).decode(errors="replace").strip() if found else None


def _fetch(url: str) -> tuple[str, netx.Fetch]:
    page = netx.fetch(url, timeouts=TIMEOUTS)
    if page.failure:
        return f"{page.failure} at {page.failed_operation}", page
    return f"HTTP {page.status}, title {_title(page)!r}", page


def fails_with(url: str, failure: str, operation: str) -> Probe:
    seen, page = _fetch(url)
    ok = page.failure == failure and page.failed_operation == operation
    return Probe(url, f"{failure} at {operation}", seen, ok)


def loads(url: str) -> Probe:
    seen, page = _fetch(url)
    ok = page.failure is None and page.status == 200 and _title(page) != BLOCKPAGE_TITLE
    return Probe(url, "HTTP 200 with the site's own page", seen, ok)


def blockpage(url: str) -> Probe:
    seen, page = _fetch(url)
    ok = page.failure is None and page.status == 200 and _title(page) == BLOCKPAGE_TITLE
    return Probe(url, f"HTTP 200, title {BLOCKPAGE_TITLE!r}", seen, ok)


def resolves(name: str, expected: list[str] | None) -> Probe:
    """``name`` asked of 8.8.8.8: ``expected`` addresses, or None for a query that times out."""
    record = netx.resolve(name, PUBLIC_DNS, TIMEOUTS.dns)
    seen = f"{record['failure']} at resolve" if record["failure"] else f"answer {record.get('answers')}"
    want = f"answer {expected}" if expected is not None else f"{TIMEOUT} at resolve"
    ok = (
        record["failure"] == TIMEOUT
        if expected is None
        else record["failure"] is None and record.get("answers") == expected
    )
    return Probe(f"dns://{PUBLIC_DNS}/{name}", want, seen, ok)


def unanswered_mtproto(address: str) -> Probe:
    result = mtproto.handshake(address, 443, timeout=TIMEOUTS.tls)
    seen = "resPQ answered" if result["ok"] else f"{result['failure']} at {result['operation']}"
    ok = result["failure"] == TIMEOUT and result["operation"] == "mtproto_handshake"
    return Probe(f"mtproto://{address}:443", f"{TIMEOUT} at mtproto_handshake", seen, ok)


def plan(variant: dict[str, Any]) -> tuple[Callable[[], Probe], Callable[[], Probe]]:
    """(the probe of what the rule blocks, the probe of what it leaves alone)."""
    rule, params = variant["rule"], variant["params"]
    blocked, allowed = variant["probe"]["blocked"], variant["probe"]["allowed"]
    if rule == "tls_sni_reset":
        return (lambda: fails_with(f"https://{blocked}/", RESET, "tls_handshake"), lambda: loads(f"https://{allowed}/"))
    if rule == "dns_drop":
        return (lambda: resolves(blocked, None), lambda: resolves(allowed, [address_of(allowed)]))
    if rule == "dns_answer":
        return (lambda: resolves(blocked, [params["address"]]), lambda: resolves(allowed, [address_of(allowed)]))
    if rule == "http_blockpage":
        return (lambda: blockpage(f"http://{blocked}/"), lambda: loads(f"http://{allowed}/"))
    if rule == "drop_prefixes":
        return (lambda: fails_with(f"https://{blocked}/", TIMEOUT, "connect"), lambda: loads(f"https://{allowed}/"))
    return (lambda: unanswered_mtproto(blocked), lambda: loads(f"https://{allowed}/"))


def run(variant: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Both probes at once: {"blocked": ..., "allowed": ...}."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(probe) for probe in plan(variant)]
        return {key: asdict(f.result()) for key, f in zip(("blocked", "allowed"), futures, strict=True)}
