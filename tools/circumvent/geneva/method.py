"""Geneva's packet strategies as a circumvention method: the engine of this package runs in
the subscriber's host and rewrites its own packets (kazakhstan.md section 6)."""

from __future__ import annotations

import sys
from typing import ClassVar

from tools.basics.params import Field, Kind, integer
from tools.circumvent.geneva.library import strategy_named
from tools.circumvent.geneva.parser import StrategyError
from tools.circumvent.method import Method, MethodContext

READY_SECONDS = 15.0


def _strategy(value: object) -> str:
    """A library name or a strategy string that parses (its error names the position)."""
    if not isinstance(value, str):
        raise TypeError("not a string")
    try:
        strategy_named(value)
    except StrategyError as exc:
        raise ValueError(str(exc)) from None
    return value


class GenevaStrategy(Method):
    name = "geneva"
    what = "rewrites the host's own TCP packets by a Geneva strategy so that the DPI misreads the flow"
    models = "kazakhstan.md section 6: the four strategies that beat the 2019 device"
    fields: ClassVar[dict[str, Field]] = {
        "strategy": Field(Kind("a Geneva strategy string or a library name", _strategy), "the strategy to apply"),
        "port": Field(integer(1, 65535), "the TCP port whose packets it acts on", 443),
        "queue": Field(integer(0, 65535), "the NFQUEUE number in the host", 0),
    }

    def bring_up(self, ctx: MethodContext) -> None:
        argv = [sys.executable, "-u", "-m", "tools.circumvent.geneva", "--strategy", self.params["strategy"]]
        argv += ["--port", str(self.params["port"]), "--queue", str(self.params["queue"])]
        proc = ctx.popen(argv, "geneva.log")
        ctx.wait(lambda: ctx.output(proc).startswith("ready"), "geneva engine", READY_SECONDS, proc)
