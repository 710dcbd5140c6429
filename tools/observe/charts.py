"""Draw a scenario's timeline as IODA-style charts (PNG).

    python -m tools.observe.charts TIMELINE.json OUT_DIR [--title T]

``connectivity.png`` puts the three signals over the lab clock, as IODA's dashboard does:
BGP visibility (a route collector's view), active probing (addresses answering from
outside) and the inside signal (client-target pairs that work). In January 2022 the first
stayed near 100% while the other two fell to almost nothing (kazakhstan.md section 4).
``operators.png`` splits the probing and inside signals by operator. The x axis is the
phases' lab-clock times when every phase has one, else the phases evenly spaced by name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.dates import DateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from tools.observe.timeline import parse_time, read_timeline, validate

# Figure renders through the Agg canvas on savefig: no pyplot, no GUI backend, no global state.
# key, label, line style: distinct markers and dashes keep coinciding lines apart.
SIGNALS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("bgp", "BGP visibility", {"color": "tab:blue", "marker": "o", "ls": "-"}),
    ("probing", "Active probing", {"color": "tab:orange", "marker": "s", "ls": "--"}),
    ("inside", "Inside: working pairs", {"color": "tab:green", "marker": "^", "ls": "-."}),
)
CAPTION = (
    "BGP: country prefixes a route collector sees · active probing: in-use addresses answering "
    "ICMP echo from outside · inside: client-target pairs that work"
)
OPERATORS_CAPTION = (
    "Per operator · inside: its clients' client-target pairs that work · "
    "active probing: its in-use addresses answering ICMP echo from outside"
)
# matplotlib's stubs type values as numbers only, though its unit converters take datetimes:
# the calls given the times carry ignore[arg-type].
X = list[dt.datetime] | list[int]


def _percent(signal: dict[str, Any] | None, group: str | None = None) -> float:
    """A signal's share (or one group's) in percent; NaN, a gap in the line, when there is none."""
    if signal is not None and group is not None:
        signal = signal["groups"].get(group)
    return math.nan if signal is None else 100 * signal["share"]


def _x_axis(timeline: list[dict[str, Any]]) -> tuple[X, bool]:
    """The phases' times if all have one, else their indices; and which of the two it is."""
    if all(r.get("time") is not None for r in timeline):
        return [parse_time(r["time"], r["phase"]) for r in timeline], True
    return list(range(len(timeline))), False


def _drawstyle(timed: bool) -> str:
    """On the lab clock a phase's state holds until the next phase: steps, not slopes."""
    return "steps-post" if timed else "default"


def _style(ax: Axes, xs: X, names: list[str], timed: bool, label_phases: bool) -> None:
    """0-100 % y axis; phase names as top ticks over a time axis, or as the x ticks themselves."""
    ax.set_ylim(-3, 103)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    ax.grid(alpha=0.3)
    if not timed:
        ax.set_xticks(range(len(xs)), names, rotation=30, ha="right", fontsize=8)  # untimed, xs are these indices
        return
    ax.xaxis.set_major_formatter(DateFormatter("%d %b\n%H:%M", tz=dt.UTC))
    for x in xs:
        ax.axvline(x, color="grey", lw=0.5, ls=":")  # type: ignore[arg-type]  # datetimes: see X
    if label_phases:
        top = ax.secondary_xaxis("top")
        top.set_xticks(date2num(xs), names, rotation=45, ha="left", fontsize=7)


def _connectivity(timeline: list[dict[str, Any]], xs: X, timed: bool, title: str, path: Path) -> None:
    fig = Figure(figsize=(11, 6), layout="constrained")
    ax = fig.subplots()
    for key, label, style in SIGNALS:
        values = [_percent(r.get(key)) for r in timeline]
        ax.plot(xs, values, label=label, drawstyle=_drawstyle(timed), **style)  # type: ignore[arg-type]  # see X
    _style(ax, xs, [r["phase"] for r in timeline], timed, label_phases=True)
    ax.set_xlabel("lab clock (UTC)" if timed else "phase")
    ax.set_ylabel("share")
    ax.set_title(CAPTION, fontsize=8)
    fig.suptitle(title)
    fig.legend(loc="outside lower center", ncols=len(SIGNALS))
    fig.savefig(path, dpi=110)


def _operators(timeline: list[dict[str, Any]], xs: X, timed: bool, title: str, path: Path) -> None:
    signals = [s for s in SIGNALS if s[0] != "bgp"]
    names = sorted({g for r in timeline for key, _, _ in signals if r.get(key) for g in r[key]["groups"]})
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(4.5 * ncols, 3 * nrows + 1.5), layout="constrained")
    axes = list(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).flat)
    for i, (ax, name) in enumerate(zip(axes, names, strict=False)):
        for key, label, style in signals:
            values = [_percent(r.get(key), name) for r in timeline]
            ax.plot(xs, values, label=label, ms=4, drawstyle=_drawstyle(timed), **style)
        _style(ax, xs, [r["phase"] for r in timeline], timed, label_phases=i < ncols)
        ax.xaxis.set_tick_params(labelbottom=i + ncols >= len(names))  # the lowest plot of its column
        ax.set_title(name, fontsize=10)
    for ax in axes[len(names) :]:
        ax.set_axis_off()
    fig.suptitle(f"{title}\n{OPERATORS_CAPTION}", fontsize=10)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(signals))
    fig.savefig(path, dpi=110)


def draw(timeline: list[dict[str, Any]], out_dir: Path, title: str) -> list[Path]:
    """Write connectivity.png and operators.png into ``out_dir``; returns their paths."""
    validate(timeline)
    out_dir.mkdir(parents=True, exist_ok=True)
    xs, timed = _x_axis(timeline)
    paths = [out_dir / "connectivity.png", out_dir / "operators.png"]
    _connectivity(timeline, xs, timed, title, paths[0])
    _operators(timeline, xs, timed, title, paths[1])
    return paths


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.observe.charts", description="Redraw a saved timeline.")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--title", default="Connectivity as seen from outside")
    args = parser.parse_args(argv)
    try:
        timeline = read_timeline(args.timeline)
    except (OSError, ValueError) as e:
        print(f"charts: {args.timeline}: {e}", file=sys.stderr)
        return 2
    for path in draw(timeline, args.out_dir, args.title):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
