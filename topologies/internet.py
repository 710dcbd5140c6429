"""The simulated internet: organisations, their address blocks, web sites and certificates.

Addresses are the sites' real public addresses or addresses inside the organisation's
real announced prefixes (AS32934 for Facebook, Telegram's published data-centre blocks,
and so on), so that address-based blocking in the lab looks like the real thing. They
exist only inside the lab's sealed namespaces. Where an address is plausible rather than
verified it says so; certificates carry the names (CN and SAN) the real sites present.
"""

from __future__ import annotations

from dataclasses import dataclass

# Telegram's published data-centre addresses (kazakhstan.md, section 3).
TELEGRAM_DCS: dict[int, str] = {
    1: "149.154.175.53",
    2: "149.154.167.51",
    3: "149.154.175.100",
    4: "149.154.167.91",
    5: "91.108.56.130",
}
TELEGRAM_PREFIXES = (
    "149.154.160.0/20",
    "91.108.4.0/22",
    "91.108.8.0/22",
    "91.108.12.0/22",
    "91.108.16.0/22",
    "91.108.56.0/22",
    "95.161.64.0/20",
)
# Telegram's answer to address blocking (kazakhstan.md section 3: "alternative addresses,
# proxies"): a server outside its own blocks, whose address clients learn from Telegram
# and no blocklist holds yet. One address in Amazon's eu-central-1 block 18.196.0.0/15, as
# Telegram used cloud addresses (Amazon, Google) when Russia blocked its own in April 2018
# (widely reported; not in kazakhstan.md); plausible, not verified. In the lab it is a
# loopback of the Telegram node, served by the same telegram_dc service as DC1-DC5.
TELEGRAM_ALTERNATIVE = "18.196.140.10"
# The public resolvers (real addresses), abroad: the subscribers' alternative to the ISP's.
GOOGLE_DNS = ("8.8.8.8", "8.8.4.4")
CLOUDFLARE_DNS = ("1.1.1.1", "1.0.0.1")
FACEBOOK_PREFIXES = ("157.240.0.0/16", "31.13.64.0/18", "185.60.216.0/22", "129.134.0.0/16")


@dataclass(frozen=True)
class Site:
    """A web site: the name a client asks for, where it is, and the certificate it shows.

    ``cert`` is the real certificate's names, subject CN first, then the SAN entries;
    sites that share a certificate share the tuple."""

    domain: str
    address: str
    cert: tuple[str, ...]
    hsts: bool = True

    @property
    def title(self) -> str:
        return f"{self.domain} (kzlab)"


FB_CERT = (
    "*.facebook.com",
    "*.facebook.com",
    "*.facebook.net",
    "*.fbcdn.net",
    "*.fbsbx.com",
    "*.m.facebook.com",
    "*.messenger.com",
    "*.xx.fbcdn.net",
    "*.xy.fbcdn.net",
    "*.xz.fbcdn.net",
    "facebook.com",
    "messenger.com",
)
IG_CERT = ("*.instagram.com", "*.instagram.com", "instagram.com")
IGCDN_CERT = ("*.cdninstagram.com", "*.cdninstagram.com", "cdninstagram.com")
WA_CERT = ("*.whatsapp.net", "*.whatsapp.net", "*.whatsapp.com", "whatsapp.com", "wa.me")
GOOGLE_CERT = (
    "*.google.com",
    "*.google.com",
    "google.com",
    "*.youtube.com",
    "youtube.com",
    "*.android.com",
    "android.com",
    "goo.gl",
    "*.googlevideo.com",
    "*.ytimg.com",
)
WWW_GOOGLE_CERT = ("www.google.com", "www.google.com")


@dataclass(frozen=True)
class Organisation:
    """An operator of servers on the simulated internet, on one lab node."""

    node: str
    label: str
    asn: int | None
    prefixes: tuple[str, ...]
    sites: tuple[Site, ...] = ()


FACEBOOK = Organisation(
    "facebook",
    "Facebook / Meta",
    32934,
    FACEBOOK_PREFIXES,
    (
        Site("facebook.com", "157.240.241.35", FB_CERT),
        Site("www.facebook.com", "157.240.241.35", FB_CERT),
        Site("m.facebook.com", "157.240.241.35", FB_CERT),
        Site("messenger.com", "157.240.241.15", FB_CERT),
        Site("www.messenger.com", "157.240.241.15", FB_CERT),
        Site("instagram.com", "157.240.241.174", IG_CERT),
        Site("www.instagram.com", "157.240.241.174", IG_CERT),
        Site("cdninstagram.com", "157.240.241.63", IGCDN_CERT),
        Site("whatsapp.com", "157.240.241.60", WA_CERT),
        Site("www.whatsapp.com", "157.240.241.60", WA_CERT),
        # The endpoints of OONI's facebook_messenger test (ts-019).
        Site("stun.fbsbx.com", "157.240.241.62", FB_CERT),
        Site("b-api.facebook.com", "157.240.241.19", FB_CERT),
        Site("b-graph.facebook.com", "157.240.241.19", FB_CERT),
        Site("edge-mqtt.facebook.com", "157.240.241.11", FB_CERT),
        Site("external.xx.fbcdn.net", "31.13.72.8", FB_CERT),
        Site("scontent.xx.fbcdn.net", "31.13.72.9", FB_CERT),
        Site("star.c10r.facebook.com", "31.13.72.36", FB_CERT),
    ),
)
GOOGLE = Organisation(
    "google",
    "Google / YouTube",
    15169,
    ("142.250.0.0/15", "172.217.0.0/16"),
    (
        Site("google.com", "142.250.74.46", GOOGLE_CERT, hsts=False),
        Site("www.google.com", "142.250.74.36", WWW_GOOGLE_CERT, hsts=False),
        Site("mail.google.com", "142.250.74.37", GOOGLE_CERT),
        Site("docs.google.com", "142.250.74.46", GOOGLE_CERT),
        Site("news.google.com", "142.250.74.46", GOOGLE_CERT),
        Site("translate.google.com", "142.250.74.46", GOOGLE_CERT),
        Site("youtube.com", "142.250.74.78", GOOGLE_CERT),
        Site("www.youtube.com", "142.250.74.110", GOOGLE_CERT),
        Site("android.com", "142.250.74.68", GOOGLE_CERT, hsts=False),
        Site("goo.gl", "142.250.74.46", GOOGLE_CERT, hsts=False),
    ),
)
TWITTER = Organisation(
    "twitter",
    "Twitter / X",
    13414,
    ("104.244.40.0/21",),
    (
        Site("twitter.com", "104.244.42.193", ("twitter.com", "twitter.com", "www.twitter.com")),
        Site("www.twitter.com", "104.244.42.193", ("twitter.com", "twitter.com", "www.twitter.com")),
    ),
)
VK = Organisation(
    "vk",
    "VKontakte",
    47541,
    ("87.240.128.0/18", "93.186.224.0/20"),
    (
        Site("vk.com", "87.240.132.72", ("*.vk.com", "*.vk.com", "vk.com")),
        Site("m.vk.com", "87.240.132.72", ("*.vk.com", "*.vk.com", "vk.com")),
        Site("vk.me", "87.240.137.164", ("vk.me", "vk.me", "*.vk.me")),
    ),
)
MAILRU = Organisation(
    "mailru",
    "Mail.ru Group (VK)",
    47764,
    ("217.69.128.0/20", "5.61.16.0/21"),
    (
        Site("mail.ru", "217.69.139.200", ("*.mail.ru", "*.mail.ru", "mail.ru")),
        Site("ok.ru", "5.61.23.11", ("*.ok.ru", "*.ok.ru", "ok.ru")),
    ),
)
TELEGRAM = Organisation(
    "telegram",
    "Telegram Messenger",
    62041,
    TELEGRAM_PREFIXES,
    (
        Site("telegram.org", "149.154.167.99", ("*.telegram.org", "*.telegram.org", "telegram.org")),
        Site("web.telegram.org", "149.154.167.99", ("*.telegram.org", "*.telegram.org", "telegram.org")),
    ),
)
# RFE/RL's Kazakh service is served from Akamai; the address is plausible, not verified.
RFERL = Organisation(
    "rferl",
    "RFE/RL (Azattyq) on Akamai",
    20940,
    ("23.32.0.0/11",),
    (
        Site("azattyq.org", "23.48.108.44", ("azattyq.org", "azattyq.org", "*.azattyq.org")),
        Site("rus.azattyq.org", "23.48.108.44", ("azattyq.org", "azattyq.org", "*.azattyq.org")),
    ),
)
# Meduza behind Cloudflare; the address is plausible, not verified.
MEDUZA = Organisation(
    "meduza",
    "Meduza (Cloudflare)",
    13335,
    ("104.16.0.0/13",),
    (Site("meduza.io", "104.22.0.166", ("meduza.io", "meduza.io", "*.meduza.io")),),
)
# Domestic sites. Their addresses are plausible Kazakh addresses, not verified ones.
GOVKZ = Organisation(
    "govkz",
    "Government of Kazakhstan (gov.kz, egov.kz)",
    None,
    ("195.12.112.0/22",),
    (
        Site("gov.kz", "195.12.113.12", ("gov.kz", "gov.kz", "*.gov.kz")),
        Site("www.gov.kz", "195.12.113.12", ("gov.kz", "gov.kz", "*.gov.kz")),
        Site("egov.kz", "195.12.113.11", ("egov.kz", "egov.kz", "*.egov.kz")),
        Site("www.egov.kz", "195.12.113.11", ("egov.kz", "egov.kz", "*.egov.kz")),
    ),
)
KASPI = Organisation(
    "kaspi",
    "Kaspi Bank",
    None,
    ("194.187.244.0/22",),
    (Site("kaspi.kz", "194.187.247.152", ("kaspi.kz", "kaspi.kz", "*.kaspi.kz")),),
)
KZMEDIA = Organisation(
    "kzmedia",
    "Kazakh media hosting (tengrinews.kz, vlast.kz)",
    None,
    ("185.22.64.0/22",),
    (
        Site("tengrinews.kz", "185.22.64.10", ("tengrinews.kz", "tengrinews.kz", "*.tengrinews.kz"), hsts=False),
        Site("vlast.kz", "185.22.65.10", ("vlast.kz", "vlast.kz", "*.vlast.kz"), hsts=False),
    ),
)
# Hosted inside Kazakhtelecom, behind its interception device (kazakhstan.md 1.4, 1.7).
KTHOSTING = Organisation(
    "kthost",
    "Kazakhtelecom hosting (iqala.kz)",
    9198,
    (),
    (Site("iqala.kz", "92.46.49.10", ("iqala.kz", "iqala.kz", "www.iqala.kz"), hsts=False),),
)

INTERNATIONAL = (FACEBOOK, GOOGLE, TWITTER, VK, MAILRU, TELEGRAM, RFERL, MEDUZA)
DOMESTIC = (GOVKZ, KASPI, KZMEDIA)


def all_sites(orgs: tuple[Organisation, ...]) -> dict[str, Site]:
    """Domain -> Site over ``orgs``."""
    return {s.domain: s for o in orgs for s in o.sites}
