"""facebook_block: Facebook (and Instagram) blocked by each mechanism a censor could use.

How Kazakhstan blocked Facebook in 2016-2022 is not confirmed (kazakhstan.md section 3),
so the lab plays every candidate, one per phase, at the ISP (the gateway `gw`, or the ISP
resolver), and shows the verdict an OONI probe gives for each, like the table of
probe-cli's web_connectivity QA cases:

| phase | censor | web_connectivity verdict |
|---|---|---|
| resolver_blocklist | ResolverBlocklist at the ISP resolver (NXDOMAIN) | dns, dns_nxdomain_error |
| dns_injection | SpoofDNSResponse at gw (races the real answer) | dns, generic_timeout_error (forged address) |
| address | DropTrafficForServerEndpoint, Facebook's AS32934 prefixes | tcp_ip, generic_timeout_error |
| sni_reset | ResetTrafficForTLSSNI | http-failure, connection_reset |
| sni_drop | DropTrafficForTLSSNI | http-failure, generic_timeout_error |
| http_blockpage | BlockpageForHTTPHost (plain HTTP only) | http-diff |

mob2 changed its resolver to 8.8.8.8: the ISP resolver's blocklist misses it, while the
injector on the path catches its lookups and only its (the ISP resolver already holds the
answers, cached during the first phase, so its lookups no longer cross the gateway).
vk.com is the control that stays reachable; the abroad vantage point is never censored.
"""

from tools.play.cli import script_main
from tools.play.expect import cells, web_targets
from tools.play.spec import Phase, Scenario, Step
from topologies.internet import FACEBOOK_PREFIXES

SUBSCRIBERS = ("home1", "home2", "mob1", "mob2")
ISP_DNS = ("home1", "home2", "mob1")
FB_HTTPS = ("facebook.com", "www.facebook.com", "m.facebook.com", "instagram.com")
TARGETS = web_targets(*FB_HTTPS, "vk.com", telegram=False)
FB = [*FB_HTTPS, "http://facebook.com"]
DOMAINS = {"domains": ["facebook.com", "instagram.com"]}


def mechanism(name: str, censor: str, node: str, params: dict, expect: dict, previous: str | None) -> Phase:
    steps = ((Step("detach", previous),) if previous else ()) + (Step("attach", name, censor, node, params),)
    return Phase(name, at=f"variant: {censor}", steps=steps, expect=expect)


SCENARIO = Scenario(
    name="facebook_block",
    description="Facebook blocked by each candidate mechanism, with the OONI verdict of each",
    topology_params={"public_dns": ("mob2",)},
    targets=TARGETS,
    phases=(
        Phase(
            "before",
            at="the dummy censor at gw: the negative control (and the ISP resolver's cache warms)",
            steps=(Step("attach", "control", "Dummy", "gw"),),
        ),
        mechanism(
            "resolver_blocklist", "ResolverBlocklist", "resolver", DOMAINS,
            cells(ISP_DNS, FB, "dns:dns_nxdomain_error")
            | cells(ISP_DNS, ["facebook_messenger"], "blocked:facebook_dns_blocking"),
            "control",
        ),
        mechanism(
            "dns_injection", "SpoofDNSResponse", "gw", DOMAINS,
            cells(("mob2",), FB, "dns:generic_timeout_error")
            | cells(("mob2",), ["facebook_messenger"], "blocked:facebook_dns_blocking"),
            "resolver_blocklist",
        ),
        mechanism(
            "address", "DropTrafficForServerEndpoint", "gw", {"prefixes": list(FACEBOOK_PREFIXES)},
            cells(SUBSCRIBERS, FB, "tcp_ip:generic_timeout_error")
            | cells(SUBSCRIBERS, ["facebook_messenger"], "blocked:facebook_tcp_blocking"),
            "dns_injection",
        ),
        mechanism(
            "sni_reset", "ResetTrafficForTLSSNI", "gw", DOMAINS,
            cells(SUBSCRIBERS, FB, "http-failure:connection_reset"), "address",
        ),
        mechanism(
            "sni_drop", "DropTrafficForTLSSNI", "gw", DOMAINS,
            cells(SUBSCRIBERS, FB, "http-failure:generic_timeout_error"), "sni_reset",
        ),
        mechanism(
            "http_blockpage", "BlockpageForHTTPHost", "gw", DOMAINS,
            cells(SUBSCRIBERS, ["http://facebook.com"], "http-diff:none"), "sni_drop",
        ),
    ),
    sources="kazakhstan.md section 3; ooni/netem rule names; probe-cli internal/webconnectivityqa",
)  # fmt: skip

if __name__ == "__main__":
    script_main(SCENARIO)
