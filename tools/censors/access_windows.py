"""AccessWindows: a shutdown that lifts in windows of the lab clock.

Wraps another shutdown censor (``censor``: its registered name; ``params``: its
parameters) and keeps it attached outside the open windows, detached inside them, as
the lab clock moves (tools/basics/clock.py). The windows are either ``open``, moments
(ISO-8601, UTC when no zone is named) as [start, end] pairs, or ``daily_open``, times
of day ("HH:MM", UTC) as [start, end] pairs, a pair wrapping past midnight when it ends
before it starts. A window is open from its start up to, not including, its end.

Models the daily access windows of 2022-01-05..09 (kazakhstan.md section 4), as
``open``: [["2022-01-05T17:30", "2022-01-05T22:00"], ["2022-01-06T10:30", "2022-01-06T14:00"],
["2022-01-07T02:30", "2022-01-07T06:00"], ["2022-01-08T02:30", "2022-01-08T10:00"],
["2022-01-09T02:30", "2022-01-09T06:00"]], and a shutdown following the curfew of
23:00-07:00, taken as local time (UTC+6 then), as ``daily_open``: [["01:00", "17:00"]]
(kazakhstan.md gives the curfew's hours, not whether the network followed them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from tools.basics.clock import parse_time
from tools.basics.params import MAPPING, PAIRS, choice
from tools.censors.allowlist_access_network import AllowlistAccessNetwork
from tools.censors.base import Attachment, CensorError, Field
from tools.censors.drop_traffic_at_border import DropTrafficAtBorder
from tools.censors.shutdown import ShutdownCensor
from tools.censors.shutdown_access_network import ShutdownAccessNetwork
from tools.censors.throttle_access_network import ThrottleAccessNetwork
from tools.censors.withdraw_routes import WithdrawRoutes

if TYPE_CHECKING:  # annotations only: the engine and the device run without mininet and networkx
    from topologies.model import TopologyModel

# The shutdown censors it can wrap (a test checks that this is every other one).
WRAPPABLE: dict[str, type[ShutdownCensor]] = {
    c.name: c
    for c in (DropTrafficAtBorder, WithdrawRoutes, ShutdownAccessNetwork, AllowlistAccessNetwork, ThrottleAccessNetwork)
}

Moment = TypeVar("Moment", dt.datetime, dt.time)  # a window's bounds: moments or times of day


def time_of_day(text: str) -> dt.time:
    return dt.datetime.strptime(text, "%H:%M").time()


def in_window(at: Moment, start: Moment, end: Moment) -> bool:
    """Whether ``at`` falls in [start, end), a window that wraps past midnight when it ends
    before it starts."""
    return start <= at < end if start < end else (at >= start or at < end)


def lab_clock(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        raise RuntimeError("censor AccessWindows: needs a scenario with a lab clock (phases with times)")
    return now


class AccessWindows(ShutdownCensor):
    fields: ClassVar[dict[str, Field]] = {
        "censor": Field(choice(*WRAPPABLE), "the shutdown censor lifted in the windows"),
        "params": Field(MAPPING, "the wrapped censor's parameters", {}),
        "open": Field(PAIRS, 'moments [["2022-01-05T17:30", "2022-01-05T22:00"], ...] (UTC) it is lifted', None),
        "daily_open": Field(PAIRS, 'times of day [["01:00", "17:00"], ...] (UTC) it is lifted every day', None),
    }
    models = "kazakhstan.md section 4 (2022-01-05..09 daily access windows; the 23:00-07:00 curfew)"
    probe_sees = "the wrapped censor's outcome outside the windows, accessible inside them"
    circumvention = "the open windows themselves; else as the wrapped censor"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        try:
            self.inner: ShutdownCensor = WRAPPABLE[self.params["censor"]](**self.params["params"])
        except CensorError as exc:
            raise CensorError(f"censor {self.name!r}: params: {exc}") from None
        if (self.params["open"] is None) == (self.params["daily_open"] is None):
            raise CensorError(f"censor {self.name!r}: open, daily_open: give exactly one")
        self.daily = self.params["daily_open"] is not None
        # The windows given, as moments (open) or as times of day (daily_open); the other list is empty.
        self.windows = [] if self.daily else self._windows("open", self.params["open"], parse_time)
        self.daily_windows = self._windows("daily_open", self.params["daily_open"], time_of_day) if self.daily else []
        self.at: Attachment | None = None
        self.closed = False  # whether the wrapped censor is attached now

    def _windows(
        self, key: str, value: tuple[tuple[str, str], ...], parse: Callable[[str], Moment]
    ) -> list[tuple[Moment, Moment]]:
        what = "HH:MM times of day (UTC)" if self.daily else "ISO-8601 moments"
        out: list[tuple[Moment, Moment]] = []
        for pair in value:
            try:
                start, end = (parse(t) for t in pair)
            except (TypeError, ValueError):
                message = f"censor {self.name!r}: {key}: {pair!r} is not a [start, end] pair of {what}"
                raise CensorError(message) from None
            if start == end or (start > end and not self.daily):
                must = "at another time than" if self.daily else "after"
                raise CensorError(f"censor {self.name!r}: {key}: {pair!r} must end {must} it starts")
            out.append((start, end))
        return out

    def is_open(self, now: dt.datetime) -> bool:
        """Whether ``now`` (an aware datetime: the lab clock's) falls in an open window."""
        if self.daily:
            at = now.astimezone(dt.UTC).time()
            return any(in_window(at, start, end) for start, end in self.daily_windows)
        return any(in_window(now, start, end) for start, end in self.windows)

    def attach(self, at: Attachment) -> None:
        now = lab_clock(at.now)
        self.at, self.closed = at, False
        self.tick(now)

    def tick(self, now: dt.datetime) -> None:
        if self.at is None:
            return
        closed = not self.is_open(now)
        if closed and not self.closed:
            self.inner.attach(dataclasses.replace(self.at, now=now))
        elif self.closed and not closed:
            self.inner.detach()
        elif closed:
            self.inner.tick(now)
        self.closed = closed

    def detach(self) -> None:
        if self.closed:
            self.inner.detach()
        self.at, self.closed = None, False

    def effect(self, model: TopologyModel, node: str, client: str, address: str, now: dt.datetime | None) -> str | None:
        return None if self.is_open(lab_clock(now)) else self.inner.effect(model, node, client, address, now)
