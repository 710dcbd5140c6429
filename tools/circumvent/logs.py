"""A method's view of its processes' logs: only what was written since it started them.

A method's working directory, and the logs in it, is kept when it is switched off, so
that its output can be read after a run; switched on again under the same key, its
processes append to the same files. Waiting for a line must not see the last time's.
"""

from __future__ import annotations

from pathlib import Path


class NewOutput:
    """The text ``path`` gains from now on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size if path.exists() else 0

    def text(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def lines(self) -> list[str]:
        return self.text().splitlines()
