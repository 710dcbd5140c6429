"""OONI's web_connectivity test (ts-017), run inside a lab host.

Steps, as in ooni/spec: resolve the URL's name with the host's resolver; ask the control
helper what an uncensored vantage sees; connect to every resolved address; fetch the
URL (TLS with the host's trust store, redirects followed); then compare. The verdict
uses OONI's keys: ``dns_consistency``, ``blocking`` (false, "dns", "tcp_ip",
"http-failure", "http-diff", or None when the control failed) and ``accessible``; the
failed operation and its df-007 string say how it failed. When the handshake succeeded
but the verified chain ends at an interception root the lab was told about, the lab's
own outcome is ``tls_mitm`` (DESIGN principle 4). When the page was accessible but its
TLS handshake (the first of the fetch, ``tls_handshake_time``) took longer than
``THROTTLED_HANDSHAKE_S``, the lab's outcome is ``throttled``: OONI measured the 2022-23
throttling of azattyq.org as handshakes over 2 s (kazakhstan.md section 3), while lab
handshakes take milliseconds. The threshold is absolute, not relative to the control's.
"""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tools.probes import netx

BODY_PROPORTION = 0.7  # OONI: bodies within 70 % of each other's length match
THROTTLED_HANDSHAKE_S = 2.0  # lab-specific: an accessible page with a slower TLS handshake is "throttled"
# Headers every server sends; OONI compares only the uncommon ones.
COMMON_HEADERS = frozenset(
    {
        "date",
        "content-type",
        "server",
        "cache-control",
        "vary",
        "set-cookie",
        "location",
        "expires",
        "x-powered-by",
        "content-encoding",
        "last-modified",
        "accept-ranges",
        "pragma",
        "x-frame-options",
        "etag",
        "x-content-type-options",
        "age",
        "via",
        "p3p",
        "x-xss-protection",
        "content-language",
        "cf-ray",
        "strict-transport-security-report",
        "link",
        "connection",
        "content-length",
        "keep-alive",
        "transfer-encoding",
    }
)


def ask_control(helper: str, url: str, endpoints: list[str], timeout: float = 30.0) -> dict[str, Any]:
    """POST the question to the control helper; {"failure": ...} if it cannot be asked."""
    data = json.dumps({"http_request": url, "tcp_connect": endpoints}).encode()
    req = urllib.request.Request(f"http://{helper}/", data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except Exception as exc:  # noqa: BLE001 - any failure means "no control"
        return {"failure": f"control_failure: {exc}"}


def dns_consistency(probe: dict[str, Any], control: dict[str, Any]) -> str:
    """ "consistent" when both sides fail alike or share an address, else "inconsistent"."""
    cdns = control.get("dns", {})
    if probe["failure"] or cdns.get("failure"):
        return "consistent" if probe["failure"] == cdns.get("failure") else "inconsistent"
    return "consistent" if set(probe["answers"]) & set(cdns.get("addrs", [])) else "inconsistent"


def http_matches(page: netx.Fetch, control: dict[str, Any]) -> dict[str, bool | None]:
    """OONI's four comparisons of the probe's page with the control's."""
    c = control.get("http_request", {})
    length = c.get("body_length", 0)
    proportion = min(length, len(page.body)) / max(length, len(page.body)) if length and page.body else 0
    probe_headers = set(page.headers) - COMMON_HEADERS
    control_headers = set(c.get("headers", {})) - COMMON_HEADERS
    return {
        "status_code_match": page.status == c.get("status_code"),
        "body_length_match": proportion > BODY_PROPORTION,
        "headers_match": bool(probe_headers & control_headers) if control_headers else None,
        "title_match": (page.title.split()[:1] == c.get("title", "").split()[:1]) if c.get("title") else None,
    }


def verdict(keys: dict[str, Any], control: dict[str, Any]) -> tuple[Any, bool | None]:
    """(blocking, accessible), following OONI's web_connectivity analysis."""
    if "failure" in control:
        return None, None
    page_failed = keys["http_experiment_failure"] is not None
    control_page_failed = control["http_request"].get("failure") is not None
    if keys["dns_consistency"] == "inconsistent" and (page_failed or not keys["body_length_match"]):
        return "dns", False
    tcp = keys["tcp_connect"]
    control_tcp = control.get("tcp_connect", {})
    if tcp and all(not t["status"]["success"] for t in tcp) and any(v.get("status") for v in control_tcp.values()):
        return "tcp_ip", False
    if page_failed and not control_page_failed:
        return "http-failure", False
    if page_failed and control_page_failed:
        return False, False  # down for everyone: not censorship
    m = keys
    if m["status_code_match"] and (m["body_length_match"] or m["headers_match"] or m["title_match"]):
        return False, True
    return "http-diff", False


def measure(
    url: str, helper: str, interception_roots: frozenset[str] = frozenset(), options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run web_connectivity for ``url``; returns the test keys and the lab's outcome.
    ``options`` are what the host's circumvention methods ask of its probes: ``fronts``
    (netx.fetch) has a fronted name resolved, connected to and fetched through its front,
    whose DNS answers are then compared with the control's for the front's name."""
    fronts = (options or {}).get("fronts", {})
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if url.startswith("https:") else 80)
    front = fronts.get(host, host)
    dns = netx.resolve(front)
    endpoints = [f"{a}:{port}" for a in dns["answers"]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        control_future = pool.submit(ask_control, helper, url, endpoints)
        front_url = urlunsplit(parts._replace(netloc=front))
        dns_control_future = pool.submit(ask_control, helper, front_url, []) if front != host else control_future
        tcp_records = list(pool.map(lambda a: netx.connect(a, port), dns["answers"]))
        page = netx.fetch(url, addresses=dns["answers"] or None, fronts=fronts) if not dns["failure"] else None
        control, dns_control = control_future.result(), dns_control_future.result()
    for sock, _ in tcp_records:
        if sock:
            sock.close()
    keys: dict[str, Any] = {
        "queries": [dns],
        "tcp_connect": [
            {
                "ip": r["ip"],
                "port": r["port"],
                "t": r["t"],
                "status": {"success": r["failure"] is None, "failure": r["failure"]},
            }
            for _, r in tcp_records
        ],
        "control": control,
        "control_failure": control.get("failure"),
        "dns_experiment_failure": dns["failure"],
        "dns_consistency": dns_consistency(dns, dns_control) if "failure" not in dns_control else None,
        "http_experiment_failure": page.failure if page else dns["failure"],
        "failed_operation": page.failed_operation if page else "resolve",
        "network_events": page.events if page else [],
    }
    keys |= (
        http_matches(page, control)
        if page and not page.failure
        else {
            "status_code_match": None,
            "body_length_match": None,
            "headers_match": None,
            "title_match": None,
        }
    )
    keys["blocking"], keys["accessible"] = verdict(keys, control)
    keys["tls_chain_root"] = chain_root(page)
    keys["tls_handshake_time"] = handshake_time(page)
    return {
        "test_name": "web_connectivity",
        "input": url,
        "test_keys": keys,
        "outcome": outcome(keys, interception_roots),
    }


def chain_root(page: netx.Fetch | None) -> str | None:
    """The subject of the root the last verified TLS chain ended at, if any."""
    if page is None:
        return None
    chains = [e["verified_chain"] for e in page.events if e.get("verified_chain")]
    return chains[-1][-1]["subject"] if chains else None


def handshake_time(page: netx.Fetch | None) -> float | None:
    """Seconds the fetch's first TLS handshake took (successful or not), if it made one."""
    times = [e["t"] for e in (page.events if page else []) if e.get("operation") == "tls_handshake"]
    return times[0] if times else None


def outcome(keys: dict[str, Any], interception_roots: frozenset[str]) -> str:
    """The matrix cell: "accessible", "tls_mitm", "throttled", "<blocking>:<failure>" or "unknown"."""
    if keys["blocking"] is None:
        return "unknown:control_failure"
    if keys["accessible"]:
        return accessible_outcome(keys["tls_chain_root"], keys.get("tls_handshake_time"), interception_roots)
    failure = keys["http_experiment_failure"] or keys["dns_experiment_failure"] or "none"
    return f"{keys['blocking'] or 'down'}:{failure}"


def accessible_outcome(root: str | None, handshake_s: float | None, interception_roots: frozenset[str]) -> str:
    """A fetched page's cell: "tls_mitm" when its chain ended at an interception root,
    "throttled" when its TLS handshake took over THROTTLED_HANDSHAKE_S, else "accessible"."""
    if root in interception_roots:
        return "tls_mitm"
    return "throttled" if (handshake_s or 0.0) > THROTTLED_HANDSHAKE_S else "accessible"
