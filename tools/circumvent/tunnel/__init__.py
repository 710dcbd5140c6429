"""VPN clients that route a subscriber's whole host through a tunnel to a VPS abroad, and
their servers there (kazakhstan.md section 7).

    route.py      the host routed through a tunnel, its resolver pointed through it (shared)
    wireguard.py  WireGuard's keys, the server's configuration, the profiles, the method
    wgdevice.py   wireguard-go on a TUN configured by wg, in a mount namespace of its own
    openvpn.py    OpenVPN's CA, the servers' configurations, the .ovpn profiles, the method
    server.py     the VPS side: the servers' start functions, forwarding and NAT
"""
