"""Build a TopologyModel as a Mininet network (inside the run's sealed namespace).

Devices become Mininet hosts (each its own network and mount namespace), segments
become Linux bridges: the Open vSwitch kernel datapath is not needed, and is often
missing (containers, minimal kernels). Every address and route comes from the model.
Each device gets its own /etc/resolv.conf and /etc/ssl/certs by a bind mount inside its
own mount namespace, so one subscriber can trust a root another does not; the host
machine's files are never touched. Every mount is checked: one that fails stops the build
(BuildError naming the node and the mount), since without it the device would read and
write the machine's own files.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mininet.link import Intf, Link
from mininet.net import Mininet
from mininet.node import Host, Node, Switch

from topologies import kernel
from topologies.model import CLIENT_ROLES, FORWARDING_ROLES, TopologyModel

SHELLS_AT_ONCE = 16  # node shells started side by side: each mostly waits on its own start-up
DEVICES_AT_ONCE = 8  # devices set up side by side (files, then the kernel: each mostly waits)


class BuildError(RuntimeError):
    """The network could not be built as the model says; the message names the node."""


class KernelBridge(Switch):
    """A segment as a plain Linux bridge made with iproute2 (no STP, no controller).

    Bridges live in the run's outer namespace, where the lab process itself runs: wire()
    makes them with the veth pairs, by the same ``ip -batch``."""

    def start(self, _controllers: list) -> None:
        """Nothing to do: wire() made the bridge and its ports."""

    def stop(self, deleteIntfs: bool = True) -> None:  # noqa: N803 - Mininet's signature
        subprocess.run(["ip", "link", "delete", self.name], capture_output=True)
        super().stop(deleteIntfs)


class Device(Host):
    """A lab device: Mininet's host (a shell in its own network and mount namespace) whose
    interfaces, addresses and routes set_up() sets from inside, rather than Mininet's
    one command per setting."""

    def config(self, **_params: Any) -> dict[str, Any]:
        """Nothing to run (Mininet would bring lo up with ifconfig): set_up() does it."""
        return {}


class DeviceIntf(Intf):
    """An interface as Mininet knows it (name, address and MAC for the CLI and ``IP()``),
    with nothing run: the kernel device comes from wire(), its address from set_up()."""

    def config(self, ip: str | None = None, **_params: Any) -> dict[str, Any]:
        if ip:
            self.ip, _, prefix = ip.partition("/")
            self.prefixLen = int(prefix)
        return {}


class VethLink(Link):
    """A veth pair whose kernel devices wire() makes with every other pair at once."""

    @classmethod
    def makeIntfPair(cls, *_args: Any, **_kwargs: Any) -> None:  # noqa: N802 - Mininet's name
        """Nothing yet: wire() makes the pair."""


class LabNetwork(Mininet):
    """Mininet whose nodes start side by side: each node's shell spends its start-up
    waiting on its own processes (mnexec, bash), so one after the other is mostly waiting."""

    def add_nodes(self, segments: list[str], devices: list[str]) -> None:
        def make(name: str) -> Node:
            if name in segments:
                return self.switch(name, dpid=f"{segments.index(name) + 1:016x}", inNamespace=False)
            return self.host(name)

        with ThreadPoolExecutor(SHELLS_AT_ONCE) as pool:
            nodes = dict(zip(segments + devices, pool.map(make, segments + devices), strict=True))
        self.switches += [nodes[s] for s in segments]
        self.hosts += [nodes[d] for d in devices]
        self.nameToNode.update(nodes)


def wire(net: Mininet) -> None:
    """Every bridge, and every link's veth pair with each end made in its node's
    namespace (a bridge's port in the bridge), by one ``ip -batch``: Mininet runs one
    command per pair and three more per interface."""

    def end(intf: Intf) -> str:
        where = f" netns {intf.node.pid}" if intf.node.inNamespace else ""
        return f"name {intf.name} address {intf.mac}{where}"

    lines = [f"link add name {b.name} type bridge forward_delay 0 stp_state 0" for b in net.switches]
    lines += [f"link add {end(link.intf1)} type veth peer {end(link.intf2)}" for link in net.links]
    for bridge in net.switches:
        lines += [f"link set {i.name} master {bridge.name} up" for i in bridge.intfList() if i.name != "lo"]
        lines.append(f"link set {bridge.name} up")
    subprocess.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def mininet_network(model: TopologyModel) -> Mininet:
    """Mininet objects for the model, with their shells, bridges and veth pairs: hosts,
    bridges and links, wired but not yet configured."""
    Mininet.inited = True  # skip Mininet.init(): its fixLimits() writes host-wide sysctls
    net = LabNetwork(
        topo=None,
        build=False,
        controller=None,
        switch=KernelBridge,
        host=Device,
        link=VethLink,
        intf=DeviceIntf,
        autoSetMacs=False,
        autoStaticArp=False,
        waitConnected=False,
    )
    net.add_nodes(model.nodes("segment"), model.nodes())
    for a, b, edge in sorted(model.graph.edges(data=True), key=lambda e: (e[0], e[1])):
        params = {}
        for end, key in ((a, "params1"), (b, "params2")):
            if model.role(end) != "segment":
                params[key] = {"ip": f"{edge['addrs'][end]}/{edge['subnet'].prefixlen}"}
        net.addLink(a, b, **params)
    wire(net)
    return net


def nss_template(rundir: Path, bundle: bytes) -> Path:
    """An NSS database (what Chromium reads) trusting the global root, made once per run
    and copied into every client's home."""
    template = rundir / "nssdb-template"
    if not template.exists():
        template.mkdir()
        root = rundir / "nssdb-root.pem"
        root.write_bytes(bundle)
        subprocess.run(["certutil", "-N", "-d", f"sql:{template}", "--empty-password"], check=True)
        subprocess.run(["certutil", "-A", "-d", f"sql:{template}", "-n", "kzlab Global Root CA", "-t", "C,,",
                        "-i", str(root)], check=True)  # fmt: skip
    return template


def host_files(model: TopologyModel, node: str, rundir: Path, bundle: bytes) -> Path:
    """The node's own resolv.conf and CA bundle under ``rundir/hosts/<node>``, and for a
    client its own NSS database in its home (a copy of nss_template())."""
    home = rundir / "hosts" / node
    for path in (home, home / "certs", home / "home"):
        path.mkdir(exist_ok=True)
    if model.role(node) in CLIENT_ROLES:
        template = nss_template(rundir, bundle)
        nssdb = home / "home" / ".pki" / "nssdb"
        nssdb.parent.mkdir()
        nssdb.mkdir()
        for source in template.iterdir():
            _write(nssdb / source.name, source.read_bytes(), source.stat().st_mode)
    resolver = model.graph.nodes[node].get("resolver")
    lines = [f"nameserver {resolver}"] if resolver else []
    (home / "resolv.conf").write_text("\n".join(lines + ["options timeout:2 attempts:1", ""]))
    (home / "certs" / "ca-certificates.crt").write_bytes(bundle)
    return home


def _write(path: Path, data: bytes, mode: int) -> None:
    """A new file with ``mode`` (an NSS database stays private to root, as certutil made it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o777)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


PRIVATE_FILES = (("resolv.conf", "/etc/resolv.conf"), ("certs", "/etc/ssl/certs"))  # under home, over the machine's


def private_files(model: TopologyModel, rundir: Path, bundle: bytes) -> dict[str, Path]:
    """Every device's private files (host_files), several devices side by side (each
    mostly waits on the file system): node -> its directory."""
    (rundir / "hosts").mkdir(exist_ok=True)
    if any(model.role(node) in CLIENT_ROLES for node in model.nodes()):
        nss_template(rundir, bundle)  # once, before the clients' copies are made side by side
    with ThreadPoolExecutor(DEVICES_AT_ONCE) as pool:
        homes = pool.map(lambda node: host_files(model, node, rundir, bundle), model.nodes())
        return dict(zip(model.nodes(), homes, strict=True))


def set_up(net: Mininet, model: TopologyModel, homes: dict[str, Path]) -> None:
    """Addresses, forwarding, routes and the private files (``homes``, from private_files)
    for every device; BuildError if a device's private files could not be mounted or its
    network not set up.

    Each device is set up from a thread of this process that enters the device's network
    and mount namespaces (topologies/kernel.py: sysctls, bind mounts and rtnetlink, no
    process started), several devices side by side."""
    tables = model.routing_tables()

    def setup(node: str) -> str | None:
        """What failed, or None."""
        host = net.get(node)
        try:
            kernel.inside(host.pid, _set_up, host, model, node, homes[node], tables.get(node, []), mounts=True)
        except OSError as exc:
            return exc.strerror
        return None

    with ThreadPoolExecutor(DEVICES_AT_ONCE) as pool:
        failed = [(node, why) for node, why in zip(model.nodes(), pool.map(setup, model.nodes()), strict=True) if why]
    if failed:
        node, what = failed[0]
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise BuildError(f"node {node}: {what}{more}")
    for node in model.nodes():  # what the device's own commands (Mininet's cmd) see as HOME
        net.get(node).sendCmd(f"export HOME={homes[node] / 'home'}")
    for node in model.nodes():
        net.get(node).waitOutput()


def configure(net: Mininet, model: TopologyModel, rundir: Path, bundle: bytes) -> None:
    """The whole configuration: private_files(), then set_up()."""
    set_up(net, model, private_files(model, rundir, bundle))


def _set_up(host: Host, model: TopologyModel, node: str, home: Path, routes: list[tuple[Any, Any]]) -> None:
    """Inside the device's namespaces: bind its private files over the machine's, then its
    sysctls, links, addresses and routes. OSError says which step failed."""
    for name, target in PRIVATE_FILES:
        source = home / name
        try:
            kernel.bind_mount(str(source), target)
        except OSError as exc:
            raise OSError(exc.errno, f"bind mount of {target} from {source} failed: {exc.strerror}") from None
    data = model.graph.nodes[node]
    sysctls = {"net/ipv6/conf/all/disable_ipv6": 1, "net/ipv6/conf/default/disable_ipv6": 1}
    if data["role"] in FORWARDING_ROLES:
        # No ICMP rate limit: a router without a route says so every time, so what a
        # client sees of a withdrawal does not depend on how many asked before it.
        sysctls |= {"net/ipv4/ip_forward": 1, "net/ipv4/conf/all/rp_filter": 0, "net/ipv4/icmp_ratelimit": 0}
    else:
        gateway = model.default_gateway(node)
        routes = [(ipaddress.IPv4Network("0.0.0.0/0"), gateway)] if gateway is not None else []
    for key, value in sysctls.items():
        Path("/proc/sys", key).write_text(f"{value}\n")
    with kernel.Netlink() as nl:
        for intf in host.intfList():
            if intf.ip:
                nl.add_address(intf.name, ipaddress.IPv4Interface(f"{intf.ip}/{intf.prefixLen}"))
        for name in ["lo", *host.intfNames()]:
            nl.link_up(name)
        for address in data["loopbacks"]:
            nl.add_address("lo", ipaddress.IPv4Interface(f"{address}/32"))
        for prefix in data["prefixes"]:
            nl.add_route(prefix, None)
        for destination, via in routes:
            nl.add_route(destination, str(via))
