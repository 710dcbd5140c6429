"""Dummy: the negative control. Attaches like a real censor and changes nothing.

It hooks the node's forwarding path (an iptables chain every forwarded packet enters
and leaves with RETURN), so a scenario with the dummy exercises the same attachment as
a real censor; any difference from the baseline it shows is the lab's fault, not a
censor's. (OONI's QA cases and ooni/netem have the same kind of control.)
"""

from __future__ import annotations

from tools.censors.base import Attachment, Censor

CHAIN = "KZLAB_DUMMY"


class Dummy(Censor):
    models = "nothing: the negative control (as OONI's QA cases and ooni/netem have)"
    probe_sees = "accessible, everywhere"
    circumvention = "-"

    def attach(self, at: Attachment) -> None:
        self.host = host = at.host
        host.cmd(f"iptables -w -N {CHAIN} && iptables -w -A {CHAIN} -j RETURN && iptables -w -I FORWARD -j {CHAIN}")
        if CHAIN not in host.cmd("iptables -w -S FORWARD"):
            raise RuntimeError(f"dummy censor: could not hook FORWARD on {host.name}")

    def detach(self) -> None:
        if self.host is not None:
            self.host.cmd(f"iptables -w -D FORWARD -j {CHAIN}; iptables -w -F {CHAIN}; iptables -w -X {CHAIN}")
            self.host = None
