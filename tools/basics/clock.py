"""The lab clock: a scenario's real timeline, played compressed.

A timed scenario gives each phase its moment on the real timeline (UTC, e.g. the
shutdown's "2022-01-05T10:30"). The clock starts at the first phase and, between
phases, sleeps the gap scaled down (one hour of the timeline in ``seconds_per_hour``
seconds of wall time: 1 s by default, so the week of January 2022 plays in minutes).
While a phase probes, the clock stands still: each phase is a snapshot of one
moment, however long its probes take, and schedule-driven censors (curfews, access
windows) see that moment and no other.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

DEFAULT_SECONDS_PER_HOUR = 1.0


def parse_time(text: str) -> dt.datetime:
    """An ISO-8601 moment, taken as UTC when it names no zone; ValueError otherwise."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an ISO-8601 time such as 2022-01-05T10:30") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@dataclass
class LabClock:
    now: dt.datetime
    seconds_per_hour: float = DEFAULT_SECONDS_PER_HOUR
    slept: float = field(default=0.0)

    def __post_init__(self) -> None:
        if not 0 <= self.seconds_per_hour <= 3600:
            raise ValueError(f"seconds per hour {self.seconds_per_hour} outside 0..3600")

    def advance_to(self, moment: dt.datetime) -> float:
        """Move to ``moment`` (never back), sleeping the compressed gap; returns the sleep."""
        if moment < self.now:
            raise ValueError(f"the lab clock cannot go back from {self.now:%Y-%m-%d %H:%M} to {moment:%Y-%m-%d %H:%M}")
        pause = (moment - self.now).total_seconds() / 3600 * self.seconds_per_hour
        time.sleep(pause)
        self.now, self.slept = moment, self.slept + pause
        return pause
