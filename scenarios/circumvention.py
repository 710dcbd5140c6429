"""circumvention: every way around the blocking the lab has, against every censor, side by side.

Rows are subscribers, each with one method switched on (kazakhstan.md section 7: VPNs,
Tor, encrypted DNS, domain fronting, Telegram's proxies; section 6: packet strategies);
columns are phases, each with one censor (or the Telegram pair) of the catalogue: the
mechanisms of facebook_block, SNI throttling, the Telegram censors, the 2019 device, the
counter-moves a censor can make against each tool, and a border data-plane shutdown. At
every phase each method connects afresh under the phase's censor (the runner brings the
methods up after the censor is attached), so a method the censor stops shows
``tunnel-failure:METHOD`` in its row. Every subscriber installed the national root in
the first phase, so the 2019 device's column shows interception, not refusal.

``ROWS`` and ``PHASES`` below hold the expectation of every cell with the reason for it;
``python scenarios/circumvention.py --docs`` writes them as docs/circumvention.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from tools.circumvent.registry import METHODS
from tools.play.cli import script_main
from tools.play.matrix import short_codes
from tools.play.spec import Phase, Scenario, Step, Target
from topologies.internet import FACEBOOK_PREFIXES, TELEGRAM_PREFIXES


@dataclass(frozen=True)
class Row:
    """One subscriber and the method it uses (None: nothing)."""

    client: str
    label: str
    method: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"way-{self.client}"


ROWS = (
    Row("home1", "none"),
    Row("mob1", "none, resolver 8.8.8.8"),
    Row("home2", "DoH (Cloudflare)", "doh", {"resolver": "cloudflare"}),
    Row("home3", "DoT (Google)", "dot", {"resolver": "google"}),
    Row("home4", "domain fronting", "fronting", {"front": "pypi.org", "fronted": ["facebook.com"]}),
    Row("home5", "WireGuard", "wireguard"),
    Row("home6", "OpenVPN UDP", "openvpn", {"proto": "udp"}),
    Row("home7", "OpenVPN TCP 443", "openvpn", {"proto": "tcp"}),
    Row("home8", "Shadowsocks", "shadowsocks"),
    Row("home9", "Tor", "tor", {"bridge": False}),
    Row("home10", "Tor, obfs4 bridge", "tor", {"bridge": True}),
    Row("home11", "MTProto proxy", "mtproxy"),
    Row("home12", "Geneva split", "geneva", {"strategy": "clienthello_split"}),
)
BY_LABEL = {row.label: row for row in ROWS}
NONE = ("none", "none, resolver 8.8.8.8")
TUNNELS = ("WireGuard", "OpenVPN UDP", "OpenVPN TCP 443", "Shadowsocks", "Tor", "Tor, obfs4 bridge")

FB, HTTP, TG = "facebook.com", "http://facebook.com", "telegram"
TARGETS = (Target.web(FB), Target.web(FB, scheme="http"), Target(TG, "telegram"))
DOMAINS = {"domains": ["facebook.com", "instagram.com"]}
TELEGRAM_BLOCKED = "blocked:telegram_tcp_blocking,telegram_http_blocking,telegram_mtproto_blocking,telegram_web"
TELEGRAM_CENSORS = (
    ("tg_dpi", "BlockTrafficForMTProto", "gw", {"action": "drop"}),
    ("tg_address", "DropTrafficForServerEndpoint", "gw", {"prefixes": list(TELEGRAM_PREFIXES)}),
)


@dataclass(frozen=True)
class Column:
    """A phase: its censors, what it probes, and each row's outcome with why.

    ``outcomes`` maps row labels to (outcome, why); a row not named there gets
    ``default``. A ``tunnel-failure`` outcome applies to every target of the phase."""

    name: str
    title: str
    censors: tuple[tuple[str, str, str, dict[str, Any]], ...]
    targets: tuple[str, ...]
    default: tuple[str, str]
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)


def same(labels: tuple[str, ...], outcome: str, why: str) -> dict[str, tuple[str, str]]:
    return {label: (outcome, why) for label in labels}


def failure(label: str, why: str) -> dict[str, tuple[str, str]]:
    method = BY_LABEL[label].method
    return {label: (f"tunnel-failure:{method}", why)}


TUNNELLED = "the gateway sees only encrypted traffic to the tunnel's server: names, lookups and addresses travel inside"
COLUMNS = (
    Column(
        "open", "no censor", (), (FB, HTTP, TG),
        ("accessible", "nothing is blocked: every method works and carries the probes"),
    ),
    Column(
        "dns_injection", "SpoofDNSResponse at gw (facebook.com)", (("dns", "SpoofDNSResponse", "gw", DOMAINS),), (FB,),
        ("accessible", TUNNELLED + "; encrypted DNS is not readable on the path"),
        {
            "none": ("accessible", "the ISP resolver answers from its cache (warmed in the open phase): no lookup "
                     "crosses gw"),
            "none, resolver 8.8.8.8": ("dns:generic_timeout_error", "its lookup to 8.8.8.8 crosses gw, which answers "
                                       "first with a forged address"),
        },
    ),
    Column(
        "resolver_blocklist", "ResolverBlocklist at the ISP resolver", (("rpz", "ResolverBlocklist", "resolver",
                                                                         DOMAINS),), (FB,),
        ("accessible", "its lookups do not go to the ISP resolver"),
        same(("none", "MTProto proxy", "Geneva split"), "dns:dns_nxdomain_error",
             "it asks the ISP resolver, which answers NXDOMAIN for a listed name"),
    ),
    Column(
        "fb_address", "DropTrafficForServerEndpoint at gw (Facebook's prefixes)",
        (("address", "DropTrafficForServerEndpoint", "gw", {"prefixes": list(FACEBOOK_PREFIXES)}),), (FB,),
        ("accessible", TUNNELLED),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "MTProto proxy", "Geneva split"),
             "tcp_ip:generic_timeout_error", "it connects to Facebook's address, whose packets gw drops")
        | {"domain fronting": ("accessible", "it connects to the CDN's address, not Facebook's")},
    ),
    Column(
        "sni_reset", "ResetTrafficForTLSSNI at gw", (("sni", "ResetTrafficForTLSSNI", "gw", DOMAINS),), (FB,),
        ("accessible", TUNNELLED),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "MTProto proxy"), "http-failure:connection_reset",
             "its ClientHello names facebook.com in the clear: the DPI resets the flow")
        | {
            "domain fronting": ("accessible", "its SNI is the front's (pypi.org); facebook.com is only in the "
                                "encrypted Host header"),
            "Geneva split": ("accessible", "the ClientHello is split at the SNI: the DPI reads one segment and finds "
                             "no name"),
        },
    ),
    Column(
        "sni_drop", "DropTrafficForTLSSNI at gw", (("sni", "DropTrafficForTLSSNI", "gw", DOMAINS),), (FB,),
        ("accessible", TUNNELLED),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "MTProto proxy"), "http-failure:generic_timeout_error",
             "its ClientHello names facebook.com in the clear: the DPI drops the flow")
        | {
            "domain fronting": ("accessible", "its SNI is the front's; facebook.com is only in the encrypted Host"),
            "Geneva split": ("accessible", "the split ClientHello shows the DPI no name in its first segment"),
        },
    ),
    Column(
        "http_blockpage", "BlockpageForHTTPHost at gw", (("http", "BlockpageForHTTPHost", "gw", DOMAINS),), (HTTP,),
        ("accessible", TUNNELLED),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "domain fronting", "MTProto proxy", "Geneva split"),
             "http-diff:none", "plain HTTP carries Host: facebook.com in the clear; encrypted DNS, a front or a TLS "
             "strategy changes nothing there"),
    ),
    Column(
        "sni_throttle", "ThrottleTrafficForTLSSNI at gw", (("throttle", "ThrottleTrafficForTLSSNI", "gw", DOMAINS),),
        (FB,),
        ("accessible", TUNNELLED),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "MTProto proxy"), "throttled",
             "its ClientHello names facebook.com: the flow is held to a trickle")
        | {
            "domain fronting": ("accessible", "the throttle reads the front's SNI"),
            "Geneva split": ("accessible", "the throttle decides from the first segment, which holds no name"),
        },
    ),
    Column(
        "telegram", "BlockTrafficForMTProto and Telegram's prefixes dropped at gw", TELEGRAM_CENSORS, (TG,),
        ("accessible", TUNNELLED),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "domain fronting", "Geneva split"), TELEGRAM_BLOCKED,
             "it connects to Telegram's own addresses, which gw drops")
        | {
            "MTProto proxy": ("accessible", "the proxy is outside Telegram's prefixes and its traffic looks like TLS "
                              "to kaspi.kz"),
            **failure("Tor, obfs4 bridge", "obfs4's opening on port 443 looks random, as MTProto's does: the DPI "
                      "drops it and tor cannot reach its bridge"),
        },
    ),
    Column(
        "device_2019", "NationalInterception (2019) at gw",
        (("device", "NationalInterception", "gw", {"generation": "2019"}),), (FB,),
        ("accessible", TUNNELLED + "; OpenVPN over TCP 443 opens with no ClientHello, so the device passes it"),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "MTProto proxy"), "tls_mitm",
             "the device intercepts the listed name; the subscriber trusts the national root, so the page loads "
             "with a forged certificate")
        | {
            "domain fronting": ("accessible", "the device intercepts by SNI and the front (pypi.org) is not on its "
                                "list; a front on its list would be decrypted and Host read (section 7)"),
            "Geneva split": ("accessible", "the 2019 device decides from the first data segment and does not "
                             "reassemble (section 6)"),
        },
    ),
    Column(
        "encrypted_dns_blocked", "DropTrafficForEncryptedDNS at gw (counter-move)",
        (("edns", "DropTrafficForEncryptedDNS", "gw", {}),), (FB,),
        ("accessible", "nothing this censor blocks is in its way"),
        failure("DoH (Cloudflare)", "the resolver's DoH port is dropped: the stub never gets an answer")
        | failure("DoT (Google)", "port 853 and the resolver's address are dropped"),
    ),
    Column(
        "vpn_protocols_blocked", "BlockTrafficForVPNProtocols at gw (counter-move)",
        (("vpn_dpi", "BlockTrafficForVPNProtocols", "gw", {}),), (FB,),
        ("accessible", "nothing this censor recognises is in its way"),
        failure("WireGuard", "its handshake initiation (type 1, 148 bytes) is recognised and dropped")
        | failure("OpenVPN UDP", "its client hard reset opcode is recognised and dropped")
        | failure("OpenVPN TCP 443", "its length-prefixed client hard reset is recognised and dropped")
        | {"Shadowsocks": ("accessible", "its stream has no fixed bytes to recognise")},
    ),
    Column(
        "tor_relays_blocked", "BlockTorRelays at gw (counter-move)", (("tor_ips", "BlockTorRelays", "gw", {}),), (FB,),
        ("accessible", "nothing this censor blocks is in its way"),
        failure("Tor", "every relay in the consensus is dropped by address: tor cannot bootstrap")
        | {"Tor, obfs4 bridge": ("accessible", "the bridge is in no consensus, so its address is not blocked")},
    ),
    Column(
        "mtproxy_detected", "BlockTrafficForMTProtoProxy with the Telegram censors (counter-move)",
        (*TELEGRAM_CENSORS, ("mtproxy_dpi", "BlockTrafficForMTProtoProxy", "gw", {})), (TG,),
        ("accessible", TUNNELLED),
        same(NONE + ("DoH (Cloudflare)", "DoT (Google)", "domain fronting", "Geneva split"), TELEGRAM_BLOCKED,
             "Telegram's own addresses are dropped")
        | {
            "MTProto proxy": ("blocked:telegram_mtproto_blocking", "its client sends data where TLS 1.3 puts its "
                              "Finished: the detector drops the flow"),
            **failure("Tor, obfs4 bridge", "the MTProto DPI drops obfs4's random-looking opening on 443"),
        },
    ),
    Column(
        "border_shutdown", "DropTrafficAtBorder at border", (("border", "DropTrafficAtBorder", "border", {}),), (TG,),
        (TELEGRAM_BLOCKED, "nothing crosses the border: Telegram's data centres and web site are abroad"),
        {label: (f"tunnel-failure:{BY_LABEL[label].method}", "its server abroad cannot be reached")
         for label in TUNNELS + ("DoH (Cloudflare)", "DoT (Google)")}
        | {"MTProto proxy": ("blocked:telegram_tcp_blocking,telegram_mtproto_blocking",
                             "the proxy is abroad: its connection is dropped at the border")},
    ),
)  # fmt: skip


def outcome(column: Column, label: str) -> tuple[str, str]:
    return column.outcomes.get(label, column.default)


def phase(index: int, column: Column) -> Phase:
    """The column as a phase: the last phase's censors and methods off, this one's censors
    on, every method on afresh (the runner brings methods up last), every cell expected."""
    steps: list[Step] = []
    if index > 0:
        previous = COLUMNS[index - 1]
        steps += [Step("detach", key) for key, *_ in previous.censors]
        steps += [Step("uncircumvent", row.key) for row in ROWS if row.method]
    else:  # every subscriber trusts the national root, so the device's column shows interception
        steps += [Step("install_root", f"root-{row.client}", node=row.client) for row in ROWS]
    steps += [Step("attach", key, censor, node, dict(params)) for key, censor, node, params in column.censors]
    steps += [Step("circumvent", row.key, node=row.client, params=row.params, method=row.method)
              for row in ROWS if row.method]  # fmt: skip
    expect = {}
    for row in ROWS:
        got = outcome(column, row.label)[0]
        for target in column.targets:
            expect[row.client, target] = got
    return Phase(column.name, at=column.title, steps=tuple(steps), expect=expect, targets=column.targets)


SCENARIO = Scenario(
    name="circumvention",
    description="Every way around the blocking against every censor: which method beats which, and why",
    topology_params={"home": 12, "mobile": 1, "public_dns": ("mob1",), "circumvention": True},
    clients=tuple(row.client for row in ROWS),
    client_labels={row.client: row.label for row in ROWS},
    targets=TARGETS,
    phases=tuple(phase(i, column) for i, column in enumerate(COLUMNS)),
    capture=(),
    sources="kazakhstan.md sections 3, 6 and 7; the counter-moves are the lab's assumptions (docs/censors.md)",
)


def docs() -> str:
    """docs/circumvention.md: each method, what it beats, what beats it, and why."""
    lines = [
        "# Getting around it: which method beats which censor",
        "",
        "Generated by `python scenarios/circumvention.py --docs` from the expectations of the",
        "`circumvention` scenario (`make run S=circumvention` checks every one of them in a live lab).",
        "Rows are methods (kazakhstan.md sections 6 and 7), columns the censors of the catalogue",
        "(docs/censors.md); a cell is the outcome an OONI probe reports, `tunnel-failure:METHOD`",
        "when the method could not come up under that censor.",
        "",
        "| method | " + " | ".join(c.name for c in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    everything = [outcome(c, row.label)[0] for c in COLUMNS for row in ROWS]
    codes = short_codes(everything) | {"accessible": "ok"}
    for row in ROWS:
        cells = [codes[outcome(c, row.label)[0]] for c in COLUMNS]
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    lines += ["", "Legend: " + "; ".join(f"`{code}` = `{word}`" for word, code in sorted(codes.items())) + "."]
    lines += ["", "Columns:", ""]
    lines += [f"- **{c.name}**: {c.title}; probes {', '.join(c.targets)}." for c in COLUMNS]
    for row in ROWS:
        lines += ["", f"## {row.label}", ""]
        if row.method:
            method = METHODS[row.method]
            shown = ", ".join(f"{k}={v}" for k, v in row.params.items())
            lines += [f"Method `{row.method}`{f' ({shown})' if shown else ''}: {method.what}.", ""]
            if method.models:
                lines += [f"Models: {method.models}.", ""]
        else:
            lines += ["No method: what a subscriber sees of each censor.", ""]
        beats = [c for c in COLUMNS[1:] if outcome(c, row.label)[0] == "accessible"]
        beaten = [c for c in COLUMNS[1:] if outcome(c, row.label)[0] != "accessible"]
        lines += [f"- Gets through: {', '.join(c.name for c in beats) or 'nothing'}."]
        lines += [f"- Stopped by: {', '.join(c.name for c in beaten) or 'nothing'}.", ""]
        for column in COLUMNS[1:]:
            got, why = outcome(column, row.label)
            lines.append(f"- {column.name}: `{got}`: {why}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--docs"]:
        print(docs(), end="")
    else:
        script_main(SCENARIO)
