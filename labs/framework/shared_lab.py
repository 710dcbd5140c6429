"""One lab for the live checks of a whole class (grade-all, tests), for labs whose checker
needs a running lab: built by the first check that needs it, inside
``LabDefinition.grading()``, and ended with it. Lab 3 (its live check at gw) and lab 4
(its recipes' replays) use it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from labs.framework.definition import LabDefinition
from tools.lab.session import LabSession


class SharedLab(LabDefinition):
    """A lab definition whose live checks share one LabSession while a class is graded."""

    def __init__(self) -> None:
        self.session: LabSession | None = None
        self._held: ExitStack | None = None  # while a class is graded: what holds its shared lab

    @contextmanager
    def grading(self) -> Iterator[None]:
        """A class graded at once: its live checks share one lab, built by the first that
        needs it. Inside another such block, that block's lab."""
        if self._held is not None:
            yield
            return
        with ExitStack() as held:
            self._held = held
            try:
                yield
            finally:
                self._held, self.session = None, None

    def shared_session(self) -> LabSession:
        """The lab the live checks of the class being graded share (built on first use)."""
        if self._held is None:
            raise RuntimeError("no class is being graded: use LAB.grading()")
        if self.session is None:
            self.session = self._held.enter_context(LabSession(self.topology, **self.topology_params))
        return self.session

    @contextmanager
    def live_session(self) -> Iterator[LabSession]:
        """The class's shared lab while a class is graded, else a lab of its own for one
        submission, ended after."""
        if self._held is not None:
            yield self.shared_session()
            return
        with LabSession(self.topology, **self.topology_params) as session:
            yield session
