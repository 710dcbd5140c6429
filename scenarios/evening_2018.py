"""evening_2018: the 2018 evenings, social media slow and Telegram gone after 20:00.

kazakhstan.md section 3: for about four months of 2018, after 20:00 local time, during
the opposition's live streams, Facebook, YouTube, Twitter and Telegram were slow or
unreachable, and recovered in the morning (Eurasianet). One evening, played as a
timeline on the lab clock (Almaty time, UTC+6):
- 19:00: nothing attached, everything accessible.
- 20:30: the live stream has started. At the ISP gateway `gw`:
  ThrottleTrafficForTLSSNI for facebook.com, youtube.com and twitter.com (and their
  subdomains): the pages load after a TLS handshake of about 4-4.5 s (``throttled``);
  DropTrafficForServerEndpoint for Telegram's published data-centre prefixes
  (topologies.internet.TELEGRAM_PREFIXES): Telegram unreachable, web.telegram.org too.
- 23:30: still so (the web targets only: Telegram's blocked probe waits out its
  timeouts, some 50 s, and was measured at 20:30).
- 08:00 the next morning: both detached, everything recovered.
vk.com and kaspi.kz stay fast throughout; the abroad vantage point sees nothing.

The mechanism is the lab's assumption: the reports say "slow or unreachable", not how.
Throttling by SNI is what OONI later measured against RFE/RL (2022-23, the same section),
so it stands for "slow"; dropping Telegram's own addresses is how IP blocking of Telegram
is done elsewhere (Russia 2018), so it stands for "unreachable". Either could have been
the other (facebook_block plays the blocking candidates one by one).
"""

from tools.play.cli import script_main
from tools.play.expect import cells, web_targets
from tools.play.spec import Phase, Scenario, Step
from topologies.internet import TELEGRAM_PREFIXES

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")
SLOW = ("facebook.com", "www.youtube.com", "twitter.com")
WEB = (*SLOW, "vk.com", "kaspi.kz")
TARGETS = web_targets(*WEB, http=(), messenger=False)
TELEGRAM_BLOCKED = "blocked:telegram_tcp_blocking,telegram_http_blocking,telegram_mtproto_blocking,telegram_web"
EVENING = cells(SUBSCRIBERS, SLOW, "throttled")

SCENARIO = Scenario(
    name="evening_2018",
    description="2018 evenings: Facebook, YouTube, Twitter throttled and Telegram unreachable from 20:00 to morning",
    targets=TARGETS,
    phases=(
        Phase("19:00", at="2018, an evening, 19:00 local"),
        Phase(
            "20:30",
            at="20:30, a live stream",
            steps=(
                Step("attach", "slow", "ThrottleTrafficForTLSSNI", "gw",
                     {"domains": ["facebook.com", "youtube.com", "twitter.com"]}),
                Step("attach", "telegram", "DropTrafficForServerEndpoint", "gw",
                     {"prefixes": list(TELEGRAM_PREFIXES)}),
            ),
            expect=EVENING | cells(SUBSCRIBERS, ["telegram"], TELEGRAM_BLOCKED),
        ),
        Phase("23:30", at="23:30, still", expect=EVENING, targets=WEB),
        Phase("08:00", at="08:00 the next morning", steps=(Step("detach", "slow"), Step("detach", "telegram"))),
    ),
    sources="kazakhstan.md section 3 (Eurasianet, 2018); mechanism assumed (see the module docstring)",
)  # fmt: skip

if __name__ == "__main__":
    script_main(SCENARIO)
