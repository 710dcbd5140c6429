"""Where the suite's time goes (issue 10): the CPU each test module cost, its own process's
and every process it waited for (its lab and the lab's services, probes, scenario plays),
printed at the end of the suite, most expensive first.

A process's CPU counts once it has been waited for, so a lab's count falls on the test
during which it stopped (its module's last one, for a module-scoped lab), and a scenario
play's on the test that waited for it. Only without xdist workers: a worker's processes
are not the controller's children.
"""

from __future__ import annotations

import resource
from collections import Counter

import pytest

SHOWN = 25


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class ModuleCPU:
    """A pytest plugin: the CPU seconds spent between one test's end and the next's, by
    the module of the test that ended."""

    def __init__(self) -> None:
        self.last = _cpu_seconds()
        self.seconds: Counter[str] = Counter()

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        now = _cpu_seconds()
        self.seconds[nodeid.split("::", 1)[0]] += now - self.last
        self.last = now

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.seconds:
            return
        total = sum(self.seconds.values())
        terminalreporter.write_sep("=", f"CPU per test module: {total:.0f} s in all, the {SHOWN} most")
        for module, seconds in self.seconds.most_common(SHOWN):
            terminalreporter.write_line(f"{seconds:8.1f} s  {seconds / total:5.1%}  {module}")


def register(config: pytest.Config) -> None:
    """Report the modules' CPU when this process runs the tests itself."""
    if not config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ModuleCPU(), "module-cpu")
