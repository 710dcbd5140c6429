"""NationalInterception: the 2019/2020 interception device as a censor a scenario attaches.

It starts the device (tools/gateway/interceptor.py, with the national CA, the portal's
walled garden and the surveillance log of tools/gateway/) inside the node it is attached
to, usually the ISP gateway, and stops it on detach; the device installs and removes its
own rules. ``shift_hours`` is 6, or 24 for the phase from 2019-07-30 (kazakhstan.md 1.7);
``enforcement`` walls in subscribers whose browsers reject the national chain until they
install it (1.1, section 2); ``walled`` redirects subscriber blocks to the portal from
the start, as the 2020 mobile operators did.

By default the device is as weak as the one Geneva got around in 2019 (section 6): it
decides from the first data segment it sees of a flow, so a ClientHello split over two
segments, or whose first copy is cut short by its IP length, is not intercepted; its
state comes from the first packet it sees, so a client's SYN-ACK before its SYN, or a
second SYN carrying a payload, leaves the flow alone; a client's RST tears nothing down.
``reassemble`` makes a stronger, hypothetical device that waits for the whole ClientHello
across segments, to contrast with.
"""

from __future__ import annotations

import json
from typing import ClassVar

from tools.basics.params import BOOLEAN, DOMAINS, PREFIXES, choice, integer
from tools.censors.base import Attachment, Censor, Field
from tools.censors.process import CensorProcess
from tools.gateway.national_ca import GENERATIONS, ca_dir, wait_ready
from tools.gateway.targets import TARGETS


class NationalInterception(Censor):
    models = "kazakhstan.md sections 1, 2 and 6 (the 2019 and 2020 interception device, what got around it)"
    probe_sees = "tls_mitm with the root installed; http-failure, ssl_unknown_authority without"
    circumvention = (
        "a name off the list, a VPN/proxy, a path avoiding the device; Geneva's four Kazakhstan strategies "
        "(ClientHello segmentation, a small IP length, a payload on a second SYN, TCB turnaround); "
        "not clicking through (HSTS), not a client RST (TCB teardown)"
    )
    fields: ClassVar[dict[str, Field]] = {
        "generation": Field(choice(*GENERATIONS), "which national root: 2019 (Qaznet) or 2020 (ISCA)", "2019"),
        "targets": Field(DOMAINS, "the names it intercepts (default: the generation's measured list)", None),
        "shift_hours": Field(integer(0, 8760), "how far back the forged validity starts (1.7: 6, 24 from 07-30)", 6),
        "enforcement": Field(BOOLEAN, "wall in subscribers rejecting the national chain until they install it", False),
        "walled": Field(PREFIXES, "subscriber blocks redirected to the portal from the start", ()),
        "queue": Field(integer(0, 65535), "its NFQUEUE number", 10),
        "reassemble": Field(BOOLEAN, "reassemble a split ClientHello, as 2019's device did not (6)", False),
    }

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.process: CensorProcess | None = None

    def config(self, at: Attachment) -> dict[str, object]:
        workdir, rundir = at.workdir, at.rundir
        generation = self.params["generation"]
        return {
            "queue": self.params["queue"],
            "targets": list(self.params["targets"] or TARGETS[generation]),
            "ca_dir": str(ca_dir(rundir) / generation),
            "generation": generation,
            "shift_hours": self.params["shift_hours"],
            "trust_bundle": str(rundir / "global-root.pem"),
            "workdir": str(workdir),
            "log": str(rundir / "surveillance.jsonl"),
            "enforcement": self.params["enforcement"],
            "walled": list(self.params["walled"]),
            "reassemble": self.params["reassemble"],
            "portal": next((str(at.model.primary_address(n)) for n, _ in at.model.services("install_portal")), None),
        }

    def attach(self, at: Attachment) -> None:
        self.host = host = at.host
        workdir = at.workdir
        wait_ready(ca_dir(at.rundir) / self.params["generation"])
        path = workdir / "interceptor.json"
        path.write_text(json.dumps(self.config(at), indent=1))
        self.process = CensorProcess(
            host, "tools.gateway.interceptor", path, workdir / "interceptor.log", "the interception device"
        )

    def failure(self) -> str | None:
        return self.process.failure() if self.process is not None else None

    def detach(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
