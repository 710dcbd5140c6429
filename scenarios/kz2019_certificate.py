"""kz2019_certificate: the July 2019 "national security certificate" on Kazakhtelecom.

Plays kazakhstan.md section 1 on the kz_isp gateway:
- 2019-07-16, before: nothing intercepted.
- 2019-07-17: the device starts (1.1): for the 37 names (1.3) every subscriber's TLS now
  ends at the device, whose leaves chain to "Qaznet Trust Network" (1.7, 1.8); with no
  root installed yet every subscriber fails with ssl_unknown_authority, which browsers
  could not click through because of HSTS (1.11). Names off the list (m.facebook.com,
  whatsapp.com, telegram.org, kaspi.kz, ...) pass untouched. The abroad vantage point's
  traffic to international sites does not cross the device.
- 2019-07-18: home1 and mob1 install the root from qca.kz: their targets become
  tls_mitm (the page loads; the chain ends at the national root); home2 and mob2 refuse.
- 2019-07-26: interception paused (1.1): everyone sees the real certificates.
- 2019-07-30: resumed with validity shifted 24 h (1.7) and enforcement: a refuser whose
  browser rejects the chain is put in the walled garden (1.1 stub page): its plain HTTP
  goes to the portal (http-diff) and all its HTTPS is intercepted (ssl_unknown_authority).
- home2 gives in and installs the root: it is let out; mob2 stays walled.

Phases that trigger the walled garden or the release probe only facebook.com, so no
other cell races the device's decision.
"""

from tools.gateway.targets import TARGETS_2019
from tools.play.cli import script_main
from tools.play.expect import REJECTED, cells, walled, web_targets
from tools.play.spec import Phase, Scenario, Step

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")
COMPLIANT, REFUSERS = ("home1", "mob1"), ("home2", "mob2")
WEB = (
    "facebook.com",
    "www.facebook.com",
    "m.facebook.com",
    "messenger.com",
    "instagram.com",
    "cdninstagram.com",
    "whatsapp.com",
    "www.youtube.com",
    "google.com",
    "twitter.com",
    "vk.com",
    "mail.ru",
    "ok.ru",
    "telegram.org",
    "azattyq.org",
    "kaspi.kz",
    "egov.kz",
    "iqala.kz",
)
TARGETS = web_targets(*WEB)
INTERCEPTED = [t.name for t in TARGETS if t.name in TARGETS_2019] + ["http://facebook.com"]
# What crosses the gateway: iqala.kz is hosted on the subscribers' side of it (kz_isp).
HTTPS = [t.name for t in TARGETS if t.url and t.url.startswith("https:") and t.name != "iqala.kz"]
MITM = "tls_mitm"


DEVICE = Step("attach", "device", "NationalInterception", "gw", {"generation": "2019"})
DEVICE_JULY_30 = Step(
    "attach",
    "device",
    "NationalInterception",
    "gw",
    {"generation": "2019", "shift_hours": 24, "enforcement": True},
)

SCENARIO = Scenario(
    name="kz2019_certificate",
    description="2019 national security certificate: interception, compliant and refusing subscribers",
    targets=TARGETS,
    phases=(
        Phase("before", at="2019-07-16"),
        Phase("interception", at="2019-07-17", steps=(DEVICE,), expect=cells(SUBSCRIBERS, INTERCEPTED, REJECTED)),
        Phase(
            "installed",
            at="2019-07-18",
            steps=tuple(Step("install_root", f"root-{c}", node=c) for c in COMPLIANT),
            expect=cells(COMPLIANT, INTERCEPTED, MITM) | cells(REFUSERS, INTERCEPTED, REJECTED),
        ),
        Phase("paused", at="2019-07-26", steps=(Step("detach", "device"),)),
        Phase(
            "enforced",
            at="2019-07-30",
            steps=(DEVICE_JULY_30,),
            targets=("facebook.com",),
            expect=cells(COMPLIANT, ["facebook.com"], MITM) | cells(REFUSERS, ["facebook.com"], REJECTED),
        ),
        Phase(
            "walled",
            at="2019-07-31",
            expect=cells(COMPLIANT, INTERCEPTED, MITM) | walled(REFUSERS, HTTPS),
        ),
        Phase(
            "home2_gives_in",
            at="2019-08-01",
            steps=(Step("install_root", "root-home2", node="home2"),),
            targets=("facebook.com",),
            expect={
                ("home1", "facebook.com"): MITM,
                ("mob1", "facebook.com"): MITM,
                ("home2", "facebook.com"): MITM,
                ("mob2", "facebook.com"): REJECTED,
            },
        ),
        Phase(
            "after",
            at="2019-08-02",
            expect=cells(("home1", "mob1", "home2"), INTERCEPTED, MITM) | walled(("mob2",), HTTPS),
        ),
    ),
    sources="kazakhstan.md section 1 (1.1-1.11): IMC 2020 Raman et al.; Mozilla 1567114; net4people/bbs#6",
)

if __name__ == "__main__":
    script_main(SCENARIO)
