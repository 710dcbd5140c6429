"""Progress of the lab's long steps (starting the lab, each phase's steps and probes).

On a terminal: one transient rich progress line (spinner, bar, count, elapsed time) that
disappears when the step ends, so the matrices and results stay readable. Anywhere else
(CI, a pipe, a log file) nothing: the runner's own lines already say what happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

CONSOLE = Console(stderr=True)

Advance = Callable[[], None]


@contextlib.contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Advance]:
    """Show ``description`` with a count out of ``total`` while the block runs; yields the
    function that counts one more done (safe to call from several threads)."""
    columns: list[ProgressColumn] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=CONSOLE, transient=True, disable=not CONSOLE.is_terminal) as shown:
        task = shown.add_task(description, total=total)
        yield lambda: shown.advance(task)
