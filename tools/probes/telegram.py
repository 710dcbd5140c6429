"""OONI's telegram test (ts-020), with a real MTProto handshake added.

OONI connects to Telegram's data centres on ports 80 and 443 and POSTs to them over
plain HTTP, then loads web.telegram.org. The keys are OONI's: ``telegram_tcp_blocking``
(no data-centre endpoint accepted a connection), ``telegram_http_blocking`` (no HTTP
answer from any), ``telegram_web_status`` ("ok" or "blocked") and
``telegram_web_failure``. The lab adds ``telegram_mtproto_blocking``: no endpoint
completed the obfuscated2 + req_pq_multi exchange a real client starts with, which is
what a DPI that recognises the MTProto transport (kazakhstan.md, section 3) would break.

``measure_endpoint`` is the lab's own check of one more endpoint, ``mtproto://ADDRESS:PORT``
(an alternative address Telegram gives its clients, say): that exchange alone, reported
with the same keys.

With a proxy (the ``mtproxy`` circumvention method's probe option ``telegram_proxy``:
address, port and fake-TLS secret) the test measures what the app does with it: the
same exchange with every data centre, each through the proxy (tools/probes/mtproxy.py),
and nothing else, since the app sends all of its traffic there. ``proxy`` in the keys
names the proxy and its domain; ``telegram_tcp_blocking`` means no connection to the
proxy; the HTTP transport and web.telegram.org, which do not go through it, are not
measured.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from tools.dpi.faketls import Secret
from tools.probes import mtproto, mtproxy, netx
from tools.probes.web_connectivity import measure as web_connectivity
from topologies.internet import TELEGRAM_DCS

PORTS = (443, 80)
WEB = "https://web.telegram.org/"


def measure(helper: str, dcs: dict[int, str] | None = None, proxy: dict[str, Any] | None = None) -> dict[str, Any]:
    if proxy is not None:
        return measure_through_proxy(proxy, dcs or TELEGRAM_DCS)
    endpoints = [(a, p) for a in (dcs or TELEGRAM_DCS).values() for p in PORTS]
    # Every check at once (they are independent): a blocked endpoint costs one timeout,
    # not one per round of a small pool.
    with ThreadPoolExecutor(max_workers=3 * len(endpoints) + 1) as pool:
        web = pool.submit(web_connectivity, WEB, helper)
        connects = [pool.submit(netx.connect, *e) for e in endpoints]
        posts = [pool.submit(mtproto.http_post, *e) for e in endpoints]
        handshakes = [pool.submit(mtproto.handshake, *e) for e in endpoints]
        tcp = [f.result()[1] for f in connects]
        http = [f.result() for f in posts]
        mt = [f.result() for f in handshakes]
        web_result = web.result()
    web_keys = web_result["test_keys"]
    keys = {
        "tcp_connect": tcp,
        "http_requests": http,
        "mtproto_handshakes": mt,
        "telegram_tcp_blocking": all(r["failure"] for r in tcp),
        "telegram_http_blocking": not any(r["ok"] for r in http),
        "telegram_mtproto_blocking": not any(r["ok"] for r in mt),
        "telegram_web_status": "ok" if web_keys["accessible"] else "blocked",
        "telegram_web_failure": web_keys["http_experiment_failure"],
        "web_connectivity": web_keys,
    }
    return {"test_name": "telegram", "input": None, "test_keys": keys, "outcome": outcome(keys)}


def measure_through_proxy(proxy: dict[str, Any], dcs: dict[int, str]) -> dict[str, Any]:
    """Every data centre through the fake-TLS MTProto proxy ``proxy`` names."""
    secret = Secret.parse(proxy["secret"])
    with ThreadPoolExecutor(max_workers=len(dcs)) as pool:
        mt = list(pool.map(lambda dc: mtproxy.handshake(proxy["address"], proxy["port"], secret, dc), sorted(dcs)))
    keys = {
        "proxy": {"address": proxy["address"], "port": proxy["port"], "domain": secret.domain},
        "mtproto_handshakes": mt,
        "telegram_tcp_blocking": all(r["operation"] == "connect" for r in mt),
        "telegram_mtproto_blocking": not any(r["ok"] for r in mt),
    }
    return {"test_name": "telegram", "input": None, "test_keys": keys, "outcome": outcome(keys)}


def outcome(keys: dict[str, Any]) -> str:
    """ "accessible", or "blocked:" and the blocking keys that are true."""
    blocked = [
        k for k in ("telegram_tcp_blocking", "telegram_http_blocking", "telegram_mtproto_blocking") if keys.get(k)
    ]
    if keys.get("telegram_web_status", "ok") != "ok":
        blocked.append("telegram_web")
    return "blocked:" + ",".join(blocked) if blocked else "accessible"


def measure_endpoint(url: str) -> dict[str, Any]:
    """A client's first MTProto round trip to the endpoint ``url`` names (``mtproto://ADDRESS:PORT``)."""
    parts = urlsplit(url)
    if parts.scheme != "mtproto" or not parts.hostname or parts.port is None:
        raise ValueError(f"not an mtproto://ADDRESS:PORT url: {url!r}")
    handshake = mtproto.handshake(parts.hostname, parts.port)
    keys = {
        "mtproto_handshakes": [handshake],
        "telegram_tcp_blocking": handshake["operation"] == "connect" and handshake["failure"] is not None,
        "telegram_mtproto_blocking": not handshake["ok"],
    }
    blocked = [k for k in ("telegram_tcp_blocking", "telegram_mtproto_blocking") if keys[k]]
    return {
        "test_name": "mtproto",
        "input": url,
        "test_keys": keys,
        "outcome": "blocked:" + ",".join(blocked) if blocked else "accessible",
    }
