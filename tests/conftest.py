"""Every test: an unexpected skip is a failure; and how the suite is shared between
pytest-xdist's workers (``make test`` runs ``-n WORKERS --dist loadgroup``).

A skip is allowed only when its reason is a platform gap of this platform
(tests/platform_gaps.py: a package that tools/setup/platform-gaps and the README list as
having no deb there); any other skip, at collection or in a test, is reported as a
failure, so a missing install step cannot hide behind a green suite.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests import module_cpu, platform_gaps

PLAYS_GROUP = "plays"  # every test that looks at a scenario run: one worker, which plays them all


def pytest_configure(config: pytest.Config) -> None:
    module_cpu.register(config)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One xdist group per test module (its module-scoped lab is built once, on one worker),
    and one for every test that looks at a scenario run (tests/lab/plays.py starts the runs
    side by side on the worker that runs the first of them). Without xdist, marks only."""
    for item in items:
        group = PLAYS_GROUP if item.get_closest_marker("play") else item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("deb"):
        for package in mark.args:
            platform_gaps.require_deb(package)


def _fail_unexpected_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    if platform_gaps.skip_allowed(reason):
        return
    report.outcome = "failed"
    report.longrepr = (
        f"unexpected skip on {platform_gaps.this_platform()}: {reason}\n"
        "Only a deb that tools/setup/platform-gaps lists for this platform may skip a test "
        '(@pytest.mark.deb("package")); install what is missing instead.'
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport]:
    report = yield
    _fail_unexpected_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport]:
    report = yield
    _fail_unexpected_skip(report)
    return report
