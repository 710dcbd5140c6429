"""Test files are modules without packages (pytest's default import mode): two with one
name, in tests/unit and tests/lab, stop the whole collection ("import file mismatch")."""

from __future__ import annotations

from collections import Counter

from tools.basics.paths import REPO


def test_no_two_test_files_share_a_name() -> None:
    names = Counter(path.name for path in (REPO / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
