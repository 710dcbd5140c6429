"""The TLS certificate inspector: what certificate chain a server (or a middlebox on the
way) presents for a name, and whether this host's trust store accepts it.

Run inside a lab host, e.g. from the Mininet CLI:

    home1 python -m tools.probes.cert_inspect facebook.com
    abroad python -m tools.probes.cert_inspect iqala.kz --sni facebook.com --json

It resolves the name with the host's resolver (or takes --address), completes a
handshake without verifying, prints every certificate sent (subject, issuer, SAN,
validity, serial, key size and public exponent, extensions), then verifies the chain
with the host's own trust store and says where it ends or why it fails (df-007).
These are the fields the 2019 measurements describe (kazakhstan.md 1.7, 1.8).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tools.probes import netx


def inspect(name: str, address: str | None = None, port: int = 443, sni: str | None = None) -> dict[str, Any]:
    """The presented chain and the verification result, as a dict."""
    sni = sni or name
    if address is None:
        dns = netx.resolve(name)
        if dns["failure"]:
            return {"name": name, "failure": dns["failure"], "operation": "resolve"}
        address = dns["answers"][0]
    result: dict[str, Any] = {"name": name, "address": address, "port": port, "sni": sni}
    for verify in (False, True):
        sock, rec = netx.connect(address, port)
        if sock is None:
            return result | {"failure": rec["failure"], "operation": "connect"}
        tls, rec = netx.tls_handshake(sock, sni, verify=verify)
        if tls is not None:
            tls.close()
        if not verify:
            if tls is None:
                return result | {"failure": rec["failure"], "operation": "tls_handshake"}
            result["presented_chain"] = rec["peer_certificates"]
        else:
            result["verification"] = {
                "failure": rec["failure"],
                "trusted_root": rec["verified_chain"][-1]["subject"] if tls is not None else None,
            }
    return result


def render(result: dict[str, Any]) -> str:
    if "presented_chain" not in result:
        return f"{result['name']}: {result['operation']} failed: {result['failure']}"
    lines = [f"{result['name']} at {result['address']}:{result['port']} (SNI {result['sni']})"]
    for depth, cert in enumerate(result["presented_chain"]):
        lines += [
            f"  [{depth}] subject  {cert['subject']}",
            f"      issuer   {cert['issuer']}",
            f"      SAN      {', '.join(cert['san']) or '-'}",
            f"      valid    {cert['not_before']} .. {cert['not_after']}",
            f"      serial   {cert['serial']}",
            f"      key      {cert['key_type']} {cert['key_bits']} bits, e={cert['public_exponent']}",
            f"      extensions {len(cert['extensions'])}: {', '.join(cert['extensions'])}",
        ]
    v = result["verification"]
    verdict = f"trusted, chain ends at {v['trusted_root']}" if not v["failure"] else f"REJECTED: {v['failure']}"
    lines.append(f"  this host's trust store: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--address", help="connect here instead of resolving the name")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--sni", help="server name to send (default: the name)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    result = inspect(args.name, args.address, args.port, args.sni)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0 if "presented_chain" in result else 1


if __name__ == "__main__":
    sys.exit(main())
