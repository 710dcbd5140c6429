"""How the lab comes up: each device's kernel state as the model says, and the readiness
checks (tried from inside the nodes, in order, naming what never answered).

One sealed run of the default ``kz_isp`` serves every test here: a script inside it
starts the lab, reads each device's addresses and routes with ``ip -j``, waits on checks
that cannot pass and on checks that must wait for another, and prints what it saw.
"""

from __future__ import annotations

import ipaddress
import json
import sys

import pytest

from tools.basics.paths import REPO
from tools.lab import seal
from topologies import kz_isp
from topologies.model import FORWARDING_ROLES, TopologyModel

SCRIPT = """
import json, os, time
from pathlib import Path
from tools.lab import seal
from tools.lab.lab import Lab, LabError
from tools.services.readiness import Readiness, TcpOpen
from topologies import kz_isp

class Counted:
    def __init__(self, name, passes_on):
        self.name, self.tries, self.passes_on = name, 0, passes_on

    def __call__(self):
        self.tries += 1
        calls.append(self.name)
        return self.tries >= self.passes_on

run = seal.Run(os.environ["KZLAB_RUN"])
lab = Lab(kz_isp.build(), Path(os.environ["KZLAB_RUN_DIR"]), run.named_dir).start()
out, calls = {"kernel": {}, "errors": []}, []
try:
    for node in lab.model.nodes():
        host = lab.host(node)
        out["kernel"][node] = {
            "addr": json.loads(host.cmd("ip -j -4 addr show")),
            "route": json.loads(host.cmd("ip -j -4 route show table main")),
            "nonlocal_bind": host.cmd("cat /proc/sys/net/ipv4/ip_nonlocal_bind").strip(),
        }
    never = Readiness("home1", "nothing on port 9", TcpOpen("95.56.1.1", 9))
    waits = Readiness("mob1", "something after it", TcpOpen("2.132.1.1", 9), after=never)
    for checks in ([never], [waits, never]):
        try:
            lab.wait_ready(checks, timeout=1)
        except LabError as exc:
            out["errors"].append(str(exc))
    first = Readiness("root", "first", Counted("first", 5))
    lab.wait_ready([Readiness("home1", "second", Counted("second", 1), after=first), first], timeout=10)
    out["calls"] = calls
finally:
    lab.stop()
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict:
    script = tmp_path_factory.mktemp("startup") / "startup.py"
    script.write_text(SCRIPT)
    out = script.with_suffix(".out")
    run = seal.create()
    try:
        with out.open("w") as f:
            rc = seal.run_inside(run, [sys.executable, str(script)], {"PYTHONPATH": str(REPO)}, f)
    finally:
        seal.destroy(run)
    text = out.read_text()
    assert rc == 0, text[-3000:]
    (line,) = [line for line in text.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def model() -> TopologyModel:
    return kz_isp.build()


def test_every_device_has_the_models_addresses_with_broadcast_and_up_links(seen: dict, model: TopologyModel) -> None:
    for node in model.nodes():
        links = seen["kernel"][node]["addr"]
        assert all("UP" in link["flags"] for link in links), (node, links)
        have = {
            ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}"): a.get("broadcast")
            for link in links
            for a in link["addr_info"]
        }
        want = {i for _, i in model.interface_addresses(node)}
        want |= {ipaddress.IPv4Interface(f"{a}/32") for a in model.graph.nodes[node]["loopbacks"]}
        want.add(ipaddress.IPv4Interface("127.0.0.1/8"))
        assert set(have) == want, node
        for _, interface in model.interface_addresses(node):  # as ``ip address add ... brd +``
            if interface.network.prefixlen < 31:
                assert have[interface] == str(interface.network.broadcast_address), (node, interface)


def test_every_device_has_the_models_routes(seen: dict, model: TopologyModel) -> None:
    tables = model.routing_tables()
    for node in model.nodes():
        routes = seen["kernel"][node]["route"]
        # Routes made by hand are protocol "boot", the default that ``ip -j`` leaves out.
        assert {r.get("protocol", "boot") for r in routes} <= {"boot", "kernel"}, node
        static = {(_net(r["dst"]), r["gateway"]) for r in routes if "gateway" in r}
        blackholes = {_net(r["dst"]) for r in routes if r.get("type") == "blackhole"}
        if model.role(node) in FORWARDING_ROLES:
            assert static == {(str(net), str(via)) for net, via in tables[node]}, node
        else:
            gateway = model.default_gateway(node)
            assert static == ({("default", str(gateway))} if gateway else set()), node
        assert blackholes == {str(p) for p in model.graph.nodes[node]["prefixes"]}, node


def test_no_device_accepts_binds_to_addresses_it_does_not_hold(seen: dict, model: TopologyModel) -> None:
    """Early services bind before their addresses exist; once the lab is up, every device
    is back to the kernel's default."""
    assert {node: seen["kernel"][node]["nonlocal_bind"] for node in model.nodes()} == dict.fromkeys(model.nodes(), "0")


def _net(dst: str) -> str:
    """A route's destination as ``ip -j`` gives it ("default", "8.8.8.8" for a /32), as a prefix."""
    return dst if dst == "default" else str(ipaddress.IPv4Network(dst))


def test_a_check_that_never_passes_is_named(seen: dict) -> None:
    assert seen["errors"][0].startswith("service not ready: nothing on port 9 on home1: not ready after 1s")


def test_what_others_wait_for_is_named_first(seen: dict) -> None:
    """A check waiting on one that never passes fails too, but the error names the cause."""
    assert seen["errors"][1].startswith("service not ready: nothing on port 9 on home1: ")


def test_a_check_is_not_tried_before_the_one_it_waits_for_passes(seen: dict) -> None:
    assert seen["calls"] == ["first"] * 5 + ["second"]
