"""telegram_block: Telegram blocked by its addresses, then by recognising its protocol.

How Telegram was restricted in Kazakhstan (2018, 2019-05-09, January 2022) is not
confirmed (kazakhstan.md section 3), so the lab plays the two candidates at the ISP
gateway `gw` and shows what OONI's telegram test (and the lab's MTProto check of one
more endpoint) reports for each:

| phase | censor at gw | telegram | alternative address |
|---|---|---|---|
| address | DropTrafficForServerEndpoint, TELEGRAM_PREFIXES | tcp, http, mtproto, web blocked | accessible |
| mtproto_dpi | BlockTrafficForMTProto | mtproto blocked (timeout); tcp, http, web ok | mtproto blocked |
| mtproto_dpi_reset | BlockTrafficForMTProto, action reset | the same, connection_reset | mtproto blocked |

Address blocking also takes web.telegram.org, which sits inside 149.154.160.0/20
(149.154.167.99), so no SNI censor is needed for it; the alternative address (one
Telegram server outside its own blocks, topologies/internet.py TELEGRAM_ALTERNATIVE)
still works, as Telegram's countermeasure did. The protocol DPI leaves the data centres'
addresses, their plain HTTP and web.telegram.org (TLS) alone, and breaks the MTProto
handshake wherever it goes, the alternative address included. vk.com is the control that
stays reachable; the abroad vantage point is never censored.
"""

from tools.play.cli import script_main
from tools.play.expect import cells
from tools.play.spec import Phase, Scenario, Step, Target
from topologies.internet import TELEGRAM_ALTERNATIVE, TELEGRAM_PREFIXES

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")
TARGETS = (
    Target("telegram", "telegram"),
    Target.mtproto("telegram_alt", TELEGRAM_ALTERNATIVE),
    Target.web("web.telegram.org"),
    Target.web("vk.com"),
)
ADDRESS_BLOCKED = "blocked:telegram_tcp_blocking,telegram_http_blocking,telegram_mtproto_blocking,telegram_web"
MTPROTO_BLOCKED = "blocked:telegram_mtproto_blocking"
DPI = {"action": "drop"}

SCENARIO = Scenario(
    name="telegram_block",
    description="Telegram blocked by its data-centre addresses, then by an MTProto DPI, with OONI's verdicts",
    targets=TARGETS,
    phases=(
        Phase("before", at="no censor"),
        Phase(
            "address",
            at="variant: DropTrafficForServerEndpoint",
            steps=(Step("attach", "address", "DropTrafficForServerEndpoint", "gw",
                        {"prefixes": list(TELEGRAM_PREFIXES)}),),
            expect=cells(SUBSCRIBERS, ["telegram"], ADDRESS_BLOCKED)
            | cells(SUBSCRIBERS, ["web.telegram.org"], "tcp_ip:generic_timeout_error"),
        ),
        Phase(
            "mtproto_dpi",
            at="variant: BlockTrafficForMTProto",
            steps=(Step("detach", "address"), Step("attach", "dpi", "BlockTrafficForMTProto", "gw", DPI)),
            expect=cells(SUBSCRIBERS, ["telegram", "telegram_alt"], MTPROTO_BLOCKED),
        ),
        Phase(
            "mtproto_dpi_reset",
            at="variant: BlockTrafficForMTProto, action reset",
            steps=(Step("detach", "dpi"), Step("attach", "dpi_reset", "BlockTrafficForMTProto", "gw",
                                                {"action": "reset"})),
            expect=cells(SUBSCRIBERS, ["telegram", "telegram_alt"], MTPROTO_BLOCKED),
        ),
    ),
    sources="kazakhstan.md section 3; OONI ts-020 telegram; ooni/netem rule names",
)  # fmt: skip

if __name__ == "__main__":
    script_main(SCENARIO)
