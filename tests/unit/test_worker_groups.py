"""`make test WORKERS=2` shares the suite between xdist workers by tests/conftest.py's groups:
each module on one worker (its module-scoped lab built once) and every test that looks at
a scenario run on one worker (tests/lab/plays.py starts the runs there). pytest 9.2 broke
this silently (pytest-dev/pytest-xdist#1386): a module's lab was built on both workers."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

from tools.basics.paths import REPO

pytest_plugins = ["pytester"]

MODULE = """
import os
import pytest

@pytest.mark.parametrize("n", range(6))
def test_plain(n):
    with open({seen!r}, "a") as f:
        f.write(f"{{__name__}} {{os.environ['PYTEST_XDIST_WORKER']}}\\n")

@pytest.mark.play("a scenario run")
def test_play():
    with open({seen!r}, "a") as f:
        f.write(f"play {{os.environ['PYTEST_XDIST_WORKER']}}\\n")
"""


def test_each_module_and_the_plays_stay_on_one_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(**{f"test_{name}": MODULE.format(seen=str(seen)) for name in ("one", "two", "three")})
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=21)
    workers: dict[str, set[str]] = collections.defaultdict(set)
    runs: collections.Counter[str] = collections.Counter()
    for line in seen.read_text().splitlines():
        group, worker = line.split()
        workers[group].add(worker)
        runs[group] += 1
    assert runs == {"test_one": 6, "test_two": 6, "test_three": 6, "play": 3}
    assert all(len(w) == 1 for w in workers.values()), dict(workers)
    assert set().union(*workers.values()) == {"gw0", "gw1"}  # and the work was shared
