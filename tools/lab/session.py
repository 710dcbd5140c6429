"""A lab kept up for interactive use by tests, benchmarks and course exercises.

``LabSession`` brings a topology up in a sealed run and keeps it up while the caller
runs commands in its hosts, attaches censors, has subscribers install the national root,
and reads files of the run; leaving the ``with`` block tears everything down. The lab
itself runs in the sealed child (``_inside``), which takes one JSON request per line on
stdin and answers one JSON line on stdout.

    with LabSession() as lab:
        lab.attach("device", "NationalInterception", "gw")
        print(lab.run("home1", "curl -sI https://facebook.com/").out)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.basics.paths import REPO
from tools.lab import seal


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


class LabSessionError(RuntimeError):
    pass


class LabSession:
    def __init__(self, topology: str = "kz_isp", **topology_params: Any) -> None:
        self.topology, self.params = topology, topology_params
        self.run_: seal.Run | None = None
        self.proc: subprocess.Popen | None = None
        self._rundir: Path | None = None

    @property
    def rundir(self) -> Path:
        """The run's directory, where the lab's files are (known once the lab is up)."""
        if self._rundir is None:
            raise LabSessionError("the lab session has no run directory: use it in a with block")
        return self._rundir

    def __enter__(self) -> LabSession:
        self.run_ = seal.create()
        try:
            config = json.dumps({"topology": self.topology, "params": self.params})
            path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
            self.proc = seal.spawn_inside(
                self.run_,
                [sys.executable, "-m", "tools.lab.session", "_inside", config],
                env={"PYTHONPATH": str(REPO), "PATH": path},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=str(REPO),
            )
            ready = self._read()
            self._rundir = Path(ready["rundir"])
            self.netns = self.run_.netns
            self.named_dir = self.run_.named_dir
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self._send({"op": "quit"})
                    self.proc.wait(30)
                except (OSError, subprocess.TimeoutExpired, LabSessionError):
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.run_ is not None:
            seal.destroy(self.run_)
            self.run_ = None

    def _send(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise LabSessionError(f"the lab process ended (status {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise LabSessionError(reply["error"])
        return reply

    def run(self, node: str, command: str, timeout: float = 60) -> Result:
        """Run a shell command inside ``node``; its exit status and output."""
        r = self._send({"op": "run", "node": node, "command": command, "timeout": timeout})
        return Result(r["rc"], r["out"], r["err"])

    def attach(self, key: str, censor: str, node: str, **params: Any) -> None:
        self._send({"op": "step", "action": "attach", "key": key, "censor": censor, "node": node, "params": params})

    def detach(self, key: str) -> None:
        self._send({"op": "step", "action": "detach", "key": key})

    def dead_censors(self) -> dict[str, str]:
        """Attached censors whose process died on its own: key -> why (as the runner sees them)."""
        return self._send({"op": "dead"})["dead"]

    def circumvent(self, key: str, method: str, node: str, **params: Any) -> None:
        """Switch circumvention ``method`` on in ``node`` (LabSessionError with the
        method's one line if it does not come up)."""
        self._send({"op": "step", "action": "circumvent", "key": key, "method": method, "node": node, "params": params})

    def uncircumvent(self, key: str) -> None:
        self._send({"op": "step", "action": "uncircumvent", "key": key})

    def probe_options(self, node: str) -> dict[str, Any]:
        """What the probes of ``node`` do differently for the methods switched on there."""
        return self._send({"op": "probe_options", "node": node})["options"]

    def install_root(self, node: str, generation: str = "2019") -> None:
        self._send(
            {
                "op": "step",
                "action": "install_root",
                "key": f"root-{node}",
                "node": node,
                "params": {"generation": generation},
            }
        )


def _inside(config: dict[str, Any]) -> int:
    """The sealed side: build the lab, then serve requests until told to quit."""
    # Replies own the real stdout; anything else written there (prints, child processes)
    # goes to stderr instead of corrupting the protocol.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from tools.lab.lab import Lab
    from tools.lab.steps import Step, apply
    from topologies import registry

    run = seal.Run(os.environ["KZLAB_RUN"])
    rundir = Path(os.environ["KZLAB_RUN_DIR"])
    lab = Lab(registry.build(config["topology"], **config["params"]), rundir, run.named_dir)

    def reply(payload: dict[str, Any]) -> None:
        replies.write(json.dumps(payload) + "\n")
        replies.flush()

    try:
        lab.start()
        reply({"ready": True, "rundir": str(rundir), "timings": lab.timings})
        for line in sys.stdin:
            request = json.loads(line)
            try:
                if request["op"] == "quit":
                    reply({"ok": True})
                    break
                if request["op"] == "run":
                    home = rundir / "hosts" / request["node"] / "home"  # the host's own HOME, as in its shell
                    proc = lab.host(request["node"]).popen(
                        ["bash", "-c", request["command"]],
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        cwd=str(REPO),
                        text=True,
                        env={**os.environ, "HOME": str(home)},
                    )
                    try:
                        out, err = proc.communicate(timeout=request["timeout"])
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        out, err = proc.communicate()
                        err += "\n(timed out)"
                    reply({"rc": proc.returncode, "out": out, "err": err})
                elif request["op"] == "dead":
                    reply({"dead": lab.dead_censors()})
                elif request["op"] == "probe_options":
                    reply({"options": lab.probe_options(request["node"])})
                elif request["op"] == "step":
                    names = ("action", "key", "censor", "method", "node", "params")
                    fields = {k: request[k] for k in names if k in request}
                    apply(lab, Step(**fields))
                    reply({"ok": True})
                else:
                    reply({"error": f"unknown request {request['op']!r}"})
            except Exception as exc:  # noqa: BLE001 - report to the caller, keep serving
                reply({"error": f"{type(exc).__name__}: {exc}"})
    except Exception as exc:  # noqa: BLE001
        reply({"error": f"lab failed to start: {type(exc).__name__}: {exc}"})
        return 1
    finally:
        lab.stop()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["_inside"]:
        sys.exit("tools.lab.session is used through LabSession")
    sys.exit(_inside(json.loads(sys.argv[2])))
