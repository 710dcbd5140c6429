"""A client-side packet-strategy engine that reads Geneva's strategy syntax (Kkevsterrr/geneva)
and applies a strategy to a lab host's own packets through an NFQUEUE in that host.

    syntax.py   the strategy as data (triggers, action trees), printed back in Geneva's syntax
    parser.py   strategy strings -> trees; StrategyError names the position and what was expected
    fields.py   the IP and TCP fields a strategy names
    packet.py   a packet as actions change it; lengths and checksums when it goes out
    actions.py  one packet through a strategy
    library.py  the named strategies (the four for Kazakhstan, ClientHello splitting)
    netns.py    refusing to run in the root network namespace
    rules.py    the host's iptables rules toward the queue
    runner.py   the queue loop: apply, send, fail open
    __main__.py python -m tools.circumvent.geneva --strategy STR [--port 443] [--queue N]
"""
