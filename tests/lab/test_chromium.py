"""A real browser behind the 2019 interception device (kazakhstan.md 1.11).

One lab: the device attached at ``gw``; home1 installed the national root (compliant),
home2 refused. Each subscriber's headless Chromium (``tools.probes.browser``, run inside
the host, reading the host's own NSS database) loads the intercepted https://facebook.com/
and the not-intercepted https://m.facebook.com/. Without the root the warning cannot be
clicked through: facebook.com is in Chromium's static HSTS preload list. A site outside
that list (vk.com) gets a final warning only once its HSTS header was noted on an earlier
visit. With a HOME holding no NSS database, Chromium trusts not even the lab's global root.

Chromium plays a 2019 browser: its ClientHello must fit one segment, because the 2019
device decided from the first data segment alone (kazakhstan.md section 6). Today's
Chromium does not fit: its ML-KEM key share makes its ClientHello about 2 kB, two
segments at the device, which passes such flows with the real certificate (the last test
shows it, and that is how the lab's device would look to today's browsers).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from tools.gateway.surveillance import read
from tools.lab.session import LabSession

pytestmark = pytest.mark.deb("chromium")  # only a platform in tools/setup/platform-gaps may lack it

FB, M_FB, VK = "https://facebook.com/", "https://m.facebook.com/", "https://vk.com/"
# A 2019 browser's ClientHello carried an X25519 key share (about 500 bytes with padding).
# Chromium 156 has no switch, feature or policy left to drop its ML-KEM share (the
# PostQuantumKyber and UseMLKEM features and the PostQuantumKeyAgreementEnabled policy are
# gone: --disable-features=PostQuantumKyber,UseMLKEM leaves it at 1.9-2.0 kB), and the
# probe takes no flags; so it runs with --ssl-version-max=tls1.2 added to the probe's
# flags: no key share at all, a ClientHello of about 400 bytes, in one segment.
BROWSER_2019 = (
    "import sys; from tools.probes import browser; "
    "browser.FLAGS = (*browser.FLAGS, '--ssl-version-max=tls1.2'); sys.exit(browser.main())"
)
GLOBAL_ROOT, NATIONAL_ROOT = "kzlab Global Root CA", "Qaznet Trust Network"


@dataclass
class Seen:
    pages: dict[tuple[str, str], dict[str, Any]]  # (node, label) -> PageLoad as JSON
    leftovers: str  # Chromium processes alive in the lab afterwards
    passed: list[str]  # why the device passed each flow it passed, up to today's Chromium


def browse(
    lab: LabSession, node: str, *urls: str, profile: str = "", home: str = "", today: bool = False
) -> list[dict[str, Any]]:
    """The probe's pages, loaded by a 2019 browser (or, ``today``, Chromium as it is)."""
    opt = (f" --profile {profile}" if profile else "") + (f" --home {home}" if home else "")
    probe = "python -m tools.probes.browser" if today else f'python -c "{BROWSER_2019}"'
    r = lab.run(node, f"{probe} {' '.join(urls)} --json{opt}", timeout=60)
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
        (pages["home1", "fb today"],) = browse(lab, "home1", FB, today=True)
        passed = [e["reason"] for e in read(lab.rundir / "surveillance.jsonl") if e["event"] == "passed"]
        (pages["home2", "vk noted"],) = browse(lab, "home2", VK, profile=profile)
        (pages["home2", "vk fresh"],) = browse(lab, "home2", VK)
        # The same host with a HOME holding no NSS db: its CA bundle still trusts the global
        # root, but Chromium reads only $HOME/.pki/nssdb.
        empty = lab.rundir / "hosts" / "home2" / "empty-home"
        empty.mkdir()
        (pages["home2", "m.fb no nssdb"],) = browse(lab, "home2", M_FB, home=str(empty))
        leftovers = lab.run("home1", "ps -eo pid,stat,args | grep -i '[c]hrom' || true").out
    return Seen(pages, leftovers, passed)


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


def test_todays_chromium_gets_around_the_2019_device(seen: Seen) -> None:
    """Its ClientHello spans two segments (ML-KEM): the device, reading the first alone,
    passes the flow, and the compliant subscriber gets the real certificate."""
    fb = seen.pages["home1", "fb today"]
    assert fb["loaded"] and fb["root"] == GLOBAL_ROOT, fb
    assert "no whole ClientHello in the first data segment (no reassembly)" in seen.passed
