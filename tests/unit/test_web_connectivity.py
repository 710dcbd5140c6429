"""The OONI-style analysis of web_connectivity, facebook_messenger and telegram.

Most cases are recorded: the probe's DNS, TCP and fetch records and the control
helper's answer are made in the shapes netx and control_helper produce, and fed to the
real measure() (its network calls replaced), so verdict() sees keys exactly as measure()
builds them. One case runs the fetch for real against a loopback TLS server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tools.play.spec import OUTCOME
from tools.probes import facebook_messenger, netx, telegram
from tools.probes import web_connectivity as wc
from tools.services import web
from topologies.internet import FACEBOOK, FACEBOOK_PREFIXES, all_sites

SITE = all_sites((FACEBOOK,))["facebook.com"]
URL = "https://facebook.com/"
PORT = 443
REAL = SITE.address  # 157.240.241.35
BOGUS = "10.10.34.35"  # a resolver's lie, outside Facebook's space
PAGE = web.page(SITE).encode()
SERVER_HEADERS = {"server": "nginx", "content-type": "text/html", "strict-transport-security": web.HSTS}
BLOCKPAGE = b"<html><head><title>Access restricted</title></head><body>blocked</body></html>"
KZ_ROOT = "CN=Qaznet Trust Network,O=Qaznet,C=KZ"  # an interception root's subject
WEB_ROOT = "CN=kzlab Global Root CA,O=kzlab Global Web PKI,C=US"


# -- recorded shapes --------------------------------------------------------------------------


def resolve_record(host: str, answers: list[str], failure: str | None = None) -> dict[str, Any]:
    """What netx.resolve returns."""
    rec = {"operation": "resolve", "failure": failure, "t": 0.01, "hostname": host, "answers": answers}
    if failure is None:
        rec["resolver"] = "92.46.0.53"
    return rec


def connect_record(ip: str, failure: str | None) -> dict[str, Any]:
    return {"operation": "connect", "failure": failure, "t": 0.02, "ip": ip, "port": PORT}


def tls_record(root: str = WEB_ROOT) -> dict[str, Any]:
    chain = [{"subject": "CN=*.facebook.com"}, {"subject": root}]
    return {
        "operation": "tls_handshake",
        "failure": None,
        "t": 0.03,
        "server_name": SITE.domain,
        "tls_version": "TLSv1.3",
        "peer_certificates": chain[:1],
        "verified_chain": chain,
    }


def fetched(
    body: bytes = PAGE,
    status: int = 200,
    headers: dict[str, str] | None = None,
    root: str = WEB_ROOT,
) -> netx.Fetch:
    """A netx.Fetch that got a response over TLS whose chain ends at ``root``."""
    hdrs = SERVER_HEADERS if headers is None else headers
    http = {"operation": "http_round_trip", "failure": None, "t": 0.04, "status": status, "headers": hdrs}
    return netx.Fetch(
        events=[connect_record(REAL, None), tls_record(root), {**http, "body_length": len(body)}],
        status=status,
        headers=dict(hdrs),
        body=body,
        final_url=URL,
    )


def failed(failure: str, operation: str) -> netx.Fetch:
    """A netx.Fetch that stopped at ``operation`` with ``failure``."""
    page = netx.Fetch(final_url=URL)
    page.events.append({"operation": operation, "failure": failure, "t": 0.05})
    return page.fail(page.events[-1])


def control(
    addrs: tuple[str, ...] = (REAL,),
    endpoints: dict[str, bool] | None = None,
    page_failure: str | None = None,
    dns_failure: str | None = None,
) -> dict[str, Any]:
    """What control_helper.control_measurement returns for an uncensored facebook.com."""
    page_ok = page_failure is None
    return {
        "dns": {"failure": dns_failure, "addrs": [] if dns_failure else list(addrs)},
        "tcp_connect": {
            ep: {"status": ok, "failure": None if ok else "connection_refused"}
            for ep, ok in (endpoints if endpoints is not None else {f"{REAL}:{PORT}": True}).items()
        },
        "http_request": {
            "failure": page_failure,
            "status_code": 200 if page_ok else -1,
            "headers": SERVER_HEADERS if page_ok else {},
            "body_length": len(PAGE) if page_ok else 0,
            "title": SITE.title if page_ok else "",
        },
    }


class _Sock:
    closed = False

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, Any]]:
    """Run the real measure() on recorded network results.

    ``connects`` maps each resolved address to its connect failure (None: connected)."""

    def run(
        dns: dict[str, Any],
        connects: dict[str, str | None],
        page: netx.Fetch | None,
        ctrl: dict[str, Any],
        roots: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        asked: list[tuple[str, list[str]]] = []
        fetches: list[list[str] | None] = []

        def ask(helper: str, url: str, endpoints: list[str], timeout: float = 30.0) -> dict[str, Any]:
            asked.append((url, endpoints))
            return ctrl

        def fetch(url: str, addresses: list[str] | None = None, **_: Any) -> netx.Fetch:
            fetches.append(addresses)
            assert page is not None, "measure() fetched although DNS failed"
            return page

        def connect(address: str, port: int, timeout: float = 5.0) -> tuple[Any, dict[str, Any]]:
            failure = connects[address]
            return (None if failure else _Sock()), connect_record(address, failure)

        monkeypatch.setattr(netx, "resolve", lambda host, *a, **k: dns)
        monkeypatch.setattr(netx, "connect", connect)
        monkeypatch.setattr(netx, "fetch", fetch)
        monkeypatch.setattr(wc, "ask_control", ask)
        result = wc.measure(URL, "5.9.10.10", roots)
        keys = result["test_keys"]
        # measure() asks the control about exactly the endpoints it resolved
        assert asked == [(URL, [f"{a}:{PORT}" for a in dns["answers"]])]
        assert fetches == ([] if dns["failure"] else [dns["answers"] or None])
        assert wc.verdict(keys, ctrl) == (keys["blocking"], keys["accessible"])
        assert OUTCOME.match(result["outcome"]), result["outcome"]
        return result

    return run


# -- verdict() through measure() ---------------------------------------------------------


def test_matching_page_is_accessible(recorded: Callable) -> None:
    """Same addresses, connected, same page as the control: (False, True), "accessible"."""
    result = recorded(resolve_record(SITE.domain, [REAL]), {REAL: None}, fetched(), control())
    keys = result["test_keys"]
    assert (keys["blocking"], keys["accessible"]) == (False, True)
    assert keys["dns_consistency"] == "consistent"
    assert all(keys[k] is True for k in ("status_code_match", "body_length_match", "headers_match"))
    assert keys["title_match"] is True
    assert keys["tls_chain_root"] == WEB_ROOT
    assert result["outcome"] == "accessible"


def test_inconsistent_dns_and_failed_page_is_dns(recorded: Callable) -> None:
    """The resolver lied (an address the control never saw) and the fetch failed: "dns"."""
    result = recorded(
        resolve_record(SITE.domain, [BOGUS]),
        {BOGUS: "connection_refused"},
        failed("connection_refused", "connect"),
        control(endpoints={f"{BOGUS}:{PORT}": False}),
    )
    keys = result["test_keys"]
    assert keys["dns_consistency"] == "inconsistent"
    assert (keys["blocking"], keys["accessible"]) == ("dns", False)
    assert result["outcome"] == "dns:connection_refused"


def test_nxdomain_is_dns(recorded: Callable) -> None:
    """NXDOMAIN at the probe while the control resolves: "dns", the DNS failure named,
    and no fetch attempted."""
    result = recorded(resolve_record(SITE.domain, [], "dns_nxdomain_error"), {}, None, control(endpoints={}))
    keys = result["test_keys"]
    assert keys["failed_operation"] == "resolve"
    assert keys["tcp_connect"] == []
    assert (keys["blocking"], keys["accessible"]) == ("dns", False)
    assert result["outcome"] == "dns:dns_nxdomain_error"


def test_inconsistent_dns_with_blockpage_is_dns(recorded: Callable) -> None:
    """The lie leads to a small block page (fetched fine): body lengths differ, so "dns"."""
    result = recorded(
        resolve_record(SITE.domain, [BOGUS]),
        {BOGUS: None},
        fetched(BLOCKPAGE, headers={"content-type": "text/html"}),
        control(endpoints={f"{BOGUS}:{PORT}": False}),
    )
    assert result["test_keys"]["body_length_match"] is False
    assert result["test_keys"]["blocking"] == "dns"
    assert result["outcome"] == "dns:none"


def test_every_connect_failing_while_control_connects_is_tcp_ip(recorded: Callable) -> None:
    """DNS consistent, every probe connect timed out, the control connected: "tcp_ip"."""
    other = "157.240.241.36"
    result = recorded(
        resolve_record(SITE.domain, [REAL, other]),
        {REAL: "generic_timeout_error", other: "generic_timeout_error"},
        failed("generic_timeout_error", "connect"),
        control(endpoints={f"{REAL}:{PORT}": True, f"{other}:{PORT}": True}),
    )
    keys = result["test_keys"]
    assert [t["status"] for t in keys["tcp_connect"]] == [{"success": False, "failure": "generic_timeout_error"}] * 2
    assert (keys["blocking"], keys["accessible"]) == ("tcp_ip", False)
    assert result["outcome"] == "tcp_ip:generic_timeout_error"


def test_one_connect_succeeding_is_not_tcp_ip(recorded: Callable) -> None:
    """If any probe connect succeeded, address blocking is not the verdict."""
    other = "157.240.241.36"
    result = recorded(
        resolve_record(SITE.domain, [REAL, other]),
        {REAL: "generic_timeout_error", other: None},
        fetched(),
        control(endpoints={f"{REAL}:{PORT}": True, f"{other}:{PORT}": True}),
    )
    assert result["outcome"] == "accessible"


def test_page_failure_with_working_control_is_http_failure(recorded: Callable) -> None:
    """Connected, then the TLS handshake was reset, while the control fetched the page."""
    result = recorded(
        resolve_record(SITE.domain, [REAL]),
        {REAL: None},
        failed("connection_reset", "tls_handshake"),
        control(),
    )
    keys = result["test_keys"]
    assert (keys["blocking"], keys["accessible"]) == ("http-failure", False)
    assert keys["failed_operation"] == "tls_handshake"
    assert result["outcome"] == "http-failure:connection_reset"


def test_status_mismatch_is_http_diff(recorded: Callable) -> None:
    """A 403 where the control got 200: "http-diff", whatever else matches."""
    result = recorded(resolve_record(SITE.domain, [REAL]), {REAL: None}, fetched(status=403), control())
    keys = result["test_keys"]
    assert keys["status_code_match"] is False and keys["body_length_match"] is True
    assert (keys["blocking"], keys["accessible"]) == ("http-diff", False)
    assert result["outcome"] == "http-diff:none"


def test_body_headers_and_title_mismatch_is_http_diff(recorded: Callable) -> None:
    """Status 200 both sides, but another body, no common header, another title."""
    result = recorded(
        resolve_record(SITE.domain, [REAL]),
        {REAL: None},
        fetched(BLOCKPAGE, headers={"x-blocked": "1"}),
        control(),
    )
    keys = result["test_keys"]
    assert keys["status_code_match"] is True
    assert (keys["body_length_match"], keys["headers_match"], keys["title_match"]) == (False, False, False)
    assert keys["blocking"] == "http-diff"


def test_body_mismatch_alone_is_not_http_diff(recorded: Callable) -> None:
    """As in OONI, a status match plus matching headers outweighs a body-length mismatch."""
    result = recorded(resolve_record(SITE.domain, [REAL]), {REAL: None}, fetched(BLOCKPAGE), control())
    keys = result["test_keys"]
    assert keys["body_length_match"] is False and keys["headers_match"] is True
    assert (keys["blocking"], keys["accessible"]) == (False, True)


def test_control_failure_gives_no_verdict(recorded: Callable) -> None:
    """No control answer: blocking and accessible are None, the outcome says why."""
    result = recorded(
        resolve_record(SITE.domain, [REAL]),
        {REAL: None},
        fetched(),
        {"failure": "control_failure: timed out"},
    )
    keys = result["test_keys"]
    assert (keys["blocking"], keys["accessible"]) == (None, None)
    assert keys["dns_consistency"] is None
    assert keys["control_failure"] == "control_failure: timed out"
    assert result["outcome"] == "unknown:control_failure"


def test_site_down_for_both_is_not_censorship(recorded: Callable) -> None:
    """Probe and control both fail to connect: (False, False), shown as "down"."""
    result = recorded(
        resolve_record(SITE.domain, [REAL]),
        {REAL: "connection_refused"},
        failed("connection_refused", "connect"),
        control(endpoints={f"{REAL}:{PORT}": False}, page_failure="connection_refused"),
    )
    keys = result["test_keys"]
    assert (keys["blocking"], keys["accessible"]) == (False, False)
    assert result["outcome"] == "down:connection_refused"


def test_interception_root_gives_tls_mitm(recorded: Callable) -> None:
    """An accessible page whose verified chain ends at a root the lab was told is an
    interception root is "tls_mitm"; the same page without that knowledge is accessible."""
    args = (resolve_record(SITE.domain, [REAL]), {REAL: None}, fetched(root=KZ_ROOT), control())
    assert recorded(*args, roots=frozenset({KZ_ROOT}))["outcome"] == "tls_mitm"
    assert recorded(*args, roots=frozenset({"CN=Some Other Root"}))["outcome"] == "accessible"
    assert recorded(*args)["test_keys"]["tls_chain_root"] == KZ_ROOT


def test_tls_mitm_detected_on_a_real_loopback_fetch(
    monkeypatch: pytest.MonkeyPatch, serve: Callable, tls_http: Callable, pki, trust: Callable
) -> None:
    """measure() with real connect and fetch against a loopback TLS server whose root the
    client trusts (via SSL_CERT_FILE): the chain root is that root's subject, and naming
    it as an interception root turns "accessible" into "tls_mitm"."""
    trust(pki.root_pem)
    server = serve(tls_http(pki.server_context(), PAGE, headers={"content-type": "text/html"}))
    url = f"https://localhost:{server.port}/"
    ctrl = control(endpoints={f"127.0.0.1:{server.port}": True})
    ctrl["http_request"]["headers"] = {"content-type": "text/html"}
    monkeypatch.setattr(netx, "resolve", lambda host, *a, **k: resolve_record(host, ["127.0.0.1"]))
    monkeypatch.setattr(wc, "ask_control", lambda *a, **k: ctrl)
    root = pki.root.cert.subject.rfc4514_string()

    plain = wc.measure(url, "unused", frozenset())
    keys = plain["test_keys"]
    assert keys["http_experiment_failure"] is None, keys["network_events"]
    assert keys["tls_chain_root"] == root
    assert plain["outcome"] == "accessible"
    assert wc.measure(url, "unused", frozenset({root}))["outcome"] == "tls_mitm"


# -- dns_consistency() ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "failure", "ctrl_addrs", "ctrl_failure", "expected"),
    [
        (["1.2.3.4", REAL], None, [REAL, "5.6.7.8"], None, "consistent"),  # one shared address
        ([BOGUS], None, [REAL], None, "inconsistent"),  # disjoint
        ([], "dns_nxdomain_error", [], "dns_nxdomain_error", "consistent"),  # both NXDOMAIN
        ([], "dns_nxdomain_error", [REAL], None, "inconsistent"),  # only the probe
        ([REAL], None, [], "dns_nxdomain_error", "inconsistent"),  # only the control
        ([], "generic_timeout_error", [], "dns_nxdomain_error", "inconsistent"),  # unalike
    ],
)
def test_dns_consistency(
    answers: list[str], failure: str | None, ctrl_addrs: list[str], ctrl_failure: str | None, expected: str
) -> None:
    """Consistent iff both sides fail alike, or both succeed with an address in common."""
    probe = resolve_record(SITE.domain, answers, failure)
    ctrl = {"dns": {"failure": ctrl_failure, "addrs": ctrl_addrs}}
    assert wc.dns_consistency(probe, ctrl) == expected


# -- http_matches() -------------------------------------------------------------------------


def _with_length(n: int) -> dict[str, Any]:
    ctrl = control()
    ctrl["http_request"]["body_length"] = n
    return ctrl


@pytest.mark.parametrize(
    ("probe_len", "control_len", "match"),
    [
        (71, 100, True),  # 0.71 > 0.7
        (70, 100, False),  # 0.70 is not above the threshold
        (100, 71, True),  # symmetric: the shorter over the longer
        (100, 70, False),
        (100, 100, True),
        (0, 100, False),
        (100, 0, False),
    ],
)
def test_body_length_threshold(probe_len: int, control_len: int, match: bool) -> None:
    """body_length_match is min/max of the two lengths strictly above 0.7."""
    page = fetched(b"x" * probe_len)
    assert wc.http_matches(page, _with_length(control_len))["body_length_match"] is match


def test_http_matches_headers_and_title() -> None:
    """As OONI, only uncommon header names are compared (a block page's Server or Date
    says nothing); titles by their first word; None without a control value."""
    ctrl = control()
    ctrl["http_request"]["headers"] = {"server": "nginx", "strict-transport-security": "max-age=1"}
    assert wc.http_matches(fetched(headers={"strict-transport-security": "x"}), ctrl)["headers_match"] is True
    assert wc.http_matches(fetched(headers={"server": "nginx"}), ctrl)["headers_match"] is False
    assert wc.http_matches(fetched(headers={"x-only-here": "1"}), ctrl)["headers_match"] is False
    ctrl["http_request"]["headers"] = {"server": "nginx", "date": "today"}
    assert wc.http_matches(fetched(headers={"server": "nginx"}), ctrl)["headers_match"] is None
    ctrl["http_request"]["headers"] = {}
    ctrl["http_request"]["title"] = ""
    m = wc.http_matches(fetched(), ctrl)
    assert (m["headers_match"], m["title_match"]) == (None, None)
    assert wc.http_matches(fetched(BLOCKPAGE), control())["title_match"] is False
    assert wc.http_matches(fetched(status=302), control())["status_code_match"] is False


# -- outcome() ------------------------------------------------------------------------------


def keys_of(blocking: Any, accessible: Any, http: str | None = None, dns: str | None = None) -> dict:
    return {
        "blocking": blocking,
        "accessible": accessible,
        "http_experiment_failure": http,
        "dns_experiment_failure": dns,
        "tls_chain_root": WEB_ROOT,
    }


@pytest.mark.parametrize(
    ("keys", "roots", "expected"),
    [
        (keys_of(False, True), frozenset(), "accessible"),
        (keys_of(False, True), frozenset({WEB_ROOT}), "tls_mitm"),
        (keys_of(False, True), frozenset({KZ_ROOT}), "accessible"),
        (
            keys_of("dns", False, "dns_nxdomain_error", "dns_nxdomain_error"),
            frozenset(),
            "dns:dns_nxdomain_error",
        ),
        (keys_of("tcp_ip", False, "generic_timeout_error"), frozenset(), "tcp_ip:generic_timeout_error"),
        (keys_of("http-failure", False, "connection_reset"), frozenset(), "http-failure:connection_reset"),
        (keys_of("http-diff", False), frozenset(), "http-diff:none"),
        (keys_of(False, False, "connection_refused"), frozenset(), "down:connection_refused"),
        (keys_of(None, None), frozenset({WEB_ROOT}), "unknown:control_failure"),
    ],
)
def test_outcome(keys: dict, roots: frozenset[str], expected: str) -> None:
    """The matrix cell string for each verdict; every one is a valid scenario outcome."""
    assert wc.outcome(keys, roots) == expected
    assert OUTCOME.match(expected)


# -- facebook_messenger ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("157.240.241.35", True),
        ("157.240.0.0", True),
        ("157.240.255.255", True),
        ("157.241.0.0", False),
        ("31.13.64.0", True),  # 31.13.64.0/18 spans .64.0 - .127.255
        ("31.13.127.255", True),
        ("31.13.63.255", False),
        ("31.13.128.0", False),
        ("185.60.219.1", True),
        ("129.134.200.9", True),
        (BOGUS, False),
        ("127.0.0.1", False),
    ],
)
def test_in_facebook_space(address: str, inside: bool) -> None:
    """Membership of Facebook's announced prefixes, at the blocks' edges."""
    assert facebook_messenger.in_facebook_space(address) is inside


def test_in_facebook_space_with_other_prefixes() -> None:
    assert facebook_messenger.in_facebook_space("10.1.2.3", ("10.0.0.0/8",)) is True
    assert facebook_messenger.in_facebook_space("157.240.241.35", ("10.0.0.0/8",)) is False


def test_messenger_endpoints_are_served_in_facebook_space() -> None:
    """Every endpoint the probe checks is a Facebook site of the lab, inside the prefixes
    the probe checks against (so the baseline can be consistent)."""
    sites = all_sites((FACEBOOK,))
    for name in facebook_messenger.ENDPOINTS.values():
        assert name in sites, name
        assert facebook_messenger.in_facebook_space(sites[name].address, FACEBOOK_PREFIXES)


def test_messenger_measure_on_recorded_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lie for one endpoint is DNS blocking (and no connect is tried there); a timeout
    to a consistent endpoint is TCP blocking; the rest are reachable."""
    sites = all_sites((FACEBOOK,))
    connected: list[str] = []

    def resolve(name: str, *a: Any, **k: Any) -> dict[str, Any]:
        return resolve_record(name, [BOGUS] if name == "stun.fbsbx.com" else [sites[name].address])

    def connect(address: str, port: int, timeout: float = 5.0) -> tuple[Any, dict[str, Any]]:
        connected.append(address)
        failure = "generic_timeout_error" if address == sites["edge-mqtt.facebook.com"].address else None
        return (None if failure else _Sock()), connect_record(address, failure)

    monkeypatch.setattr(netx, "resolve", resolve)
    monkeypatch.setattr(netx, "connect", connect)
    result = facebook_messenger.measure()
    keys = result["test_keys"]
    assert (keys["facebook_stun_dns_consistent"], keys["facebook_stun_reachable"]) == (False, None)
    assert (keys["facebook_edge_dns_consistent"], keys["facebook_edge_reachable"]) == (True, False)
    assert (keys["facebook_b_api_dns_consistent"], keys["facebook_b_api_reachable"]) == (True, True)
    assert BOGUS not in connected
    assert result["outcome"] == "blocked:facebook_dns_blocking,facebook_tcp_blocking"


@pytest.mark.parametrize(
    ("dns_blocking", "tcp_blocking", "expected"),
    [
        (False, False, "accessible"),
        (True, False, "blocked:facebook_dns_blocking"),
        (False, True, "blocked:facebook_tcp_blocking"),
        (True, True, "blocked:facebook_dns_blocking,facebook_tcp_blocking"),
    ],
)
def test_messenger_outcome(dns_blocking: bool, tcp_blocking: bool, expected: str) -> None:
    keys = {"facebook_dns_blocking": dns_blocking, "facebook_tcp_blocking": tcp_blocking}
    assert facebook_messenger.outcome(keys) == expected
    assert OUTCOME.match(expected)


# -- telegram -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tcp", "http", "mtproto", "web_status", "expected"),
    [
        (False, False, False, "ok", "accessible"),
        (True, False, False, "ok", "blocked:telegram_tcp_blocking"),
        (False, False, True, "ok", "blocked:telegram_mtproto_blocking"),
        (False, False, False, "blocked", "blocked:telegram_web"),
        (
            True,
            True,
            True,
            "blocked",
            "blocked:telegram_tcp_blocking,telegram_http_blocking,telegram_mtproto_blocking,telegram_web",
        ),
    ],
)
def test_telegram_outcome(tcp: bool, http: bool, mtproto: bool, web_status: str, expected: str) -> None:
    """Each true blocking key is listed in a fixed order; a blocked web app adds telegram_web."""
    keys = {
        "telegram_tcp_blocking": tcp,
        "telegram_http_blocking": http,
        "telegram_mtproto_blocking": mtproto,
        "telegram_web_status": web_status,
    }
    assert telegram.outcome(keys) == expected
    assert OUTCOME.match(expected)
