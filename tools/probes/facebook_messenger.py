"""OONI's facebook_messenger test (ts-019), run inside a lab host.

For each endpoint the Messenger app uses, resolve it with the host's resolver, check
that every answer lies in Facebook's address space (AS32934: the lab knows its
prefixes from the topology, where OONI uses an ASN database), and connect to port 443.
Keys are OONI's: ``facebook_<endpoint>_dns_consistent``, ``facebook_<endpoint>_reachable``,
``facebook_dns_blocking`` (any endpoint inconsistent) and ``facebook_tcp_blocking`` (any
consistent endpoint unreachable).
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.probes import netx
from topologies.internet import FACEBOOK_PREFIXES

ENDPOINTS = {
    "stun": "stun.fbsbx.com",
    "b_api": "b-api.facebook.com",
    "b_graph": "b-graph.facebook.com",
    "edge": "edge-mqtt.facebook.com",
    "external_cdn": "external.xx.fbcdn.net",
    "scontent_cdn": "scontent.xx.fbcdn.net",
    "star": "star.c10r.facebook.com",
}


def in_facebook_space(address: str, prefixes: tuple[str, ...] = FACEBOOK_PREFIXES) -> bool:
    ip = ipaddress.IPv4Address(address)
    return any(ip in ipaddress.IPv4Network(p) for p in prefixes)


def _endpoint(key: str, name: str) -> tuple[str, dict[str, Any]]:
    dns = netx.resolve(name)
    consistent = bool(dns["answers"]) and all(in_facebook_space(a) for a in dns["answers"])
    tcp = []
    if consistent:
        for address in dns["answers"]:
            sock, rec = netx.connect(address, 443)
            tcp.append(rec)
            if sock:
                sock.close()
    reachable = any(r["failure"] is None for r in tcp) if consistent else None
    return key, {"dns": dns, "tcp_connect": tcp, "dns_consistent": consistent, "reachable": reachable}


def measure() -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=len(ENDPOINTS)) as pool:
        results = dict(pool.map(lambda kv: _endpoint(*kv), ENDPOINTS.items()))
    keys: dict[str, Any] = {"endpoints": results}
    for key, r in results.items():
        keys[f"facebook_{key}_dns_consistent"] = r["dns_consistent"]
        keys[f"facebook_{key}_reachable"] = r["reachable"]
    keys["facebook_dns_blocking"] = any(not r["dns_consistent"] for r in results.values())
    keys["facebook_tcp_blocking"] = any(r["reachable"] is False for r in results.values())
    return {"test_name": "facebook_messenger", "input": None, "test_keys": keys, "outcome": outcome(keys)}


def outcome(keys: dict[str, Any]) -> str:
    blocked = [k for k in ("facebook_dns_blocking", "facebook_tcp_blocking") if keys[k]]
    return "blocked:" + ",".join(blocked) if blocked else "accessible"
