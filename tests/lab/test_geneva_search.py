"""The strategy search (tools/circumvent/geneva/search) against the live 2019 device
(kazakhstan.md section 6), from an empty start: with a fixed seed and a small budget it
finds a strategy that gets the real certificate through, and that strategy, switched on
afresh in a subscriber (the geneva method), really does; the workers leave nothing.

The seed is chosen so that the first generation's first candidates fragment the
ClientHello (the search space puts that one mutation away from nothing), which keeps the
test to a minute or so; bench/strategy_search.py measures the search from other seeds.
"""

from __future__ import annotations

import json

from tools.circumvent.geneva.parser import parse
from tools.circumvent.geneva.search.evolve import Search, Settings
from tools.circumvent.geneva.search.fitness import EVADED, REAL
from tools.circumvent.geneva.search.pool import Pool
from tools.lab.session import LabSession

HOSTS = ["home1", "home2"]
URL = "https://facebook.com/"
SEED = 26
NATIONAL = "page, certificate from CN=Qaznet Trust Network,C=KZ"
GLOBAL_ROOT = "CN=kzlab Global Root CA,O=kzlab Global Web PKI,C=US"
QAZNET = "CN=Qaznet Trust Network,C=KZ"


def trusted_root(lab: LabSession, host: str) -> str | None:
    """Where the chain ``host`` gets for facebook.com ends (tools.probes.cert_inspect: two
    connections, one of them verified with the host's own store)."""
    result = json.loads(lab.run(host, "python -m tools.probes.cert_inspect facebook.com --json").out)
    return result.get("verification", {}).get("trusted_root")


def test_the_search_finds_an_evasion_of_the_2019_device_from_an_empty_start() -> None:
    with LabSession() as lab:
        lab.attach("device", "NationalInterception", "gw")
        for host in HOSTS:
            lab.install_root(host)
        with Pool(lab, HOSTS, URL, 5.0, SEED) as pool:
            assert pool.measure_baseline() == NATIONAL
            settings = Settings(population=8, generations=3, batch=len(HOSTS), budget_seconds=120, stop_on_evasion=True)
            result = Search(settings, SEED, pool.evaluate).run()
        assert result.stopped == "evasion" and result.first_evasion is not None, result.generations
        found = result.first_evasion.strategy
        assert result.generations[0].best.strategy == "\\/"  # the empty start
        assert result.evaluations[found].outcome == EVADED and result.evaluations[found].got == REAL
        assert str(parse(found)) == found

        for host in HOSTS:  # each worker ended by itself, taking its rules and socket with it
            log = (lab.rundir / "geneva-search" / f"{host}.log").read_text()
            assert log.splitlines()[-1].startswith("geneva search worker: ") and "evaluations" in log
            assert not (lab.rundir / "geneva-search" / f"{host}.sock").exists()
            assert "GENEVA" not in lab.run(host, "iptables -S").out

        assert trusted_root(lab, "home2") == QAZNET
        lab.circumvent("found", "geneva", "home2", strategy=found)
        try:
            assert trusted_root(lab, "home2") == GLOBAL_ROOT, found  # the real certificate, applied afresh
        finally:
            lab.uncircumvent("found")
        assert trusted_root(lab, "home2") == QAZNET
