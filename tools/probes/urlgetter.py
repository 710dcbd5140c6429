"""OONI's urlgetter: one fetch of a URL from the host, no control measurement.

web_connectivity asks a control helper abroad; in a shutdown that helper is out of
reach from inside, so every cell would read "control failure". urlgetter measures only
the probe's own fetch (resolve, connect, TLS, HTTP), as OONI's urlgetter experiment
does; the lab's cell names the failed operation in OONI's blocking vocabulary
(resolve -> dns, connect -> tcp_ip, TLS or HTTP -> http-failure) with its df-007
failure, or "accessible" / "throttled" / "tls_mitm" as web_connectivity's are.
"""

from __future__ import annotations

from typing import Any

from tools.probes import netx
from tools.probes.web_connectivity import accessible_outcome, chain_root, handshake_time

BLOCKING_OF = {
    "resolve": "dns",
    "connect": "tcp_ip",
    "tls_handshake": "http-failure",
    "http_round_trip": "http-failure",
}


def measure(
    url: str, interception_roots: frozenset[str] = frozenset(), options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fetch ``url``; returns the test keys and the lab's outcome. ``options``: as
    web_connectivity.measure's (``fronts``)."""
    page = netx.fetch(url, fronts=(options or {}).get("fronts"))
    keys: dict[str, Any] = {
        "failure": page.failure,
        "failed_operation": page.failed_operation,
        "status_code": page.status,
        "body_length": len(page.body),
        "tls_chain_root": chain_root(page),
        "tls_handshake_time": handshake_time(page),
        "network_events": page.events,
    }
    if page.failure:
        outcome = f"{BLOCKING_OF.get(page.failed_operation or '', 'http-failure')}:{page.failure}"
    else:
        outcome = accessible_outcome(keys["tls_chain_root"], keys["tls_handshake_time"], interception_roots)
    return {"test_name": "urlgetter", "input": url, "test_keys": keys, "outcome": outcome}
