"""baseline: the kz_isp lab with no censorship; every client reaches every service.

Two phases: nothing attached, then the ``dummy`` censor attached at the ISP gateway
(the negative control every later censor is judged against: it hooks the gateway's
forwarding path like a real censor and changes nothing). Both expect every cell
accessible: a failure here is a fault of the lab, not censorship.
"""

from tools.play.cli import script_main
from tools.play.expect import web_targets
from tools.play.spec import Phase, Scenario, Step

WEB = (
    "facebook.com",
    "www.facebook.com",
    "m.facebook.com",
    "messenger.com",
    "instagram.com",
    "cdninstagram.com",
    "whatsapp.com",
    "www.google.com",
    "www.youtube.com",
    "twitter.com",
    "vk.com",
    "mail.ru",
    "ok.ru",
    "telegram.org",
    "web.telegram.org",
    "azattyq.org",
    "rus.azattyq.org",
    "meduza.io",
    "vlast.kz",
    "egov.kz",
    "kaspi.kz",
    "tengrinews.kz",
    "iqala.kz",
)
TARGETS = web_targets(*WEB)

SCENARIO = Scenario(
    name="baseline",
    description="no censorship: every client reaches every service (and the dummy control)",
    targets=TARGETS,
    phases=(
        Phase("open", at="no censor"),
        Phase("dummy", at="dummy censor at gw", steps=(Step("attach", "control", "Dummy", "gw"),)),
    ),
    sources="negative control; no measurement modelled",
)

if __name__ == "__main__":
    script_main(SCENARIO)
