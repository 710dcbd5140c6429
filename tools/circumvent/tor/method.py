"""Tor as a circumvention method: a tor client in the subscriber's host, bootstrapped
through the lab's own Tor network (directly, or through the unlisted obfs4 bridge), then
the host's TCP and DNS sent through it (redirect.py), so the host's probes need nothing.

The client trusts the lab's directory authorities (their DirAuthority lines), and with
``bridge`` enters only through the obfs4 bridge (obfs4proxy as its client transport).
Bootstrap is followed with stem through tor's control socket until 100% and a circuit
to an exit is built; what it reached and how long it took is the method's report
(probe_options, the keys of OONI's vanilla_tor and torsf tests). A bootstrap that does
not finish in ``timeout`` seconds is a MethodError naming the last phase tor reported,
with tor stopped.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, ClassVar

from stem import ControllerError, SocketError
from stem.connection import AuthenticationFailure
from stem.control import Controller
from stem.response.events import CircuitEvent

from tools.basics.params import BOOLEAN, Field, number
from tools.circumvent.method import POLL_SECONDS, Method, MethodContext, MethodError
from tools.circumvent.tor import network, redirect, torrc
from tools.circumvent.tor.server import OBFS4PROXY, bridge_line, tor_argv

PORTS = {"socks": 9050, "trans": 9040, "dns": 5353}  # tor's usual ones (Tor's TransparentProxy guide)
PHASE = re.compile(r'PROGRESS=(\d+) TAG=(\S+) SUMMARY="([^"]*)"')
CONTROL_SECONDS = 10.0  # for tor to open its control socket
CHILD_SECONDS = 3.0  # for tor's transport (obfs4proxy) to exit after tor


class Tor(Method):
    name = "tor"
    what = "tor through the lab's own Tor network, or an obfs4 bridge; the host's TCP and DNS go through it"
    models = "kazakhstan.md section 7: Tor use rose during the blocks; obfs4 bridges are Tor's answer to relay blocking"
    needs: ClassVar[dict[str, str]] = {"tor": "tor", "obfs4proxy": "obfs4proxy"}
    fields: ClassVar[dict[str, Field]] = {
        "bridge": Field(BOOLEAN, "enter through the lab's unlisted obfs4 bridge instead of a public relay", False),
        "timeout": Field(number(1, 300, "s"), "seconds to wait for bootstrap to reach 100%", 30.0),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.report: dict[str, Any] = {}
        self.redirected = False

    def bring_up(self, ctx: MethodContext) -> None:
        services = dict((s.kind, s) for _, s in ctx.model.services() if s.kind in ("tor_network", "tor_bridge"))
        if "tor_network" not in services:
            raise MethodError("tor: this lab has no Tor network (build kz_isp with circumvention=True)")
        authorities = network.dir_authority_lines(ctx.rundir, services["tor_network"])
        line = bridge_line(ctx.rundir, services["tor_bridge"]) if self.params["bridge"] else None
        datadir = ctx.workdir / "data"
        datadir.mkdir(mode=0o700, exist_ok=True)
        path = ctx.workdir / "torrc"
        path.write_text(torrc.client(datadir, authorities, PORTS, line, OBFS4PROXY))
        control = datadir / "control"
        control.unlink(missing_ok=True)  # a socket left by this key's last tor would answer nothing
        started = time.monotonic()
        proc = ctx.popen(tor_argv(path), "tor.log")
        ctx.wait(lambda: _listening(control), "tor's control socket", CONTROL_SECONDS, proc)
        try:
            with Controller.from_socket_file(str(control)) as controller:
                controller.authenticate()
                phase = self._follow(ctx, controller, proc, started)
                exempt = [line.split()[1].rsplit(":", 1)[0]] if line else _relays(controller, authorities)
        except (ControllerError, AuthenticationFailure) as exc:
            raise MethodError(f"tor: its control socket: {type(exc).__name__}: {exc}") from None
        self.report = {
            "bootstrap": "succeeded",
            "bootstrap_time": phase["time"],
            "tor_progress": 100,
            "tor_progress_tag": phase["tag"],
            "tor_progress_summary": phase["summary"],
            "transport_name": "obfs4" if line else "vanilla",
            "socks": f"127.0.0.1:{PORTS['socks']}",
            "control": str(control),
        }
        try:
            redirect.install(
                ctx.host, ctx.workdir / "redirect.rules", redirect.rules(exempt, PORTS["trans"], PORTS["dns"])
            )
        except RuntimeError as exc:
            raise MethodError(f"tor: {exc}") from None
        self.redirected = True

    def _follow(
        self, ctx: MethodContext, controller: Controller, proc: subprocess.Popen, started: float
    ) -> dict[str, Any]:
        """Poll tor's bootstrap phase until 100%, then until it has built a circuit that
        ends at an exit (100% only says some circuit was built, maybe an internal one, and
        the host's first lookup would wait for an exit circuit); MethodError naming the
        last phase if it stalls past the deadline or tor exits."""
        deadline = started + self.params["timeout"]
        last: dict[str, Any] = {"progress": 0, "tag": "starting", "summary": "Starting"}
        done: float | None = None  # seconds to 100%
        while True:
            try:
                if (found := PHASE.search(controller.get_info("status/bootstrap-phase"))) is not None:
                    last = {"progress": int(found[1]), "tag": found[2], "summary": found[3]}
                if last["progress"] == 100:
                    done = done or round(time.monotonic() - started, 3)
                    if any(_exits(circuit) for circuit in controller.get_circuits()):
                        return last | {"time": done}
            except SocketError:
                pass
            if proc.poll() is not None:
                raise MethodError(f"tor: bootstrap failed, tor exited ({proc.returncode}): {ctx.last_line(proc)}")
            if time.monotonic() > deadline:
                if last["progress"] == 100:
                    raise MethodError(f"tor: bootstrapped, but no exit circuit after {self.params['timeout']:g} s")
                stalled = f"last phase {last['progress']}% ({last['tag']}: {last['summary']})"
                raise MethodError(f"tor: bootstrap failed after {self.params['timeout']:g} s; {stalled}")
            time.sleep(POLL_SECONDS * 4)

    def take_down(self, ctx: MethodContext) -> None:
        if self.redirected:
            redirect.remove(ctx.host)
            self.redirected = False

    def stop(self) -> None:
        """Undo start(); then end tor's pluggable transport (obfs4proxy) if it outlived
        tor, by its pid."""
        children = [child for proc in (self.ctx.processes if self.ctx else []) for child in _children(proc.pid)]
        super().stop()
        _end(children)

    def probe_options(self) -> dict[str, Any]:
        return {"tor": self.report}


def _exits(circuit: CircuitEvent) -> bool:
    """A built circuit for the client's own streams, to an exit (not an internal one)."""
    internal = "IS_INTERNAL" in (circuit.build_flags or ())
    return circuit.status == "BUILT" and circuit.purpose == "GENERAL" and not internal


def _listening(path: Path) -> bool:
    """Whether tor accepts connections on its control socket yet: the file exists a moment
    before tor listens on it, and a loaded machine can connect in between."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _relays(controller: Controller, authorities: list[str]) -> list[str]:
    """The addresses a bridgeless tor talks to: every relay of its consensus and the
    authorities."""
    listed = [status.address for status in controller.get_network_statuses()]
    return listed + [line.split()[-2].rsplit(":", 1)[0] for line in authorities]


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (state first), or None."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _children(pid: int) -> list[tuple[int, str]]:
    """The processes ``pid`` started (tor's pluggable transport): (pid, start time)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and int(stat[1]) == pid:
            out.append((int(entry.name), stat[19]))
    return out


def _end(children: list[tuple[int, str]]) -> None:
    """Give each of ``children`` a moment to exit, then SIGKILL it if it is still the
    same process (its start time)."""
    deadline = time.monotonic() + CHILD_SECONDS
    for pid, start in children:
        while (stat := _stat(pid)) is not None and stat[19] == start and stat[0] != "Z":
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(POLL_SECONDS)
