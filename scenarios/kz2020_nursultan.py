"""kz2020_nursultan: the December 2020 repeat, "Cyber security Nur-Sultan 2020".

Plays kazakhstan.md section 2 on the kz_isp gateway:
- 2020-12-05, before: nothing intercepted.
- 2020-12-06: the device intercepts with the new root "Information Security
  Certification Authority CA"; its targets are the Google, Facebook, Twitter, VK and
  mail.ru names (targets.py says which, an assumption: the reports give no list, so ok.ru
  is not among them). The mobile operators (Beeline, Tele2, Kcell) redirected their users
  to installation pages: the lab's mobile subscribers (2.132.0.0/16) start in the walled
  garden, where plain HTTP shows the portal and every HTTPS name fails. Home subscribers
  have no root: listed names fail with ssl_unknown_authority, others work.
- mob1 installs the 2020 root from the portal and is let out on its first handshake
  (probed alone so no cell races the release): its listed names load through the
  device (tls_mitm); mob2 stays walled.
Not modelled: browsers blocking the root on 2020-12-18 (Mozilla bug 1680927).
"""

from tools.gateway.targets import TARGETS_2020
from tools.play.cli import script_main
from tools.play.expect import REJECTED, cells, walled, web_targets
from tools.play.spec import Phase, Scenario, Step

WEB = (
    "facebook.com",
    "www.facebook.com",
    "m.facebook.com",
    "instagram.com",
    "google.com",
    "www.youtube.com",
    "twitter.com",
    "vk.com",
    "mail.ru",
    "ok.ru",
    "telegram.org",
    "kaspi.kz",
    "egov.kz",
)
TARGETS = web_targets(*WEB)
LISTED = [t.name for t in TARGETS if t.name in TARGETS_2020] + ["http://facebook.com"]
HTTPS = [t.name for t in TARGETS if t.url and t.url.startswith("https:")]
MITM = "tls_mitm"
HOME, MOBILE = ("home1", "home2"), ("mob1", "mob2")


DEVICE = Step(
    "attach",
    "device",
    "NationalInterception",
    "gw",
    {"generation": "2020", "walled": ["2.132.0.0/16"]},
)

SCENARIO = Scenario(
    name="kz2020_nursultan",
    description="2020 repeat: the ISCA root, mobile subscribers redirected to the installation page",
    targets=TARGETS,
    phases=(
        Phase("before", at="2020-12-05"),
        Phase(
            "exercise",
            at="2020-12-06",
            steps=(DEVICE,),
            expect=cells(HOME, LISTED, REJECTED) | walled(MOBILE, HTTPS),
        ),
        Phase(
            "mob1_installs",
            at="2020-12-07",
            steps=(Step("install_root", "root-mob1", node="mob1", params={"generation": "2020"}),),
            targets=("facebook.com",),
            expect={
                ("home1", "facebook.com"): REJECTED,
                ("home2", "facebook.com"): REJECTED,
                ("mob1", "facebook.com"): MITM,
                ("mob2", "facebook.com"): REJECTED,
            },
        ),
        Phase(
            "after",
            at="2020-12-08",
            expect=cells(HOME, LISTED, REJECTED) | cells(("mob1",), LISTED, MITM) | walled(("mob2",), HTTPS),
        ),
    ),
    sources="kazakhstan.md section 2: net4people/bbs#56, Mozilla bug 1680927",
)

if __name__ == "__main__":
    script_main(SCENARIO)
