"""Tor in the lab: a private Tor network bootstrapped per run, as Tor's test networks
(chutney) are, and a subscriber's tor client with or without an obfs4 bridge.

    network.py  the network as data: relays, ports, data directories, DirAuthority lines
    keys.py     the authorities' keys and certificates, made per run (a process each)
    torrc.py    the torrc of each tor: authorities, relays, the exit, the bridge, a client
    server.py   the network's and the bridge's start with the lab, and their readiness
    method.py   the client: bootstrap followed with stem, the host's TCP and DNS through tor
    redirect.py the host's own iptables rules toward tor's TransPort and DNSPort
"""
