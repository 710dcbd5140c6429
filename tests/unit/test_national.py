"""The national topology, its BGP configuration, the lab clock, and the shutdown
scenarios' data (no root: models, configuration text, validation)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import subprocess
from pathlib import Path

import pytest

from scenarios import curfew, kz2022_january, shutdown_variants
from tools.basics.clock import LabClock, parse_time
from tools.play import cli
from tools.play.national import DOMESTIC, INTERNATIONAL, Country
from tools.play.observation import country_addresses, country_prefixes
from tools.play.spec import Observation, Phase, ScenarioError, Target
from tools.routing import bird
from topologies import kz_national
from topologies.model import TopologyError

SCENARIOS = (kz2022_january.SCENARIO, shutdown_variants.SCENARIO, curfew.SCENARIO)


# -- the topology ------------------------------------------------------------------------


def test_operators_and_their_subscribers_scale_with_the_parameters() -> None:
    m = kz_national.build(operators=5, subscribers=3)
    routers = {"kt", "kcell", "beeline", "tele2", "ttc"}
    assert routers <= set(m.nodes("router"))
    assert len(m.nodes("subscriber")) == 15
    assert {m.graph.nodes[r]["asn"] for r in routers} == {9198, 29355, 21299, 48503, 41798}
    assert {m.graph.nodes[s]["access"] for s in m.nodes("subscriber")} == {"home", "mobile"}
    with pytest.raises(TopologyError, match="operators=6"):
        kz_national.build(operators=6)
    with pytest.raises(TopologyError, match="subscribers=0"):
        kz_national.build(subscribers=0)


def test_domestic_traffic_stays_home_and_international_crosses_the_border() -> None:
    m = kz_national.build()
    assert [h.node for h in m.path("kc_1", "194.187.247.152")] == ["kc_1", "kcell", "kt", "kaspi"]
    assert [h.node for h in m.path("bl_1", "2.76.1.1")] == ["bl_1", "beeline", "kcell", "kc_1"]
    assert [h.node for h in m.path("t2_1", "157.240.241.35")] == ["t2_1", "tele2", "border", "transit", "facebook"]
    assert [h.node for h in m.path("abroad", "37.99.1.1")] == ["abroad", "transit", "border", "tele2", "t2_1"]


def test_bgp_routers_get_static_routes_only_to_what_is_behind_them() -> None:
    m = kz_national.build()
    tables = m.routing_tables()
    kt_routes = {str(net) for net, _ in tables["kt"]}
    assert kt_routes == {"92.46.0.53/32", "195.12.112.0/22", "194.187.244.0/22", "185.22.64.0/22",
                         "195.12.113.11/32", "195.12.113.12/32", "194.187.247.152/32", "185.22.64.10/32",
                         "185.22.65.10/32"}  # fmt: skip
    assert tables["kcell"] == []
    assert "157.240.0.0/16" in {str(net) for net, _ in tables["transit"]}


def test_bgp_neighbours_are_one_link_or_one_shared_segment_away() -> None:
    m = kz_national.build()
    assert [n for n, _, _ in m.bgp_neighbours("border")] == ["beeline", "kcell", "kt", "tele2", "transit"]
    assert [n for n, _, _ in m.bgp_neighbours("transit")] == ["border"]
    assert bird.relations(m, "border") == {
        "beeline": "customer", "kcell": "customer", "kt": "ibgp", "tele2": "customer", "transit": "provider",
    }  # fmt: skip
    assert bird.relations(m, "kcell")["beeline"] == "peer"
    assert bird.relations(m, "kcell")["border"] == "provider"


def test_every_speaker_expects_every_block_the_others_originate() -> None:
    m = kz_national.build()
    everything = {
        net for r in ("kt", "kcell", "beeline", "tele2", "border", "transit") for net, _ in m.local_destinations(r)
    }
    for router in ("kcell", "transit"):
        own = {net for net, _ in m.local_destinations(router)}
        assert bird.expected_routes(m, router) == len(everything - own)


@pytest.mark.deb("bird2")
@pytest.mark.parametrize("withdrawn", [None, [], [ipaddress.IPv4Network("2.76.0.0/16")]])
def test_bird_accepts_every_generated_configuration(tmp_path: Path, withdrawn: list | None) -> None:
    """BIRD itself parses (bird -p) each router's configuration and every withdrawal state."""
    m = kz_national.build(operators=5)
    for router in m.nodes("router"):
        work = bird.directory(tmp_path, router)
        work.mkdir(parents=True)
        (work / "withdrawn.conf").write_text(bird.withdrawn_function(withdrawn))
        (work / "bird.conf").write_text(bird.config(m, router, tmp_path))
        parsed = subprocess.run(["bird", "-p", "-c", str(work / "bird.conf")], capture_output=True, text=True)
        assert parsed.returncode == 0, f"{router}: {parsed.stderr}"


def test_export_policy_follows_the_relationships() -> None:
    conf = bird.config(kz_national.build(), "border", Path("/run/x"))
    transit = conf[conf.index("protocol bgp transit") :]
    assert "export where exportable() && !withdrawn();" in transit.split("}")[1]
    kcell = conf[conf.index("protocol bgp kcell") :]
    assert "export all;" in kcell.split("protocol bgp")[1]
    assert "route 185.1.114.0/24 blackhole;" in conf


def test_the_outside_view_knows_the_countrys_blocks_and_addresses() -> None:
    m = kz_national.build()
    prefixes = country_prefixes(m)
    assert prefixes["2.76.0.0/16"] == "kcell" and prefixes["194.187.244.0/22"] == "kt"
    assert not any(p.startswith("157.240.") for p in prefixes)
    addresses = country_addresses(m)
    assert addresses["37.99.1.2"] == "tele2" and addresses["194.187.247.152"] == "kt"
    assert "5.9.10.20" not in addresses


# -- the clock ---------------------------------------------------------------------------


def test_the_clock_compresses_the_timeline_and_never_goes_back() -> None:
    clock = LabClock(parse_time("2022-01-04T14:30"), seconds_per_hour=0.01)
    slept = clock.advance_to(parse_time("2022-01-05T10:30"))
    assert slept == pytest.approx(0.2)
    assert clock.now == dt.datetime(2022, 1, 5, 10, 30, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance_to(parse_time("2022-01-05T10:00"))
    with pytest.raises(ValueError, match="not an ISO-8601"):
        parse_time("Jan 5")
    assert parse_time("2022-01-05T16:30+06:00") == dt.datetime(2022, 1, 5, 10, 30, tzinfo=dt.UTC)


# -- the scenarios -----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_shutdown_scenarios_validate_and_expect_something_of_every_phase(scenario) -> None:
    model = scenario.validate()
    assert scenario.predict and scenario.observe is not None
    clients = scenario.client_list(model)
    assert "abroad" in clients and len(clients) == 9
    broken = [p.name for p in scenario.phases if any(o != "accessible" for o in p.expect.values())]
    assert broken, "a shutdown scenario where nothing breaks"
    assert scenario.phases[-1].expect == {}, "the last phase is the restoration"


def test_january_reads_as_the_measurements_say() -> None:
    phases = {p.name: p for p in kz2022_january.SCENARIO.phases}
    fall = phases["mobile_falls"].expect
    assert fall[("bl_1", "kaspi.kz")].startswith("dns:") and fall[("kc_1", "facebook.com")] == "throttled"
    assert ("kt_1", "facebook.com") not in fall
    dark = phases["nationwide"].expect
    assert dark[("kt_1", "facebook.com")] == "tcp_ip:generic_timeout_error"
    assert ("kt_1", "kaspi.kz") not in dark  # domestic traffic keeps working
    assert dark[("abroad", "kaspi.kz")] == "tcp_ip:generic_timeout_error"
    white = phases["whitelist_jan8"].expect
    assert ("kt_1", "kaspi.kz") not in white and white[("kt_1", "gov.kz")] == "tcp_ip:generic_timeout_error"
    assert phases["window_jan5"].time == "2022-01-05T18:00"


def test_scenarios_take_their_size_as_parameters() -> None:
    scenario = cli.load("shutdown_variants", {"operators": 5, "subscribers": 3})
    model = scenario.validate()
    assert len(scenario.client_list(model)) == 16
    with pytest.raises(ScenarioError, match="takes no parameters"):
        cli.load("baseline", {"subscribers": 3})
    with pytest.raises(ScenarioError, match="subscribers=0"):
        cli.load("curfew", {"subscribers": 0}).validate()
    with pytest.raises(ScenarioError, match="expected KEY=N"):
        cli.parse_params(["subscribers=many"])


def test_a_timed_scenario_needs_every_time_in_order() -> None:
    base = kz2022_january.SCENARIO
    untimed = dataclasses.replace(base, phases=(*base.phases[:-1], Phase("late", at="x")))
    with pytest.raises(ScenarioError, match="needs a time for every phase"):
        untimed.validate()
    backwards = dataclasses.replace(base, phases=(*base.phases, Phase("again", time="2022-01-04T00:00")))
    with pytest.raises(ScenarioError, match="before the phase before it"):
        backwards.validate()


def test_observation_and_prediction_are_checked_against_the_topology() -> None:
    base = shutdown_variants.SCENARIO
    with pytest.raises(ScenarioError, match="'kt_1' is not a vantage point"):
        dataclasses.replace(base, observe=Observation(vantage="kt_1")).validate()
    with pytest.raises(ScenarioError, match="'facebook' is not a BGP router"):
        dataclasses.replace(base, observe=Observation(collector="facebook")).validate()
    with pytest.raises(ScenarioError, match="is not a urlgetter target"):
        dataclasses.replace(base, targets=(*base.targets, Target.web("vk.com"))).validate()


def test_every_site_of_the_scenarios_is_on_the_national_internet() -> None:

    names = Country(4, 1).model.zone_records()
    assert set(DOMESTIC + INTERNATIONAL) <= set(names)


def test_the_kz_isp_border_is_the_only_place_there_to_cut_the_country_off() -> None:
    """kz_isp's routers and servers are in the country too: a border drop at the ISP
    gateway has nothing to cut, at the border it cuts the link to transit."""
    from tools.censors.drop_traffic_at_border import DropTrafficAtBorder
    from topologies import kz_isp

    m = kz_isp.build()
    assert DropTrafficAtBorder().links(m, "gw") == []
    assert DropTrafficAtBorder().links(m, "border") == ["transit"]
