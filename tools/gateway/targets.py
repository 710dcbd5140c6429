"""The names the interception device intercepted, exactly as measured.

2019 (kazakhstan.md 1.3): 37 exact names; a name not on the list, m.facebook.com say,
was not intercepted even where its parent was. 2020 (section 2): the reports name Google,
Facebook, Twitter, VK and mail.ru domains without a list; the lab takes the 2019 names of
those organisations, an assumption it states here.
"""

from __future__ import annotations

TARGETS_2019 = (
    "allo.google.com",
    "android.com",
    "dns.google.com",
    "docs.google.com",
    "encrypted.google.com",
    "goo.gl",
    "google.com",
    "groups.google.com",
    "hangouts.google.com",
    "mail.google.com",
    "messages.android.com",
    "news.google.com",
    "picasa.google.com",
    "plus.google.com",
    "sites.google.com",
    "translate.google.com",
    "video.google.com",
    "www.google.com",
    "www.youtube.com",
    "youtube.com",
    "cdninstagram.com",
    "facebook.com",
    "instagram.com",
    "messenger.com",
    "www.facebook.com",
    "www.instagram.com",
    "www.messenger.com",
    "mail.ru",
    "ok.ru",
    "tamtam.chat",
    "vk.com",
    "vk.me",
    "vkuseraudio.net",
    "vkuservideo.net",
    "rukoeb.com",
    "sosalkino.tv",
    "twitter.com",
)
_2020_FAMILIES = (
    "google.",
    "android.",
    "goo.gl",
    "youtube.",
    "facebook.",
    "instagram.",
    "messenger.",
    "twitter.",
    "vk.",
    "mail.ru",
)
TARGETS_2020 = tuple(t for t in TARGETS_2019 if any(f in t for f in _2020_FAMILIES))
TARGETS = {"2019": TARGETS_2019, "2020": TARGETS_2020}
