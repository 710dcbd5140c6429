"""tools.observe offline (no root, no lab): the sweep's plan and tallies, the route collector's
view parsed from real BIRD 2.0.12 output, the timeline's helpers and the PNG charts."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP

from tools.observe import bgp_view, charts, sweep, timeline

# ---------------------------------------------------------------------------------------------
# Real `birdc -s SOCK ...` output of BIRD 2.0.12, captured in throwaway network namespaces.

# show route all: static routes (blackhole, via an interface, unreachable) and an IPv6 table.
STATIC_ALL = """BIRD 2.0.12 ready.
Table master4:
10.3.0.0/24          unreachable [st 06:12:47.600] * (200)
\tType: static univ
10.1.0.0/16          blackhole [st 06:12:47.600] * (200)
\tType: static univ
10.2.0.0/16          unicast [st 06:12:47.600] * (200)
\tdev lo
\tType: static univ

Table master6:
2001:db8::/32        blackhole [s6 06:12:47.600] * (200)
\tType: static univ
"""

# show route all on a collector (AS65000) peering with AS9198 and AS29355, which also peer with
# each other: two routes per prefix, the second (not best) one on a line of its own.
COLLECTOR_ALL = """BIRD 2.0.12 ready.
Table master4:
10.9.0.2/32          unicast [direct1 06:13:15.662] * (240)
\tdev lo
\tType: device univ
10.4.0.0/22          unreachable [a 06:13:20.048 from 10.9.0.1] * (100) [AS9198i]
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 9198
\tBGP.next_hop: 10.9.0.1
\tBGP.local_pref: 100
                     unreachable [b 06:13:20.090 from 10.9.0.2] (100) [AS9198i]
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 29355 9198
\tBGP.next_hop: 10.9.0.2
\tBGP.local_pref: 100
10.1.0.0/16          unreachable [a 06:13:20.048 from 10.9.0.1] * (100) [AS9198i]
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 9198
\tBGP.next_hop: 10.9.0.1
\tBGP.local_pref: 100
                     unreachable [b 06:13:20.090 from 10.9.0.2] (100) [AS9198i]
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 29355 9198
\tBGP.next_hop: 10.9.0.2
\tBGP.local_pref: 100
10.2.0.0/16          unreachable [b 06:13:20.011 from 10.9.0.2] * (100) [AS29355i]
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 29355
\tBGP.next_hop: 10.9.0.2
\tBGP.local_pref: 100
                     unreachable [a 06:13:20.090 from 10.9.0.1] (100) [AS29355i]
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 9198 29355
\tBGP.next_hop: 10.9.0.1
\tBGP.local_pref: 100
"""

# The same collector, plain show route: only the origin AS is printed.
COLLECTOR_PLAIN = """BIRD 2.0.12 ready.
Table master4:
10.9.0.2/32          unicast [direct1 06:13:15.662] * (240)
\tdev lo
10.4.0.0/22          unreachable [a 06:13:20.048 from 10.9.0.1] * (100) [AS9198i]
                     unreachable [b 06:13:20.090 from 10.9.0.2] (100) [AS9198i]
10.1.0.0/16          unreachable [a 06:13:20.048 from 10.9.0.1] * (100) [AS9198i]
                     unreachable [b 06:13:20.090 from 10.9.0.2] (100) [AS9198i]
10.2.0.0/16          unreachable [b 06:13:20.011 from 10.9.0.2] * (100) [AS29355i]
                     unreachable [a 06:13:20.090 from 10.9.0.1] (100) [AS29355i]
"""

# show route all over a direct eBGP session on a veth link, as between lab hosts.
DIRECT_ALL = """BIRD 2.0.12 ready.
Table master4:
10.1.0.0/16          unicast [kt 06:13:35.366] * (100) [AS9198i]
\tvia 10.8.0.1 on v1
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 9198
\tBGP.next_hop: 10.8.0.1
\tBGP.local_pref: 100
10.5.0.0/24          unicast [kt 06:13:35.366] * (100) [AS9198i]
\tvia 10.8.0.1 on v1
\tType: BGP univ
\tBGP.origin: IGP
\tBGP.as_path: 9198
\tBGP.next_hop: 10.8.0.1
\tBGP.local_pref: 100
"""

EMPTY = "BIRD 2.0.12 ready.\n"


def test_static_routes_have_no_as_path_and_every_table_is_read() -> None:
    assert bgp_view.parse_bird_routes(STATIC_ALL) == {
        "10.3.0.0/24": [""],
        "10.1.0.0/16": [""],
        "10.2.0.0/16": [""],
        "2001:db8::/32": [""],
    }


def test_every_route_of_a_prefix_keeps_its_own_as_path() -> None:
    """The best route and the further one below it, each with the path of its BGP.as_path line."""
    assert bgp_view.parse_bird_routes(COLLECTOR_ALL) == {
        "10.9.0.2/32": [""],
        "10.4.0.0/22": ["9198", "29355 9198"],
        "10.1.0.0/16": ["9198", "29355 9198"],
        "10.2.0.0/16": ["29355", "9198 29355"],
    }


def test_plain_show_route_gives_the_origin_as() -> None:
    routes = bgp_view.parse_bird_routes(COLLECTOR_PLAIN)
    assert routes["10.1.0.0/16"] == ["9198", "9198"]
    assert routes["10.2.0.0/16"] == ["29355", "29355"]
    assert routes["10.9.0.2/32"] == [""]


def test_carriage_returns_from_a_terminal_are_ignored() -> None:
    """Mininet's host.cmd reads a pty, whose lines end in CR LF."""
    expected = {"10.1.0.0/16": ["9198"], "10.5.0.0/24": ["9198"]}
    assert bgp_view.parse_bird_routes(DIRECT_ALL.replace("\n", "\r\n")) == expected


def test_an_empty_table_is_no_routes() -> None:
    assert bgp_view.parse_bird_routes(EMPTY) == {}


@pytest.mark.parametrize(
    "text",
    [
        "Unable to connect to server control socket (/tmp/x.ctl): No such file or directory\n",
        "BIRD 2.0.12 ready.\nNo such command. Press `?' for help.\n",
        "BIRD 2.0.12 ready.\nNetwork not found\n",
        "BIRD 2.0.12 ready.\nTable master4:\n\tBGP.as_path: 9198\n",
        "BIRD 2.0.12 ready.\n                     unicast [kt 06:13:35.366] (100) [AS9198i]\n",
    ],
)
def test_output_that_is_not_a_routing_table_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="BIRD output"):
        bgp_view.parse_bird_routes(text)


PREFIXES = {
    "10.1.0.0/16": "Kazakhtelecom",
    "10.4.0.0/22": "Kazakhtelecom",
    "10.4.0.0/23": "Kazakhtelecom",  # only its covering /22 is announced
    "10.2.0.0/16": "Kcell",
    "10.6.0.0/16": "Kcell",
}


def test_visibility_counts_exact_prefixes_per_group() -> None:
    view = bgp_view.visibility(bgp_view.parse_bird_routes(COLLECTOR_ALL), PREFIXES)
    assert view == {
        "prefixes": 5,
        "visible": 3,
        "share": 0.6,
        "groups": {
            "Kazakhtelecom": {"prefixes": 3, "visible": 2, "share": 2 / 3},
            "Kcell": {"prefixes": 2, "visible": 1, "share": 0.5},
        },
        "missing": ["10.4.0.0/23", "10.6.0.0/16"],
    }


def test_visibility_with_every_route_withdrawn() -> None:
    view = bgp_view.visibility({}, PREFIXES)
    assert (view["visible"], view["share"]) == (0, 0.0)
    assert view["missing"] == ["10.1.0.0/16", "10.2.0.0/16", "10.4.0.0/22", "10.4.0.0/23", "10.6.0.0/16"]


def test_visibility_refuses_a_prefix_with_host_bits() -> None:
    with pytest.raises(ValueError, match=r"10\.1\.0\.1/16"):
        bgp_view.visibility({}, {"10.1.0.1/16": "Kazakhtelecom"})


class FakeHost:
    def __init__(self, output: str) -> None:
        self.output, self.commands = output, []

    def cmd(self, command: str) -> str:
        self.commands.append(command)
        return self.output


def test_collector_routes_asks_birdc_on_the_given_socket() -> None:
    host = FakeHost(DIRECT_ALL.replace("\n", "\r\n"))
    assert bgp_view.collector_routes(host, Path("/tmp/run dir/bird.ctl")) == {
        "10.1.0.0/16": ["9198"],
        "10.5.0.0/24": ["9198"],
    }
    assert host.commands == ["birdc -s '/tmp/run dir/bird.ctl' show route all"]


@pytest.mark.parametrize("output", ["", "bash: birdc: command not found\r\n"])
def test_collector_routes_without_a_bird_answering_is_an_error_not_an_empty_table(output: str) -> None:
    """Otherwise a dead collector would read as every route withdrawn."""
    with pytest.raises(RuntimeError, match="birdc"):
        bgp_view.collector_routes(FakeHost(output), "/tmp/bird.ctl")


# ---------------------------------------------------------------------------------------------
# sweep


def test_plan_is_checked_and_normalised() -> None:
    plan = sweep.parse_plan({"targets": {"10.1.0.10": "Kazakhtelecom", "10.2.0.7": "Kcell"}, "timeout": 2})
    assert plan == sweep.Plan({"10.1.0.10": "Kazakhtelecom", "10.2.0.7": "Kcell"}, 2.0, 1)


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ({"targets": {"2001:db8::1": "Kcell"}}, "not an IPv4 address"),
        ({"targets": {"10.1.0": "Kcell"}}, "not an IPv4 address"),
        ({"targets": {"example.kz": "Kcell"}}, "not an IPv4 address"),
        ({"targets": {}}, "plan.targets"),
        ({"timeout": 1}, "plan.targets"),
        ({"targets": ["10.1.0.1"]}, "plan.targets"),
        ({"targets": {"10.1.0.1": ""}}, "group name"),
        ({"targets": {"10.1.0.1": "Kcell"}, "timeout": 0}, "plan.timeout"),
        ({"targets": {"10.1.0.1": "Kcell"}, "timeout": -1.5}, "plan.timeout"),
        ({"targets": {"10.1.0.1": "Kcell"}, "timeout": "1.5"}, "plan.timeout"),
        ({"targets": {"10.1.0.1": "Kcell"}, "timeout": True}, "plan.timeout"),
        ({"targets": {"10.1.0.1": "Kcell"}, "timeout": float("inf")}, "plan.timeout"),
        ({"targets": {"10.1.0.1": "Kcell"}, "retries": -1}, "plan.retries"),
        ({"targets": {"10.1.0.1": "Kcell"}, "retries": 1.5}, "plan.retries"),
        (["10.1.0.1"], "plan: expected an object"),
    ],
)
def test_a_malformed_plan_is_refused(plan: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        sweep.parse_plan(plan)


def test_main_exits_2_with_one_line_on_a_malformed_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan, out = tmp_path / "plan.json", tmp_path / "out.json"
    plan.write_text(json.dumps({"targets": {"::1": "Kcell"}, "timeout": 1.5, "retries": 1}))
    assert sweep.main([str(plan), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'::1' is not an IPv4 address" in err
    assert not out.exists()


def test_main_exits_2_on_a_plan_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text("{targets:")
    assert sweep.main([str(plan), str(tmp_path / "out.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_one_echo_request_per_address_told_apart_by_sequence() -> None:
    packets = sweep.echo_requests(["10.1.0.1", "10.1.0.2", "10.2.0.1"])
    assert [p[IP].dst for p in packets] == ["10.1.0.1", "10.1.0.2", "10.2.0.1"]
    assert {p[ICMP].type for p in packets} == {8}
    assert len({p[ICMP].seq for p in packets}) == 3


def test_only_echo_replies_count_not_icmp_errors() -> None:
    """As captured in a namespace: 10.1.0.1 replies; a router answers for 10.2.0.1 with
    network-unreachable, which scapy also matches to the request but is no answer."""
    up, unrouted, silent = sweep.echo_requests(["10.1.0.1", "10.2.0.1", "10.3.0.1"])
    me = up[IP].src
    reply = IP(bytes(IP(src="10.1.0.1", dst=me) / ICMP(type=0, id=up[ICMP].id, seq=up[ICMP].seq)))
    error = IP(bytes(IP(src="10.8.0.2", dst=me) / ICMP(type=3, code=0) / bytes(unrouted)[:28]))
    assert reply.answers(up) and error.answers(unrouted)
    assert sweep.answering([(up, reply), (unrouted, error)]) == {"10.1.0.1"}
    assert silent[IP].dst == "10.3.0.1"  # never answered: no pair at all


def test_summary_tallies_answers_per_group() -> None:
    plan = sweep.parse_plan(
        {
            "targets": {
                "10.1.0.9": "Kazakhtelecom",
                "10.1.0.10": "Kazakhtelecom",
                "10.1.0.11": "Kazakhtelecom",
                "10.2.0.1": "Kcell",
            }
        }
    )
    out = sweep.summarise(plan, {"10.1.0.10", "10.1.0.9", "10.9.9.9"}, 2.5)
    assert out == {
        "sent": 4,
        "answered": 2,
        "share": 0.5,
        "groups": {
            "Kazakhtelecom": {"sent": 3, "answered": 2, "share": 2 / 3},
            "Kcell": {"sent": 1, "answered": 0, "share": 0.0},
        },
        "answering": ["10.1.0.9", "10.1.0.10"],  # numeric order; 10.9.9.9 was not in the plan
        "t": 2.5,
    }


# ---------------------------------------------------------------------------------------------
# timeline

GROUP_OF = {"kt-client": "Kazakhtelecom", "kcell-client": "Kcell"}


def cell(client: str, target: str, observed: str) -> dict[str, str]:
    return {"client": client, "target": target, "observed": observed, "expected": observed}


def test_inside_share_counts_throttled_and_intercepted_pages_as_working() -> None:
    cells = [
        cell("kt-client", "azattyq", "accessible"),
        cell("kt-client", "facebook", "throttled"),
        cell("kt-client", "google", "tls_mitm"),
        cell("kt-client", "vk", "generic_timeout_error"),
        cell("kcell-client", "azattyq", "connection_reset"),
        cell("kcell-client", "facebook", "dns_nxdomain_error"),
    ]
    assert timeline.inside_share(cells, GROUP_OF) == {
        "pairs": 6,
        "working": 3,
        "share": 0.5,
        "groups": {
            "Kazakhtelecom": {"pairs": 4, "working": 3, "share": 0.75},
            "Kcell": {"pairs": 2, "working": 0, "share": 0.0},
        },
    }
    strict = timeline.inside_share(cells, GROUP_OF, working=frozenset({"accessible"}))
    assert (strict["working"], strict["groups"]["Kazakhtelecom"]["working"]) == (1, 1)


def test_inside_share_refuses_a_client_without_an_operator() -> None:
    with pytest.raises(ValueError, match="tele2-client"):
        timeline.inside_share([cell("tele2-client", "vk", "accessible")], GROUP_OF)


def test_tally_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing"):
        timeline.tally([], "pairs", "working")


def signal(total: str, hit: str, shares: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return timeline.tally([(g, i < m) for g, (n, m) in shares.items() for i in range(n)], total, hit)


OPERATORS = ("Kazakhtelecom", "Kcell", "Tele2", "Beeline")


def record(phase: str, time: str | None, probing: float | None, inside: float) -> dict[str, Any]:
    return {
        "phase": phase,
        "time": time,
        "bgp": signal("prefixes", "visible", {o: (3, 3) for o in OPERATORS}),
        "probing": None
        if probing is None
        else signal("sent", "answered", {o: (50, round(50 * probing)) for o in OPERATORS}),
        "inside": signal("pairs", "working", {o: (10, round(10 * inside)) for o in OPERATORS}),
    }


def january_2022(timed: bool = True) -> list[dict[str, Any]]:
    """kazakhstan.md section 4: routes stay, the data plane goes dark, then access windows."""
    phases = [
        ("baseline", "2022-01-04T10:00:00Z", 1.0, 1.0),
        ("mobile_throttled", "2022-01-04T14:30:00Z", None, 0.8),
        ("shutdown", "2022-01-05T10:30:00Z", 0.02, 0.0),
        ("window", "2022-01-05T17:30:00Z", 0.9, 0.9),
        ("whitelist", "2022-01-08T10:00:00Z", 0.2, 0.1),
        ("restored", "2022-01-11T02:15:00+00:00", 1.0, 1.0),
    ]
    return [record(p, t if timed else None, probe, inside) for p, t, probe, inside in phases]


def test_timeline_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "timeline.json"
    timeline.write_timeline(path, january_2022())
    assert timeline.read_timeline(path) == january_2022()


def broken(field: str, value: Any, index: int = 2) -> list[dict[str, Any]]:
    records = january_2022()
    target = records[index]
    *parents, last = field.split(".")
    for key in parents:
        target = target[key]
    target[last] = value
    return records


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ([], "timeline: expected a non-empty list"),
        ({"phase": "shutdown"}, "timeline: expected a non-empty list"),
        (["shutdown"], r"timeline\[0\]: expected an object"),
        (broken("phase", ""), r"timeline\[2\]\.phase"),
        (broken("time", "5 January"), r"timeline\[2\]\.time"),
        (broken("time", "2022-01-04T09:00:00Z"), r"timeline\[2\]\.time: .* earlier"),
        (broken("bgp", None), r"timeline\[2\]\.bgp: expected an object"),
        (broken("bgp.share", 1.5), r"timeline\[2\]\.bgp\.share"),
        (broken("inside.share", "0.5"), r"timeline\[2\]\.inside\.share"),
        (broken("probing.groups", []), r"timeline\[2\]\.probing\.groups"),
        (broken("probing.groups.Kcell.share", None), r"timeline\[2\]\.probing\.groups\.Kcell\.share"),
        (broken("inside.groups.Tele2.share", float("nan")), r"timeline\[2\]\.inside\.groups\.Tele2\.share"),
    ],
)
def test_a_malformed_timeline_is_refused_naming_the_field(records: Any, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=problem):
        timeline.validate(records)
    path = tmp_path / "timeline.json"
    path.write_text(json.dumps(records))
    with pytest.raises(ValueError, match=problem):
        timeline.read_timeline(path)
    with pytest.raises(ValueError, match=problem):
        timeline.write_timeline(tmp_path / "out.json", records)


def test_a_timeline_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "timeline.json"
    path.write_text('[{"phase": "shutdown",')
    with pytest.raises(ValueError, match="not JSON"):
        timeline.read_timeline(path)


# ---------------------------------------------------------------------------------------------
# charts

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("timed", [True, False])
def test_draw_writes_both_charts(tmp_path: Path, timed: bool) -> None:
    paths = charts.draw(january_2022(timed), tmp_path / "charts", "January 2022")
    assert paths == [tmp_path / "charts" / "connectivity.png", tmp_path / "charts" / "operators.png"]
    assert png_size(paths[0]) == (1210, 660)  # 11 x 6 in at 110 dpi
    assert png_size(paths[1]) == (1485, 825)  # four operators: 3 x 2 plots
    assert all(p.stat().st_size > 20_000 for p in paths)


def test_draw_without_any_probing_and_one_operator(tmp_path: Path) -> None:
    records = [
        {
            "phase": phase,
            "time": None,
            "bgp": signal("prefixes", "visible", {"Kazakhtelecom": (2, 2)}),
            "probing": None,
            "inside": signal("pairs", "working", {"Kazakhtelecom": (4, working)}),
        }
        for phase, working in (("baseline", 4), ("shutdown", 0))
    ]
    connectivity, operators = charts.draw(records, tmp_path, "one ISP")
    assert png_size(connectivity) == (1210, 660)
    assert png_size(operators) == (495, 495)  # one plot


def test_draw_refuses_a_malformed_timeline_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"timeline\[2\]\.probing\.share"):
        charts.draw(broken("probing.share", -0.1), tmp_path / "charts", "broken")
    assert not (tmp_path / "charts").exists()


def test_charts_command_redraws_a_saved_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "timeline.json"
    timeline.write_timeline(saved, january_2022())
    assert charts.main([str(saved), str(tmp_path / "out"), "--title", "Jan 2022"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "out" / n) for n in ("connectivity.png", "operators.png")]
    assert png_size(tmp_path / "out" / "connectivity.png") == (1210, 660)


def test_charts_command_exits_2_with_one_line_on_a_malformed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "timeline.json"
    saved.write_text(json.dumps(broken("inside", None)))
    assert charts.main([str(saved), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "timeline[2].inside" in err
    assert not (tmp_path / "out").exists()
