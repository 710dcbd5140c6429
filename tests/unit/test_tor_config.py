"""The lab's Tor network and its client without a lab: keys that tor itself reads back,
every torrc checked by ``tor --verify-config``, the consensus reader, the host's redirect
rules and the relay-blocking censor's rules checked by iptables and nft in a network
namespace of their own (``unshare -n``: nothing in the machine's own changes), and the
topology's addresses."""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from scapy.layers.inet import IP, TCP

from tools.censors.base import CensorError
from tools.censors.block_tor_relays import BlockTorRelays
from tools.circumvent.method import MethodContext, MethodError
from tools.circumvent.tor import keys, network, redirect, torrc
from tools.circumvent.tor.method import PORTS, Tor
from tools.circumvent.tor.server import OBFS4PROXY, tor_argv
from tools.dpi import ipv4, tor_consensus
from topologies import kz_isp
from topologies.model import TopologyModel

NS_CONSENSUS = """network-status-version 3
vote-status consensus
valid-after 2026-12-02 01:17:45
r auth1 jwYrYALe9qdChih6DUv22GfMh2s ldLOsVVo/ZzY4VBa327bXbTlYJw 2026-12-02 01:17:41 185.220.101.1 9001 9030
s Authority Exit Fast Guard HSDir Running Stable V2Dir Valid
r exit1 Zys1Ibahj/ZIc+1DmYPwaCNeWCQ xiCRQfZTNT0Twyj0NxoF0ohbktA 2026-12-02 01:17:41 185.220.101.6 9001 0
s Exit Fast Guard Running Valid
r broken jwYrYALe9qdChih6DUv22GfMh2s 2026-12-02 01:17:41 999.1.1.1 9001 0
s Running
r short 185.220.101.9
"""
MICRODESC_R = "r relay1 Unf6rYcLRdQA60uvRmMWEfqCkhc 2026-12-02 01:17:40 185.220.101.4 9001 0\ns Fast Running Valid\n"


@pytest.fixture(scope="module")
def model() -> TopologyModel:
    return kz_isp.build(circumvention=True)


@pytest.fixture(scope="module")
def rundir(tmp_path_factory: pytest.TempPathFactory, model: TopologyModel) -> Path:
    """A run directory with the network's keys and DirAuthority lines made once."""
    path = tmp_path_factory.mktemp("run")
    network.dir_authority_lines(path, network.service_of(model))
    return path


def verify(path: Path, text: str) -> None:
    """tor --verify-config accepts ``text`` as a torrc."""
    path.write_text(text)
    done = subprocess.run([*tor_argv(path), "--verify-config"], capture_output=True, text=True)
    assert done.returncode == 0 and "Configuration was valid" in done.stdout, done.stdout[-800:]


def in_own_netns(argv: list[str], text: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-n", *argv], input=text, capture_output=True, text=True)


def test_the_topology_gives_each_relay_its_own_address_and_the_bridge_one_outside_their_block(
    model: TopologyModel,
) -> None:
    relays = network.relays(network.service_of(model))
    addresses = [r.address for r in relays]
    assert [r.role for r in relays].count("authority") == 3 and [r.role for r in relays].count("exit") == 1
    assert len(set(addresses)) == len(addresses) and all(a.startswith("185.220.101.") for a in addresses)
    assert set(model.graph.nodes["tornet"]["loopbacks"]) == {ipaddress.IPv4Address(a) for a in addresses}
    (_, bridge), *_ = list(model.services("tor_bridge"))
    assert not bridge.params["address"].startswith("185.220.101.")
    # A subscriber reaches the relays and the bridge across the ISP gateway; the bridge
    # reaches the relays without crossing the country.
    assert "gw" in [h.node for h in model.path("home1", addresses[0])]
    assert "gw" in [h.node for h in model.path("home1", bridge.params["address"])]
    assert not {"gw", "border"} & {h.node for h in model.path("torbridge", addresses[0])}


def test_a_relay_identity_is_the_one_tor_reports(tmp_path: Path) -> None:
    directory = tmp_path / "relay"
    directory.mkdir(mode=0o700)
    fingerprint = keys.identity(directory)
    assert keys.identity(directory) == fingerprint  # read back, not made again
    (tmp_path / "torrc").write_text(f"DataDirectory {directory}\nORPort 1\n")
    done = subprocess.run([*tor_argv(tmp_path / "torrc"), "--list-fingerprint"], capture_output=True, text=True)
    assert done.stdout.split()[-10:] == [fingerprint[i : i + 4] for i in range(0, 40, 4)], done.stdout[-400:]
    assert (directory / "keys" / "secret_id_key").stat().st_mode & 0o777 == 0o600


def test_authorities_are_certified_by_tor_gencert_and_named_in_dir_authority_lines(
    rundir: Path, model: TopologyModel
) -> None:
    service = network.service_of(model)
    lines = network.dir_authority_lines(rundir, service)
    assert lines == network.dir_authority_lines(rundir, service)  # made once per run
    v3idents = set()
    for line, authority in zip(lines, network.authorities(service), strict=True):
        directory = rundir / "tor" / authority.nickname
        cert = (directory / "keys" / "authority_certificate").read_text()
        assert f"dir-address {authority.address}:{authority.dirport}" in cert
        key = serialization.load_pem_private_key((directory / "keys" / "authority_identity_key").read_bytes(), None)
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        v3ident = hashlib.sha1(der).hexdigest().upper()
        assert f"fingerprint {v3ident}" in cert and f"v3ident={v3ident}" in line
        assert line.endswith(f"{authority.address}:{authority.dirport} {keys.identity(directory)}")
        v3idents.add(v3ident)
    assert len(v3idents) == 3


def test_every_torrc_is_valid_for_tor(rundir: Path, model: TopologyModel, tmp_path: Path) -> None:
    service = network.service_of(model)
    lines = network.dir_authority_lines(rundir, service)
    resolv = network.resolv_conf(rundir, service)
    for relay in network.relays(service):
        text = torrc.relay(rundir / "tor" / relay.nickname, lines, relay, resolv)
        verify(tmp_path / f"{relay.nickname}.torrc", text)
        assert ("V3AuthoritativeDirectory 1" in text) == (relay.role == "authority")
        assert ("ExitPolicy accept *:*" in text) == (relay.role == "exit")
        assert ("RefuseUnknownExits 0" in text) == (relay.role == "exit")
    verify(tmp_path / "bridge.torrc", torrc.bridge(tmp_path, lines, "5.9.10.40", 443, resolv, OBFS4PROXY))
    bridge_line = f"obfs4 5.9.10.40:443 {'A' * 40} cert=abc iat-mode=0"
    for line in (None, bridge_line):
        data = tmp_path / "client"
        data.mkdir(mode=0o700, exist_ok=True)
        text = torrc.client(data, lines, PORTS, line, OBFS4PROXY)
        verify(tmp_path / "client.torrc", text)
        assert ("UseBridges 1" in text) == (line is not None)


def test_the_consensus_reader_takes_both_flavours_and_skips_what_does_not_parse() -> None:
    routers = tor_consensus.routers(NS_CONSENSUS + MICRODESC_R)
    assert [(r.nickname, r.address, r.orport, r.dirport) for r in routers] == [
        ("auth1", "185.220.101.1", 9001, 9030),
        ("exit1", "185.220.101.6", 9001, 0),
        ("relay1", "185.220.101.4", 9001, 0),
    ]
    assert "Authority" in routers[0].flags and "Authority" not in routers[1].flags
    assert tor_consensus.addresses(NS_CONSENSUS + NS_CONSENSUS) == ["185.220.101.1", "185.220.101.6"]
    assert tor_consensus.routers("s Running\n\x00garbage\nr\n") == []


def test_the_redirect_rules_load_and_leave_tor_s_own_traffic_alone() -> None:
    text = redirect.rules(["185.220.101.1", "185.220.101.1", "5.9.10.40"], 9040, 5353)
    lines = text.splitlines()
    exempt = [i for i, line in enumerate(lines) if line.endswith("-j RETURN")]
    redirects = [i for i, line in enumerate(lines) if "REDIRECT" in line]
    assert len(exempt) == 3 and max(exempt) < min(redirects)  # 127/8 and each address once, first
    assert "--dport 53 -j REDIRECT --to-ports 5353" in text and "--syn -j REDIRECT --to-ports 9040" in text
    done = in_own_netns(["sh", "-c", "iptables-restore -w --noflush && iptables -t nat -S"], text)
    assert done.returncode == 0, done.stderr
    assert f"-A OUTPUT -j {redirect.CHAIN}" in done.stdout and "-d 5.9.10.40/32 -j RETURN" in done.stdout


def test_relay_blocking_rules_load_and_drop_only_listed_addresses() -> None:
    censor = BlockTorRelays(relays=["185.220.101.1", "185.220.101.6/32"])
    done = in_own_netns(["nft", "-c", "-f", "-"], censor.ruleset(None, "kzlab_tor1"))  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr

    def verdict(dst: str) -> str:
        pkt = ipv4.parse(bytes(IP(src="95.56.1.1", dst=dst) / TCP(sport=40000, dport=9001, flags="S")))
        assert pkt is not None and censor.selects(pkt)
        return censor.decide(pkt, {}).verdict

    assert verdict("185.220.101.6") == "drop" and verdict("185.220.101.4") == "accept"
    assert verdict("5.9.10.40") == "accept"  # the bridge is in no consensus
    with pytest.raises(CensorError, match=r"^censor 'BlockTorRelays': parameter 'relays' expects a list of IPv4"):
        BlockTorRelays(relays="185.220.101.1")


@pytest.mark.parametrize(
    ("params", "expects"),
    [({"bridge": "yes"}, "parameter 'bridge' expects true or false"), ({"timeout": 0}, "a number from 1 to 300 s")],
)
def test_a_bad_method_parameter_is_one_line(params: dict, expects: str) -> None:
    with pytest.raises(MethodError, match=f"^method 'tor': .*{expects}") as caught:
        Tor(**params)
    assert "\n" not in str(caught.value)


def test_a_lab_without_the_tor_network_is_one_line(tmp_path: Path) -> None:
    method = Tor()
    with pytest.raises(
        MethodError, match=r"^tor: this lab has no Tor network \(build kz_isp with circumvention=True\)$"
    ):
        method.start(MethodContext(None, tmp_path, tmp_path, kz_isp.build()))  # type: ignore[arg-type]
    assert method.ctx is None and not method.redirected
