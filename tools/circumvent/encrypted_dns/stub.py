"""The stub resolver a subscriber runs for encrypted DNS: dnsdist (Debian 12: 1.7), which
takes the host's plain queries on 127.0.0.1:53 and sends each over DoH or DoT to the
resolver's addresses, checking the resolver's certificate against the host's own trust
store for the resolver's name, as systemd-resolved's or Android's "private DNS" does.

With every backend down (its health checks, a query each second over the same encrypted
transport, fail) it answers SERVFAIL at once rather than leaving the client to time out.
Its security polling (a TXT lookup of the running version at start) is off: it would be
one more query, through the host's own resolver.
"""

from __future__ import annotations

from collections.abc import Iterable

from tools.services.dns import DOH_PATH, DOH_PORT, DOT_PORT

LISTEN = "127.0.0.1"
TRUST_STORE = "/etc/ssl/certs/ca-certificates.crt"  # the host's own (bind-mounted) bundle


def backend(protocol: str, address: str, name: str) -> str:
    """One dnsdist ``newServer`` for ``protocol`` ("doh" or "dot") at ``address``, whose
    certificate must be valid for ``name``."""
    port, path = (DOH_PORT, f', dohPath="{DOH_PATH}"') if protocol == "doh" else (DOT_PORT, "")
    return (
        f'newServer({{address="{address}:{port}", tls="openssl", subjectName="{name}"{path}, '
        f'caStore="{TRUST_STORE}", validateCertificates=true}})'
    )


def config(protocol: str, addresses: Iterable[str], name: str) -> str:
    """dnsdist's configuration (Lua) for a stub on LISTEN:53 in front of ``addresses``."""
    lines = [
        'setSecurityPollSuffix("")',
        f'setLocal("{LISTEN}:53")',
        "setServFailWhenNoServer(true)",
        *(backend(protocol, a, name) for a in addresses),
    ]
    return "\n".join(lines) + "\n"
