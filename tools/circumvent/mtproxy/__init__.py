"""Telegram's own way around the blocks (kazakhstan.md section 7): an MTProto proxy abroad
with a fake-TLS secret, in front of the lab's Telegram data centres.

    link.py     where the lab keeps the proxy's tg://proxy link
    server.py   the proxy, a lab service: python -m tools.circumvent.mtproxy.server ...
    method.py   the client side: the telegram probe reaches Telegram through the proxy
"""
