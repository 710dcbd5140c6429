"""kz2019_may9: social media, news sites and Telegram restricted on 2019-05-09.

NetBlocks, as summarised in kazakhstan.md section 3: Facebook, Instagram and YouTube
blocked from about 07:00 to 14:00 UTC; VK, Twitter and WhatsApp up; news sites blocked
(rus.azattyq.org, vlast.kz, holanews.kz, exclusive.kz); Telegram "restricted" but kept
working through its own countermeasures (alternative addresses, proxies). Three phases:
before 07:00, blocking on at 07:00, lifted at 14:00. Every subscriber is expected to see
the same thing; the abroad vantage point sees everything throughout.

What the scenario assumes, since the mechanism is unconfirmed:

- Websites (facebook.com, instagram.com, youtube.com, rus.azattyq.org, vlast.kz, with
  their subdomains): SNI-based blocking at the ISP gateway, ResetTrafficForTLSSNI. By
  name rather than address because WhatsApp stayed up: whatsapp.com sits on Facebook's
  own addresses (157.240.0.0/16 in the lab, as in reality), so blocking Facebook's
  prefixes would have taken it down too (and youtube.com sits in Google's blocks, beside
  google.com). Reset rather than drop is a choice: the drop OONI measured in 2023-24
  (DropTrafficForTLSSNI) would show http-failure:generic_timeout_error instead.
- Telegram: address blocking of its published data-centre blocks,
  DropTrafficForServerEndpoint on TELEGRAM_PREFIXES. Address blocking because Telegram's
  countermeasure worked: a client given a fresh address outside those blocks (the
  target ``telegram_alt``, topologies/internet.py TELEGRAM_ALTERNATIVE, a plausible
  Amazon address served by the lab's Telegram DCs) still completes its MTProto
  handshake, which a DPI on the protocol itself (BlockTrafficForMTProto, see
  telegram_block) would have broken. OONI's telegram test still reports every key
  blocked, web.telegram.org included (it is inside 149.154.160.0/20): it measures the
  five published data centres only. How the client learns the alternative address is not
  modelled: the probe is given it.

holanews.kz and exclusive.kz are not in the lab (no address or certificate for them is
modelled), so they are neither blocked nor probed. azattyq.org (the Kazakh service) is
not listed as blocked by the source and is left out rather than guessed.
"""

from tools.play.cli import script_main
from tools.play.expect import cells
from tools.play.spec import Phase, Scenario, Step, Target
from topologies.internet import TELEGRAM_ALTERNATIVE, TELEGRAM_PREFIXES

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")
BLOCKED_SITES = ("facebook.com", "instagram.com", "www.youtube.com", "rus.azattyq.org", "vlast.kz")
UP_SITES = ("vk.com", "twitter.com", "whatsapp.com")
TARGETS = (
    *(Target.web(d) for d in (*BLOCKED_SITES, *UP_SITES)),
    Target("telegram", "telegram"),
    Target.mtproto("telegram_alt", TELEGRAM_ALTERNATIVE),
)
SNI_LIST = {"domains": ["facebook.com", "instagram.com", "youtube.com", "rus.azattyq.org", "vlast.kz"]}
TELEGRAM_BLOCKED = "blocked:telegram_tcp_blocking,telegram_http_blocking,telegram_mtproto_blocking,telegram_web"

SCENARIO = Scenario(
    name="kz2019_may9",
    description="2019-05-09: Facebook, Instagram, YouTube and news sites blocked 07:00-14:00 UTC; Telegram "
    "restricted by address and reachable at an alternative one",
    targets=TARGETS,
    phases=(
        Phase("before", at="2019-05-09 before 07:00 UTC"),
        Phase(
            "blocking",
            at="2019-05-09 07:00 UTC",
            steps=(
                Step("attach", "sites", "ResetTrafficForTLSSNI", "gw", SNI_LIST),
                Step("attach", "telegram", "DropTrafficForServerEndpoint", "gw", {"prefixes": list(TELEGRAM_PREFIXES)}),
            ),
            expect=cells(SUBSCRIBERS, BLOCKED_SITES, "http-failure:connection_reset")
            | cells(SUBSCRIBERS, ["telegram"], TELEGRAM_BLOCKED),
        ),
        Phase("lifted", at="2019-05-09 14:00 UTC", steps=(Step("detach", "sites"), Step("detach", "telegram"))),
    ),
    sources="kazakhstan.md section 3 (NetBlocks, 2019-05-09)",
)

if __name__ == "__main__":
    script_main(SCENARIO)
