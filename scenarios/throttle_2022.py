"""throttle_2022: RFE/RL's Kazakh service slowed by SNI, September 2022 to April 2023.

Plays kazakhstan.md section 3 on the kz_isp gateway: OONI measured azattyq.org throttled
by SNI from 2022-09-27 until 2023-04, with TLS handshakes over 2 s and medians over 4 s,
while DNS answered consistently and the sites loaded in the end.
- 2022-09-26, before: every site accessible.
- 2022-09-27 .. 2023-04: ThrottleTrafficForTLSSNI at `gw` for azattyq.org and its
  subdomains (rus.azattyq.org): every subscriber's web_connectivity of both gets the
  page, after a handshake of about 4-4.5 s, which the lab reports as ``throttled``
  (tls_handshake_time over 2 s); meduza.io, vk.com and kaspi.kz stay fast, and the abroad
  vantage point (whose path does not cross `gw`) sees nothing.
- 2023-05, after: detached, everything accessible again.
Not modelled: currenttime.tv (throttled on AS9198 2022-11-20..29) is not a site of the lab.
"""

from tools.play.cli import script_main
from tools.play.expect import cells, web_targets
from tools.play.spec import Phase, Scenario, Step

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")
RFERL = ("azattyq.org", "rus.azattyq.org")
TARGETS = web_targets(*RFERL, "meduza.io", "vk.com", "kaspi.kz", http=(), telegram=False, messenger=False)

SCENARIO = Scenario(
    name="throttle_2022",
    description="azattyq.org and rus.azattyq.org throttled by SNI at the ISP gateway (2022-09-27..2023-04)",
    targets=TARGETS,
    phases=(
        Phase("before", at="2022-09-26"),
        Phase(
            "throttled",
            at="2022-09-27 .. 2023-04",
            steps=(Step("attach", "rferl", "ThrottleTrafficForTLSSNI", "gw", {"domains": ["azattyq.org"]}),),
            expect=cells(SUBSCRIBERS, RFERL, "throttled"),
        ),
        Phase("after", at="2023-05", steps=(Step("detach", "rferl"),)),
    ),
    sources="kazakhstan.md section 3 (OONI: RFE/RL throttled by SNI, handshakes over 2 s, medians over 4 s)",
)

if __name__ == "__main__":
    script_main(SCENARIO)
