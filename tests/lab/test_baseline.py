"""The baseline scenario end to end: matrix, results, pcap, --cli, and the seal.

One run serves every test here: ``make run S=baseline ARGS="--pcap --cli"``, with the
Mininet CLI fed commands on stdin while the lab is up, and the root namespace looked at
before, during and after.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.lab import support
from tools.play.cli import load
from topologies.internet import DOMESTIC, INTERNATIONAL, all_sites

CLI_COMMANDS = [
    "home1 ping -c1 -W2 9.9.9.9",  # outside the model: no router has a route
    "home1 cat /etc/resolv.conf",
    "abroad cat /etc/resolv.conf",
    "home2 python -m tools.probes.cert_inspect facebook.com",
    "mob1 curl -sS https://www.facebook.com/ -o /dev/null -w 'CURL %{http_code} %{ssl_verify_result}\\n'",
    "abroad dig +short kaspi.kz",
    "py print('ROUTE', net['gw'].cmd('ip route get 157.240.241.35').split()[2])",
    "exit",
]


@dataclass
class BaselineRun:
    returncode: int
    output: str
    netns: str
    results: Path
    before: dict
    during: dict
    after: dict
    leaked: str


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> BaselineRun:
    results_base = tmp_path_factory.mktemp("results")
    before = support.host_snapshot()
    # Watch the root namespace for any packet to or from the lab's addresses.
    watch = subprocess.Popen(
        [
            "tcpdump",
            "-i",
            "any",
            "-n",
            "-l",
            "net 95.56.0.0/16 or net 157.240.0.0/16 or net 198.41.0.0/24"
            " or net 2.132.0.0/16 or net 80.81.192.0/24 or net 149.154.160.0/20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    proc = support.start("run", "baseline", "--pcap", "--cli", "--results", str(results_base), stdin=subprocess.PIPE)
    netns, lines = support.wait_ready(proc)
    during = support.host_snapshot()
    out, _ = proc.communicate("\n".join(CLI_COMMANDS) + "\n", timeout=300)
    watch.terminate()
    leaked, _ = watch.communicate(timeout=10)
    after = support.host_snapshot()
    (results,) = (results_base / "baseline").iterdir()
    return BaselineRun(proc.returncode, "".join(lines) + out, netns, results, before, during, after, leaked)


def test_every_cell_accessible_and_exit_zero(baseline: BaselineRun) -> None:
    assert baseline.returncode == 0, baseline.output[-3000:]
    summary = json.loads((baseline.results / "summary.json").read_text())
    scenario = load("baseline")
    assert summary["matched"] is True
    clients = ["home1", "home2", "mob1", "mob2", "abroad"]
    expected_cells = len(clients) * len(scenario.targets) * len(scenario.phases)
    assert len(summary["cells"]) == expected_cells
    for cell in summary["cells"]:
        assert set(cell) >= {"phase", "client", "target", "expected", "observed", "match"}
        assert cell["observed"] == "accessible" and cell["match"], cell
    assert {c["client"] for c in summary["cells"]} == set(clients)


def test_measurements_are_ooni_like_records(baseline: BaselineRun) -> None:
    records = [json.loads(x) for x in (baseline.results / "measurements.jsonl").read_text().splitlines()]
    summary = json.loads((baseline.results / "summary.json").read_text())
    assert len(records) == len(summary["cells"])
    by_test = {r["test_name"] for r in records}
    assert by_test == {"web_connectivity", "telegram", "facebook_messenger"}
    fb = next(r for r in records if r["input"] == "https://facebook.com/" and r["kzlab"]["client"] == "home1")
    keys = fb["test_keys"]
    assert fb["probe_cc"] == "KZ" and fb["probe_asn"] == "AS9198"
    assert keys["blocking"] is False and keys["accessible"] is True
    assert keys["dns_consistency"] == "consistent"
    assert keys["queries"][0]["answers"] == [all_sites(INTERNATIONAL)["facebook.com"].address]
    assert keys["queries"][0]["resolver"] == "92.46.0.53"  # the ISP resolver, from home1's resolv.conf
    tls = [e for e in keys["network_events"] if e["operation"] == "tls_handshake"]
    assert tls and tls[0]["verified_chain"][-1]["subject"].startswith("CN=kzlab Global Root CA")
    assert "facebook.com" in tls[0]["peer_certificates"][0]["san"]
    tg = next(r for r in records if r["test_name"] == "telegram")["test_keys"]
    assert not tg["telegram_tcp_blocking"] and not tg["telegram_http_blocking"]
    assert tg["telegram_web_status"] == "ok" and not tg["telegram_mtproto_blocking"]
    http = next(r for r in records if r["input"] == "http://facebook.com/")["test_keys"]
    statuses = [e.get("status") for e in http["network_events"] if e["operation"] == "http_round_trip"]
    assert statuses == [301, 200]  # plain HTTP redirects to HTTPS
    abroad = next(r for r in records if r["kzlab"]["client"] == "abroad" and r["input"] == "https://kaspi.kz/")
    assert abroad["probe_cc"] == "DE"
    assert abroad["test_keys"]["queries"][0]["answers"] == [all_sites(DOMESTIC)["kaspi.kz"].address]


def test_pcap_is_readable_and_shows_the_gateway_traffic(baseline: BaselineRun) -> None:
    pcap = baseline.results / "gw-border.pcap"
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(pcap),
            "-Y",
            "tls.handshake.type == 1",
            "-T",
            "fields",
            "-e",
            "tls.handshake.extensions_server_name",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "facebook.com" in out and "kaspi.kz" in out
    core = subprocess.run(
        ["tshark", "-r", str(baseline.results / "gw-core.pcap"), "-c", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert core.stdout.strip()


def test_cli_runs_commands_in_lab_hosts(baseline: BaselineRun) -> None:
    assert "nameserver 92.46.0.53" in baseline.output  # home1: the ISP resolver
    assert "nameserver 5.9.10.53" in baseline.output  # abroad: the control resolver


def test_no_route_leaves_the_lab(baseline: BaselineRun) -> None:
    """A lab host sending outside the model is refused by its first router."""
    assert "From 95.56.0.1 icmp_seq=1 Destination Net Unreachable" in baseline.output


def test_root_namespace_unchanged(baseline: BaselineRun) -> None:
    assert support.snapshot_diff(baseline.before, baseline.during) == []
    assert support.snapshot_diff(baseline.before, baseline.after) == []


def test_no_lab_packet_in_root_namespace(baseline: BaselineRun) -> None:
    assert baseline.leaked.strip() == ""


def test_nothing_left_behind(baseline: BaselineRun) -> None:
    assert support.wait_until_clean(baseline.netns) == []


def test_cert_inspector_in_a_lab_host(baseline: BaselineRun) -> None:
    assert "facebook.com at 157.240.241.35:443 (SNI facebook.com)" in baseline.output
    assert "  [0] subject  CN=*.facebook.com" in baseline.output
    assert "this host's trust store: trusted, chain ends at CN=kzlab Global Root CA" in baseline.output


def test_gateway_routes_as_the_model_says(baseline: BaselineRun) -> None:
    """The kernel's next hop at gw toward Facebook is the one the model computed."""
    model = load("baseline").build_topology()
    owner_block = ipaddress.IPv4Network("157.240.0.0/16")
    (via,) = [str(v) for net, v in model.routing_tables()["gw"] if net == owner_block]
    assert f"ROUTE {via}" in baseline.output


def test_real_clients_use_the_hosts_own_trust_store_and_resolver(baseline: BaselineRun) -> None:
    """curl verifies against the host's /etc/ssl/certs (the lab's root); dig uses the host's resolver."""
    assert "CURL 200 0" in baseline.output
    kaspi = all_sites(DOMESTIC)["kaspi.kz"].address
    assert any(line.strip().endswith(f"> {kaspi}") for line in baseline.output.splitlines())


def test_offline_grading_of_the_lab_capture_needs_no_privilege(baseline: BaselineRun) -> None:
    """Issue 4 part 3: a censor graded over a real capture with no privilege at all: every
    capability dropped (bounding and inheritable sets, no new privileges), outside the lab's
    namespaces. (Not a switch to another user: the checkout may sit below a directory only
    root can enter, as CI's may.)"""
    out = subprocess.run(
        [
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            support.sys.executable,
            "-m",
            "tools.censors.offline",
            "ResetTrafficForTLSSNI",
            str(baseline.results / "gw-border.pcap"),
            "--param",
            'domains=["facebook.com"]',
        ],
        cwd=support.REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    caps = subprocess.run(
        ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "grep", "CapEff", "/proc/self/status"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert caps.split()[-1] == "0000000000000000"  # what the grading ran with: no capability
    assert "reset: SNI facebook.com" in out.stdout and "reset: SNI m.facebook.com" in out.stdout
    assert "reset: SNI kaspi.kz" not in out.stdout


class Cells(HTMLParser):
    """The matrix cells of a report.html as a browser's DOM holds them."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "td" and "cell" in a.get("class", "").split() and "data-client" in a:
            self.cells.append(a)
        if tag == "a":
            self.links.append(a.get("href", ""))


@pytest.mark.deb("chromium")
def test_report_html_renders_in_chromium(baseline: BaselineRun, tmp_path: Path) -> None:
    """Every run writes report.html; headless Chromium (in an empty network namespace of its
    own: it reaches nothing) loads it and finds every cell of every phase, coloured as its
    outcome, and the links to the pcaps."""
    report = baseline.results / "report.html"
    dom = subprocess.run(
        ["unshare", "--net", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    parsed = Cells()
    parsed.feed(dom.stdout)
    summary = json.loads((baseline.results / "summary.json").read_text())
    assert len(parsed.cells) == len(summary["cells"]) > 0
    assert all("ok" in c["class"].split() for c in parsed.cells)  # every baseline cell accessible: green
    assert {(c["data-client"], c["data-target"]) for c in parsed.cells} == {
        (c["client"], c["target"]) for c in summary["cells"]
    }
    assert {"gw-core.pcap", "summary.json"} <= set(parsed.links)
