"""Progress of long steps (tools/basics/progress.py): shown on a terminal, counting what
is done; nothing written when the output is not a terminal (CI logs, pipes)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tools.basics import progress


def shown(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> str:
    out = io.StringIO()
    monkeypatch.setattr(progress, "CONSOLE", Console(file=out, force_terminal=terminal, width=100))
    with progress.progress("phase open: clients probed", 3) as done:
        done()
        done()
    return out.getvalue()


def test_a_terminal_sees_the_step_and_its_count(monkeypatch: pytest.MonkeyPatch) -> None:
    text = shown(monkeypatch, terminal=True)
    assert "phase open: clients probed" in text
    assert "2/3" in text


def test_a_pipe_sees_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shown(monkeypatch, terminal=False) == ""
