"""Lab 2's reference detector: is the TLS connection to NAME intercepted by the national device?

    python detect.py NAME [ADDRESS]      exit 0: intercepted; 1: not; 2: could not tell

It takes the chain the server side presents, without verifying it (tools.probes.cert_inspect,
from this host), and calls it intercepted when the leaf bears the forger's marks: an RSA
key with public exponent 3, which the device gives every forged leaf and no public CA
issues (kazakhstan.md 1.7), or an issuer that is a national CA (1.8; section 2 for 2020).
Whether this host trusts the chain says nothing either way: a subscriber who installed
the national root trusts forged leaves, and a server with a self-signed certificate is
untrusted but not intercepted (the device passes servers it does not trust, 1.2).
"""

from __future__ import annotations

import sys

from tools.probes.cert_inspect import inspect

NATIONAL_ISSUERS = ("CN=Security Certificate,C=KZ", "CN=Information Security Certification Authority,O=ISCA,C=KZ")
FORGED_EXPONENT = 3


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: detect.py NAME [ADDRESS]", file=sys.stderr)
        return 2
    result = inspect(argv[0], argv[1] if len(argv) == 2 else None)
    if "presented_chain" not in result:
        print(f"{argv[0]}: {result['operation']} failed: {result['failure']}", file=sys.stderr)
        return 2
    leaf = result["presented_chain"][0]
    forged = leaf["public_exponent"] == FORGED_EXPONENT or leaf["issuer"] in NATIONAL_ISSUERS
    print(f"{argv[0]}: {'intercepted' if forged else 'not intercepted'} (issuer {leaf['issuer']})")
    return 0 if forged else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
