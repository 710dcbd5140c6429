"""The seal covers the files too (issue 9, items 6-8): a scenario file given by path is
imported only inside the seal; a malformed --param is one line before anything is made;
the national root is installed only into a lab host's own trust store; a device whose
private files could not be mounted stops the build."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.lab import support
from tools.basics.paths import REPO
from tools.lab import seal
from tools.lab.session import LabSession

HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
NOT_OWN = "not a lab host's own trust store"
MARKER = (
    "import os, pathlib\n"
    "with open(pathlib.Path(__file__).with_suffix('.imported'), 'a') as f:\n"
    "    f.write(os.readlink('/proc/self/ns/net') + ' ' + os.readlink('/proc/self/ns/pid') + '\\n')\n"
)


def host_namespaces() -> tuple[str, str]:
    return os.readlink("/proc/self/ns/net"), os.readlink("/proc/self/ns/pid")


def stale() -> set[str]:
    """Runs whose owner has exited: what a finished command left behind (other tests'
    live runs are not counted)."""
    return {r.id for r in seal.stale_runs()}


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("kzlab: error: "), proc.stderr
    return lines[0]


# -- item 7: a scenario file runs only inside the seal ----------------------------------


def test_a_scenario_file_is_imported_only_inside_the_seal(tmp_path: Path) -> None:
    """A file with no scenario in it: its import (the marker it writes) happened in the
    run's own network and PID namespaces, and the answer is the usual one line."""
    path = tmp_path / "not_a_scenario.py"
    path.write_text(MARKER + "X = 1\n")
    before = stale()
    proc = support.cli("run", str(path), "--results", str(tmp_path / "results"))
    assert one_error_line(proc) == f"kzlab: error: scenario {str(path)!r} defines no SCENARIO = Scenario(...)"
    imports = path.with_suffix(".imported").read_text().splitlines()
    assert len(imports) == 1
    net, pid = imports[0].split()
    assert net != host_namespaces()[0] and pid != host_namespaces()[1]
    assert not (tmp_path / "results").exists()
    assert stale() - before == set()


def test_a_missing_scenario_file_is_refused_before_the_seal(tmp_path: Path) -> None:
    before = stale()
    proc = support.cli("run", str(tmp_path / "nothing.py"), "--results", str(tmp_path / "results"))
    assert one_error_line(proc) == f"kzlab: error: no scenario file {str(tmp_path / 'nothing.py')!r}"
    assert stale() - before == set() and not (tmp_path / "results").exists()


def test_a_scenario_file_runs_inside_the_seal(tmp_path: Path) -> None:
    """A good file is imported once, inside the seal, and its lab runs; the results
    directory is made there, after validation."""
    path = tmp_path / "mine.py"
    path.write_text(
        MARKER + "from tools.play.spec import Phase, Scenario, Target\n"
        "SCENARIO = Scenario(name='mine', description='a user file', phases=(Phase('p'),),\n"
        "                    targets=(Target.web('kaspi.kz'),), clients=('home1',), capture=())\n"
    )
    proc = support.cli("run", str(path), "--results", str(tmp_path / "results"), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (summary,) = (tmp_path / "results" / "mine").glob("*/summary.json")
    assert [c["observed"] for c in json.loads(summary.read_text())["cells"]] == ["accessible"]
    (imported,) = path.with_suffix(".imported").read_text().splitlines()
    assert imported.split()[0] != host_namespaces()[0]


# -- item 6: a malformed --param is one line, before anything is made ------------------


@pytest.mark.parametrize(
    "value", ["²", "٣", "9" * 5000, "-1", "1.5", "", "1e3", "0x10", " 2", "9999999", "2\n--cli"]
)  # fmt: skip
def test_a_malformed_topology_parameter_is_one_line(value: str, tmp_path: Path) -> None:
    before = stale()
    proc = support.cli("run", "shutdown_variants", "--param", f"subscribers={value}", "--results", str(tmp_path / "r"))
    line = one_error_line(proc)
    assert line.startswith("kzlab: error: --param subscribers=") and "a whole number of at most 6 digits" in line
    assert len(line) < 200 and proc.stdout == ""
    assert not (tmp_path / "r").exists() and stale() - before == set()


# -- item 8: the national root goes only into a lab host's own trust store ---------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_install_refuses_the_machines_trust_store() -> None:
    """In a fresh mount namespace (no bind mount on /etc/ssl/certs) and a network
    namespace of its own (nothing could be fetched from anywhere): one line, exit 2, and
    the machine's bundle untouched."""
    before = sha256(HOST_BUNDLE)
    proc = subprocess.run(
        ["unshare", "--mount", "--net", sys.executable, "-m", "tools.gateway.install"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert one_error_line(proc) == (
        "kzlab: error: refusing to install the national root: /etc/ssl/certs is not a mount point in this mount "
        "namespace: not a lab host's own trust store"
    )
    assert sha256(HOST_BUNDLE) == before


def test_install_check_reads_the_mount_table(tmp_path: Path) -> None:
    """The check on stand-ins, in a private mount namespace: a lab host's own directory
    bind-mounted is accepted; the same path not mounted, or another directory mounted,
    is refused."""
    own = tmp_path / "kzlab" / "0123abcd" / "hosts" / "home1"
    other = tmp_path / "elsewhere" / "certs"
    for d in (own / "certs", own / "home" / ".pki" / "nssdb", other, tmp_path / "a", tmp_path / "b", tmp_path / "c"):
        d.mkdir(parents=True)
    script = (
        "from pathlib import Path\n"
        "from tools.gateway.install import NotPrivate, check_private\n"
        f"nss = Path({str(own / 'home' / '.pki' / 'nssdb')!r})\n"
        f"for target in ('a', 'b', 'c'):\n"
        "    try:\n"
        f"        check_private(Path({str(tmp_path)!r}) / target, nss)\n"
        "        print(target, 'accepted')\n"
        "    except NotPrivate as exc:\n"
        "        print(target, 'refused:', exc)\n"
    )
    shell = (
        f"mount --bind {own / 'certs'} {tmp_path / 'a'} && mount --bind {other} {tmp_path / 'c'} && "
        f'{sys.executable} -c "$0"'
    )
    out = subprocess.run(
        ["unshare", "--mount", "sh", "-c", shell, script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    a, b, c = out.stdout.splitlines()
    assert a == "a accepted"
    assert b == f"b refused: {tmp_path / 'b'} is not a mount point in this mount namespace: {NOT_OWN}"
    # the mount's root is within its file system: the path itself if tmp_path is on the root file system
    assert c.startswith(f"c refused: {tmp_path / 'c'} is mounted from /") and c.endswith(
        "/elsewhere/certs, not from a lab host's own directory"
    )


@pytest.fixture(scope="module")
def lab() -> Iterator[LabSession]:
    with LabSession() as session:
        yield session


def test_install_in_a_lab_host_and_refused_without_its_mount(lab: LabSession) -> None:
    """In a real lab host the check passes and the root is installed into its own bundle;
    the same host in a mount namespace without its bind mount is refused, its bundle and
    the machine's untouched."""
    before = sha256(HOST_BUNDLE)
    own = lab.rundir / "hosts" / "home2" / "certs" / HOST_BUNDLE.name
    own_before = sha256(own)
    unmounted = f"unshare --mount sh -c 'umount /etc/ssl/certs && {sys.executable} -m tools.gateway.install'"
    refused = lab.run("home2", unmounted)
    assert refused.rc == 2 and "is not a mount point in this mount namespace" in refused.err, refused
    assert sha256(own) == own_before and sha256(HOST_BUNDLE) == before
    lab.install_root("home1")
    bundle = lab.rundir / "hosts" / "home1" / "certs" / HOST_BUNDLE.name
    installed = x509.load_pem_x509_certificates(bundle.read_bytes())
    assert "CN=Qaznet Trust Network,C=KZ" in [c.subject.rfc4514_string() for c in installed]
    assert sha256(HOST_BUNDLE) == before


def test_an_orphan_that_ends_in_a_lab_is_reaped(lab: LabSession) -> None:
    """A daemon started from a node's shell is orphaned when that shell ends, and handed to
    the lab's PID 1 (tools/lab/reaper.py), which reaps it when it ends: no zombie, so
    `kill -0` and /proc say it is gone, as the handouts' and the search's stop loops expect."""
    pid = lab.run("home1", "sh -c 'exit 0' & echo $!").out.strip()
    assert pid.isdigit()
    support.poll(lambda: lab.run("home1", f"kill -0 {pid} 2>/dev/null").rc != 0, 10, f"orphan {pid} to be reaped")
    assert lab.run("home1", "ps -o comm= -p 1").out.strip() == "python"  # the reaper, in the lab's PID namespace
    assert "tools/lab/reaper.py" in lab.run("home1", "tr '\\0' ' ' < /proc/1/cmdline").out


# -- item 8: a failed bind mount stops the build --------------------------------------------

BUILD = """
import os, shutil, sys
from pathlib import Path
from tools.services.pki import CertificateAuthority, pem
from topologies import build
from topologies.model import TopologyModel

model = TopologyModel("tiny")
model.add_node("r1", "router")
model.add_segment("lan", "10.0.0.0/24", gateway="r1")
model.attach("r1", "lan", "10.0.0.1")
model.add_node("h1", "subscriber")
model.attach("h1", "lan", "10.0.0.2")
model.validate()
made = build.host_files


def host_files(model, node, rundir, bundle):
    home = made(model, node, rundir, bundle)
    if node == "h1":  # the injected failure: the mount's source is missing
        missing = home / sys.argv[1]
        shutil.rmtree(missing) if missing.is_dir() else missing.unlink()
    return home


build.host_files = host_files
net = build.mininet_network(model)
net.build()
net.start()
try:
    build.configure(net, model, Path(os.environ["KZLAB_RUN_DIR"]), pem(CertificateAuthority.new_root().cert))
    print("built")
except build.BuildError as exc:
    print(exc)
finally:
    net.stop()
"""


@pytest.mark.parametrize(("missing", "target"), [("certs", "/etc/ssl/certs"), ("resolv.conf", "/etc/resolv.conf")])
def test_a_failed_bind_mount_stops_the_build(missing: str, target: str, tmp_path: Path) -> None:
    """The source of one device's mount is removed before the build mounts it (in a sealed
    run): the build stops with one line naming the node and the mount."""
    script = tmp_path / "build.py"
    script.write_text(BUILD)
    before = sha256(HOST_BUNDLE)
    run = seal.create()
    try:
        with (tmp_path / "out").open("w") as out:
            rc = seal.run_inside(run, [sys.executable, str(script), missing], {"PYTHONPATH": str(REPO)}, out)
    finally:
        seal.destroy(run)
    output = (tmp_path / "out").read_text()
    assert rc == 0, output
    lines = [line for line in output.splitlines() if line.startswith(("node ", "built"))]
    assert len(lines) == 1 and lines[0].startswith(f"node h1: bind mount of {target} from "), output
    assert f"/hosts/h1/{missing} failed: mount: " in lines[0]
    assert sha256(HOST_BUNDLE) == before
