"""Lab tests build real sealed labs: they need root (CI runs as root). Tests that look at
a scenario run (a ``play`` mark, tests/lab/plays.py) run first, their runs side by side."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.lab.plays import Play, Plays

WANTED = pytest.StashKey[list[Play]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)
    wanted = [m.args[0] for item in items if (m := item.get_closest_marker("play")) is not None]
    config.stash[WANTED] = list(dict.fromkeys(wanted))
    items.sort(key=lambda item: item.get_closest_marker("play") is None)  # stable: plays first


@pytest.fixture(scope="session")
def plays(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plays]:
    started = Plays(tmp_path_factory.mktemp("plays"), request.config.stash.get(WANTED, []))
    yield started
    started.close()


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("lab tests need root: run `sudo make test`")
