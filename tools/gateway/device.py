"""The interception device as a censor a scenario attaches to the ISP gateway.

``national_interception`` starts the interceptor (interceptor.py) inside the node it is
attached to and stops it on detach; the interceptor installs and removes its own rules.
Parameters: ``generation`` ("2019": Qaznet Trust Network, or "2020": ISCA), ``targets``
(default: that generation's measured list, targets.py), ``shift_hours`` (6, or 24 for the
phase from 2019-07-30, kazakhstan.md 1.7), ``enforcement`` (put subscribers whose
browsers reject the national chain in a walled garden until they install it, 1.1 and
section 2) and ``walled`` (subscriber blocks redirected to the portal from the start, as
the 2020 mobile operators did).
"""

from __future__ import annotations

import json
import subprocess
import sys

from tools.censors.base import Attachment, Censor, CensorError
from tools.gateway.national_ca import GENERATIONS, ca_dir, wait_ready
from tools.gateway.targets import TARGETS
from tools.services.base import REPO, stop_process

READY_TIMEOUT = 20.0


class NationalInterception(Censor):
    name = "national_interception"
    models = "kazakhstan.md sections 1 and 2 (the 2019 and 2020 interception device)"
    probe_sees = "tls_mitm with the root installed; http-failure, ssl_unknown_authority without"
    circumvention = "a name off the list, a VPN/proxy, a path avoiding the device; not clicking through (HSTS)"
    params_allowed = frozenset({"generation", "targets", "shift_hours", "enforcement", "walled", "queue"})

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        generation = params.get("generation", "2019")
        if generation not in GENERATIONS:
            raise CensorError(f"censor {self.name!r}: generation must be one of {sorted(GENERATIONS)}")
        self.proc: subprocess.Popen | None = None

    def config(self, at: Attachment) -> dict[str, object]:
        workdir, rundir = at.workdir, at.rundir
        generation = str(self.params.get("generation", "2019"))
        return {
            "queue": int(self.params.get("queue", 10)),
            "targets": list(self.params.get("targets", TARGETS[generation])),
            "ca_dir": str(ca_dir(rundir) / generation),
            "generation": generation,
            "shift_hours": int(self.params.get("shift_hours", 6)),
            "trust_bundle": str(rundir / "global-root.pem"),
            "workdir": str(workdir),
            "log": str(rundir / "surveillance.jsonl"),
            "enforcement": bool(self.params.get("enforcement", False)),
            "walled": list(self.params.get("walled", [])),
            "portal": next((str(at.model.primary_address(n)) for n, _ in at.model.services("install_portal")), None),
        }

    def attach(self, at: Attachment) -> None:
        self.host = host = at.host
        workdir = at.workdir
        wait_ready(ca_dir(at.rundir) / str(self.params.get("generation", "2019")))
        path = workdir / "interceptor.json"
        path.write_text(json.dumps(self.config(at), indent=1))
        log = open(workdir / "interceptor.log", "ab")  # noqa: SIM115 - held by the process
        self.proc = host.popen(
            [sys.executable, "-u", "-m", "tools.gateway.interceptor", str(path)],
            cwd=str(REPO),
            stdout=subprocess.PIPE,
            stderr=log,
        )
        line = self.proc.stdout.readline().decode(errors="replace")
        if "ready" not in line:
            self.proc.kill()
            raise RuntimeError(f"interception device did not start on {host.name}: see {workdir}/interceptor.log")

    def detach(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
