"""Telegram through an MTProto proxy with a fake-TLS secret, as a circumvention method.

The client side of an MTProto proxy is a setting of the Telegram app, not a program: the
user pastes a ``tg://proxy`` link and the app reaches every data centre through the
proxy. So the method starts nothing in the host; it reads the link (by default the lab's
own proxy's, from the run's private directory) and tells the host's telegram probe to
connect through it (``probe_options``), which is all the app would do differently.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tools.basics.params import Field, Kind
from tools.circumvent.method import Method, MethodContext, MethodError
from tools.circumvent.mtproxy.link import link_file
from tools.dpi.faketls import ProxyLink


def _link(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return str(ProxyLink.parse(value))


class MTProxy(Method):
    name = "mtproxy"
    what = (
        "Telegram reaches its data centres through an MTProto proxy abroad whose traffic looks like TLS "
        "to an allowed name (a fake-TLS secret)"
    )
    models = "kazakhstan.md section 7: Telegram's MTProto proxies with fake-TLS secrets (since 2019)"
    fields: ClassVar[dict[str, Field]] = {
        "link": Field(
            Kind("a tg://proxy?server=...&port=...&secret=ee... link", _link),
            "the proxy (default: the lab's own, from the run directory)",
            None,
        ),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.link: ProxyLink | None = None

    def bring_up(self, ctx: MethodContext) -> None:
        text = self.params["link"]
        if text is None:
            path = link_file(ctx.rundir)
            try:
                text = path.read_text()
            except OSError:
                raise MethodError(f"mtproxy: no proxy link at {path}: is the lab built with circumvention?") from None
        self.link = ProxyLink.parse(text)

    def take_down(self, ctx: MethodContext) -> None:
        self.link = None

    def probe_options(self) -> dict[str, Any]:
        if self.link is None:
            return {}
        return {"telegram_proxy": {"address": self.link.server, "port": self.link.port, "secret": self.link.secret.hex}}
