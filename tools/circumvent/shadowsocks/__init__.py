"""Shadowsocks (shadowsocks-libev): an encrypted proxy on a VPS abroad, and a client that
redirects its host's TCP and DNS through it (kazakhstan.md section 7).

    server.py  the VPS's ss-server and the profile it hands out
    method.py  ss-redir and ss-tunnel in the subscriber's host, iptables REDIRECT, resolv.conf
"""
