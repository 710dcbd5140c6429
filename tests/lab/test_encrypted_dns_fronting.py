"""Encrypted DNS and domain fronting in a live lab (kazakhstan.md section 7), one lab for
both: the subscriber's own probe (python -m tools.probes, with the options its methods
ask for, as the runner plans it) gets through the censor with the method on and not
without; the counter-move beats it; switching off restores the host.

Encrypted DNS beats the resolver blocklist and on-path DNS injection, and falls to
DropTrafficForEncryptedDNS. Fronting beats SNI and DNS blocking and address blocking of
the blocked site, not address blocking of the CDN; the 2019 device passes a front off its
list untouched, and a front on its list is intercepted like any listed name: the refuser
fails, the subscriber with the national root gets through decrypted, and the state's log
holds the blocked name from the Host header.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.lab.support import poll
from tools.gateway.targets import TARGETS
from tools.lab.session import LabSession, LabSessionError
from tools.play.runner import probe_plan
from tools.play.spec import Target
from topologies import registry
from topologies.circumvention import CDN_PREFIX
from topologies.internet import FACEBOOK_PREFIXES

PARAMS = {"circumvention": True, "public_dns": ["home2"]}  # home2 asks 8.8.8.8 itself, across gw
MODEL = registry.build("kz_isp", **PARAMS)
FRONTING = {"front": "pypi.org", "fronted": ["facebook.com"]}


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession(**PARAMS) as session:
        yield session


def outcome(lab: LabSession, node: str, target: Target) -> str:
    """The cell ``node``'s probe reports for ``target``, with its methods' probe options."""
    plan = probe_plan(MODEL, [target], node) | {"options": lab.probe_options(node)}
    work = lab.rundir / "test-probes"
    work.mkdir(exist_ok=True)
    (work / f"{node}.json").write_text(json.dumps(plan))
    r = lab.run(node, f"python -m tools.probes {work / node}.json {work / node}.jsonl")
    assert r.rc == 0, r.err
    return json.loads((work / f"{node}.jsonl").read_text())["kzlab"]["outcome"]


def settles(lab: LabSession, node: str, target: Target, expected: str, timeout: float = 10) -> None:
    """``node``'s probe of ``target`` reports ``expected`` within ``timeout`` (a censor
    just attached, a stub's health check: what the test waits on)."""
    seen: list[str] = []
    poll(lambda: seen.append(outcome(lab, node, target)) or seen[-1] == expected, timeout, f"{expected} (saw {seen})")


def stubs(lab: LabSession, key: str) -> list[str]:
    """The dnsdist processes of the method switched on under ``key`` (the bracket keeps
    the shell running pgrep from matching itself)."""
    return lab.run("home1", f"pgrep -f 'dnsdis[t] .*circumvent/{key}/' || true").out.split()


def resolver_of(lab: LabSession, node: str) -> str:
    return lab.run(node, "awk '$1 == \"nameserver\" {print $2}' /etc/resolv.conf").out.strip()


FACEBOOK, INSTAGRAM = Target.web("facebook.com"), Target.web("instagram.com")


def test_doh_gets_around_the_resolver_blocklist_and_off_restores_the_host(lab: LabSession) -> None:
    lab.attach("rbl", "ResolverBlocklist", "resolver", domains=["facebook.com"])
    try:
        settles(lab, "home1", FACEBOOK, "dns:dns_nxdomain_error")
        lab.circumvent("doh", "doh", "home1", resolver="google")
        try:
            assert resolver_of(lab, "home1") == "127.0.0.1"
            assert outcome(lab, "home1", FACEBOOK) == "accessible"
        finally:
            lab.uncircumvent("doh")
        assert resolver_of(lab, "home1") == "92.46.0.53"
        assert stubs(lab, "doh") == []
        assert outcome(lab, "home1", FACEBOOK) == "dns:dns_nxdomain_error"
    finally:
        lab.detach("rbl")


def test_dot_gets_around_dns_injection(lab: LabSession) -> None:
    lab.attach("spoof", "SpoofDNSResponse", "gw", domains=["instagram.com"])
    try:
        poll(lambda: lab.run("home2", "dig +short instagram.com").out.split() == ["104.244.46.244"], 10, "forged")
        lab.circumvent("dot", "dot", "home2", resolver="cloudflare")
        try:
            assert lab.run("home2", "dig +short instagram.com").out.split() == ["157.240.241.174"]
            assert outcome(lab, "home2", INSTAGRAM) == "accessible"
        finally:
            lab.uncircumvent("dot")
        assert resolver_of(lab, "home2") == "8.8.8.8"
    finally:
        lab.detach("spoof")


def test_the_counter_move_cuts_a_running_stub_and_keeps_a_new_one_from_coming_up(lab: LabSession) -> None:
    lab.circumvent("dot", "dot", "home2", resolver="google")
    lab.attach("edns", "DropTrafficForEncryptedDNS", "gw")
    try:
        settles(lab, "home2", FACEBOOK, "dns:dns_server_misbehaving", timeout=15)  # the stub's SERVFAIL
        lab.uncircumvent("dot")
        refused = r"^MethodError: doh: no answer from one.one.one.one at 1.1.1.1, 1.0.0.1 port 443 .*: not after 3 s$"
        with pytest.raises(LabSessionError, match=refused):
            lab.circumvent("doh", "doh", "home1", resolver="cloudflare", wait_s=3)
        assert stubs(lab, "doh") == []
        assert resolver_of(lab, "home1") == "92.46.0.53"
        assert lab.probe_options("home1") == {}
    finally:
        lab.detach("edns")


def test_fronting_beats_sni_and_dns_blocking_and_the_sites_addresses_not_the_cdns(lab: LabSession) -> None:
    lab.attach("sni", "ResetTrafficForTLSSNI", "gw", domains=["facebook.com"])
    lab.attach("rbl", "ResolverBlocklist", "resolver", domains=["facebook.com"])
    lab.attach("fbip", "DropTrafficForServerEndpoint", "gw", prefixes=list(FACEBOOK_PREFIXES))
    try:
        settles(lab, "home1", FACEBOOK, "dns:dns_nxdomain_error")
        lab.circumvent("front", "fronting", "home1", **FRONTING)
        try:
            assert lab.probe_options("home1") == {"fronts": {"facebook.com": "pypi.org"}}
            assert outcome(lab, "home1", FACEBOOK) == "accessible"
            lab.attach("cdnip", "DropTrafficForServerEndpoint", "gw", prefixes=[CDN_PREFIX])
            try:
                assert outcome(lab, "home1", Target.fetch("facebook.com")) == "tcp_ip:generic_timeout_error"
            finally:
                lab.detach("cdnip")
        finally:
            lab.uncircumvent("front")
        assert outcome(lab, "home1", FACEBOOK) == "dns:dns_nxdomain_error"
    finally:
        for key in ("sni", "rbl", "fbip"):
            lab.detach(key)


def test_the_2019_device_passes_a_front_off_its_list_and_decrypts_one_on_it(lab: LabSession) -> None:
    """The device decides by SNI (kazakhstan.md 1.2): a front off its list (cdn.sstatic.net)
    passes untouched. A front on its list (pypi.org added to the 37 names) is intercepted
    like any listed name: without the national root the handshake fails; with it, the page
    comes decrypted (tls_mitm) and the device logs the Host it read, facebook.com (section
    7: fronting does not defeat a device that decrypts)."""
    lab.circumvent("front1", "fronting", "home1", **FRONTING)
    lab.circumvent("front2", "fronting", "mob1", **FRONTING)
    lab.circumvent("front3", "fronting", "home2", front="cdn.sstatic.net", fronted=["facebook.com"])
    lab.attach("device", "NationalInterception", "gw", targets=[*TARGETS["2019"], "pypi.org"])
    try:
        assert outcome(lab, "home2", FACEBOOK) == "accessible"
        assert outcome(lab, "home1", FACEBOOK) == "http-failure:ssl_unknown_authority"
        lab.install_root("mob1")
        assert outcome(lab, "mob1", FACEBOOK) == "tls_mitm"
    finally:
        lab.detach("device")
        for key in ("front1", "front2", "front3"):
            lab.uncircumvent(key)
    log = [json.loads(line) for line in (lab.rundir / "surveillance.jsonl").read_text().splitlines()]
    read = [e for e in log if e.get("event") == "request" and e["sni"] == "pypi.org"]
    assert read and {(e["url"], e["headers"]["host"]) for e in read} == {("https://facebook.com/", "facebook.com")}
    assert not [e for e in log if e.get("event") == "intercepted" and e["sni"] == "cdn.sstatic.net"]


def test_a_front_the_lab_has_no_edge_for_is_one_line(lab: LabSession) -> None:
    with pytest.raises(LabSessionError, match=r"^MethodError: method 'fronting': vk.com is not a front of any CDN"):
        lab.circumvent("bad", "fronting", "home1", front="vk.com", fronted=["facebook.com"])
    with pytest.raises(LabSessionError, match=r"^MethodError: .*the CDN edge behind pypi.org does not serve vk.com$"):
        lab.circumvent("bad", "fronting", "home1", front="pypi.org", fronted=["vk.com"])
    assert lab.probe_options("home1") == {}
