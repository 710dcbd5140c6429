"""Encrypted DNS (kazakhstan.md section 7): the host's lookups go over TLS (DoT, port
853) or HTTPS (DoH, port 443, /dns-query) to a public resolver abroad, so neither the
ISP's resolver nor an on-path injector sees or answers them.

    stub.py     the local stub resolver's configuration (dnsdist, on 127.0.0.1:53)
    method.py   the methods ``doh`` and ``dot``: start the stub, point the host's resolv.conf at it

The servers are the lab's 8.8.8.8 and 1.1.1.1 themselves (tools/services/dns.py,
``tls_names``; topologies/circumvention.py add_encrypted_dns).
"""
