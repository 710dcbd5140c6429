"""A real browser behind the 2019 interception device (kazakhstan.md 1.11).

One lab: the device attached at ``gw``; home1 installed the national root (compliant),
home2 refused. Each subscriber's headless Chromium (``tools.probes.browser``, run inside
the host, reading the host's own NSS database) loads the intercepted https://facebook.com/
and the not-intercepted https://m.facebook.com/. Without the root the warning cannot be
clicked through: facebook.com is in Chromium's static HSTS preload list. A site outside
that list (vk.com) gets a final warning only once its HSTS header was noted on an earlier
visit. With a HOME holding no NSS database, Chromium trusts not even the lab's global root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tools.lab.session import LabSession

pytestmark = pytest.mark.deb("chromium")  # only a platform in tools/setup/platform-gaps may lack it

FB, M_FB, VK = "https://facebook.com/", "https://m.facebook.com/", "https://vk.com/"
GLOBAL_ROOT, NATIONAL_ROOT = "kzlab Global Root CA", "Qaznet Trust Network"


@dataclass
class Seen:
    pages: dict[tuple[str, str], dict[str, Any]]  # (node, label) -> PageLoad as JSON
    leftovers: str  # Chromium processes alive in the lab afterwards


def browse(lab: LabSession, node: str, *urls: str, profile: str = "", home: str = "") -> list[dict[str, Any]]:
    opt = (f" --profile {profile}" if profile else "") + (f" --home {home}" if home else "")
    r = lab.run(node, f"python -m tools.probes.browser {' '.join(urls)} --json{opt}", timeout=60)
    assert r.rc in (0, 1), f"{node}: browser probe failed (rc {r.rc}): {r.err[-2000:]}"
    pages = [json.loads(line) for line in r.out.splitlines()]
    assert [p["url"] for p in pages] == list(urls), r.out
    return pages


@pytest.fixture(scope="module")
def seen() -> Seen:
    pages: dict[tuple[str, str], dict[str, Any]] = {}
    with LabSession() as lab:
        # Before the device: home2 visits vk.com and notes its HSTS header in a kept profile.
        profile = str(lab.rundir / "hosts" / "home2" / "home" / "chromium-kept")
        (pages["home2", "vk before"],) = browse(lab, "home2", VK, profile=profile)
        lab.attach("device", "NationalInterception", "gw")
        lab.install_root("home1")
        for node in ("home1", "home2"):  # facebook.com first: a first visit, no HSTS header seen
            pages[node, "fb"], pages[node, "m.fb"] = browse(lab, node, FB, M_FB)
        (pages["home2", "vk noted"],) = browse(lab, "home2", VK, profile=profile)
        (pages["home2", "vk fresh"],) = browse(lab, "home2", VK)
        # The same host with a HOME holding no NSS db: its CA bundle still trusts the global
        # root, but Chromium reads only $HOME/.pki/nssdb.
        empty = lab.rundir / "hosts" / "home2" / "empty-home"
        empty.mkdir()
        (pages["home2", "m.fb no nssdb"],) = browse(lab, "home2", M_FB, home=str(empty))
        leftovers = lab.run("home1", "ps -eo pid,stat,args | grep -i '[c]hrom' || true").out
    return Seen(pages, leftovers)


def test_refuser_cannot_click_through(seen: Seen) -> None:
    fb = seen.pages["home2", "fb"]
    assert not fb["loaded"]
    assert fb["error"] == "net::ERR_CERT_AUTHORITY_INVALID"
    assert fb["interstitial"] and fb["overridable"] is False, fb
    assert "HSTS" in fb["warning"]
    # the forged chain as Chromium saw it: leaf <- "Security Certificate" <- Qaznet root
    assert fb["chain"][0]["issuer"] == "CN=Security Certificate,C=KZ"
    assert fb["chain"][-1]["issuer"] == f"CN={NATIONAL_ROOT},C=KZ"


def test_compliant_subscriber_loads_through_the_device(seen: Seen) -> None:
    fb = seen.pages["home1", "fb"]
    assert fb["loaded"] and fb["error"] is None and fb["status"] == 200, fb
    assert fb["title"] == "facebook.com (kzlab)"
    assert fb["root"] == NATIONAL_ROOT
    assert [c["subject"] for c in fb["chain"][1:]] == ["CN=Security Certificate,C=KZ", f"CN={NATIONAL_ROOT},C=KZ"]


@pytest.mark.parametrize("node", ["home1", "home2"])
def test_not_intercepted_site_loads(seen: Seen, node: str) -> None:
    m = seen.pages[node, "m.fb"]
    assert m["loaded"] and m["title"] == "m.facebook.com (kzlab)", m
    assert m["root"] == GLOBAL_ROOT


def test_chromium_trusts_the_hosts_nss_db(seen: Seen) -> None:
    assert seen.pages["home2", "m.fb no nssdb"]["error"] == "net::ERR_CERT_AUTHORITY_INVALID"


def test_hsts_header_makes_a_warning_final(seen: Seen) -> None:
    """vk.com is not preloaded: its warning is final only once its HSTS header was seen."""
    assert seen.pages["home2", "vk before"]["loaded"]
    assert seen.pages["home2", "vk before"]["root"] == GLOBAL_ROOT
    noted, fresh = seen.pages["home2", "vk noted"], seen.pages["home2", "vk fresh"]
    assert noted["error"] == fresh["error"] == "net::ERR_CERT_AUTHORITY_INVALID"
    assert noted["overridable"] is False and "HSTS" in noted["warning"]
    assert fresh["overridable"] is True


def test_no_chromium_left_running(seen: Seen) -> None:
    assert seen.leftovers.strip() == ""
