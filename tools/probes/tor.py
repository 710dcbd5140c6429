"""The tor probe: whether the host's tor client bootstrapped, with the keys of OONI's
vanilla_tor and torsf tests (``success``, ``failure``, ``bootstrap_time``,
``tor_progress``, ``tor_progress_tag``, ``tor_progress_summary``, ``transport_name``).

The tor circumvention method (tools/circumvent/tor) follows its client's bootstrap and
puts its report in the plan's options (``tor``): time to 100% and the last phase. The
probe adds what the client says now, through its control socket: its bootstrap phase and
whether it has a circuit (``circuit_established``). OONI's tests start a tor of their
own; here the probe measures the one the host uses. test_name is ``vanilla_tor`` without
a bridge and ``tor_obfs4`` (a lab addition, with the same keys) through the obfs4 bridge.
The outcome is "bootstrap succeeded" or "bootstrap failed", as OONI's tor tests report.
"""

from __future__ import annotations

import re
from typing import Any

from stem import ControllerError, SocketError
from stem.control import Controller

PHASE = re.compile(r'PROGRESS=(\d+) TAG=(\S+) SUMMARY="([^"]*)"')


def measure(options: dict[str, Any]) -> dict[str, Any]:
    report = options.get("tor")
    keys: dict[str, Any] = {
        "success": False,
        "failure": "no tor client is running in this host",
        "bootstrap_time": None,
        "tor_progress": 0,
        "tor_progress_tag": None,
        "tor_progress_summary": None,
        "transport_name": "vanilla",
        "circuit_established": False,
    }
    if report:
        keys |= {k: report[k] for k in ("bootstrap_time", "transport_name") if k in report}
        keys |= live(report["control"])
    name = "vanilla_tor" if keys["transport_name"] == "vanilla" else f"tor_{keys['transport_name']}"
    outcome = "bootstrap succeeded" if keys["success"] else "bootstrap failed"
    return {"test_name": name, "input": None, "test_keys": keys, "outcome": outcome}


def live(control: str) -> dict[str, Any]:
    """The client's bootstrap phase and circuit state now, from its control socket."""
    try:
        with Controller.from_socket_file(control) as controller:
            controller.authenticate()
            phase = PHASE.search(controller.get_info("status/bootstrap-phase"))
            circuit = controller.get_info("status/circuit-established") == "1"
    except (SocketError, ControllerError) as exc:
        return {"failure": f"tor's control socket: {exc}"}
    if phase is None:
        return {"failure": "tor reports no bootstrap phase", "circuit_established": circuit}
    progress = int(phase[1])
    return {
        "success": progress == 100,
        "failure": None if progress == 100 else f"bootstrap stalled at {progress}%",
        "tor_progress": progress,
        "tor_progress_tag": phase[2],
        "tor_progress_summary": phase[3],
        "circuit_established": circuit,
    }
