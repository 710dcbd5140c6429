"""A fixed set of worker threads with a bounded queue of pending jobs.

The interception device's decisions (its own connection to a server, forging a leaf)
run here, off the packet loop. ``submit`` never blocks: when the queue is full it says
so, and the device passes the flow instead (fail open) rather than queue work without
bound behind a flood.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class Pool:
    def __init__(self, workers: int, pending: int, on_error: Callable[[BaseException], None]) -> None:
        self.jobs: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.Queue(pending)
        self.on_error = on_error
        self.threads = [threading.Thread(target=self._work, daemon=True, name=f"worker-{i}") for i in range(workers)]
        for t in self.threads:
            t.start()

    def submit(self, fn: Callable[..., None], *args: Any) -> bool:
        """Queue ``fn(*args)``; False (and nothing queued) when the queue is full."""
        try:
            self.jobs.put_nowait((fn, args))
        except queue.Full:
            return False
        return True

    def pending(self) -> int:
        return self.jobs.qsize()

    def _work(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, args = job
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - a job's failure must not end its worker
                self.on_error(exc)

    def stop(self, timeout: float = 1.0) -> None:
        """Drop the jobs not started, ask every worker to end, wait up to ``timeout`` each."""
        while True:
            try:
                self.jobs.get_nowait()
            except queue.Empty:
                break
        for _ in self.threads:
            self.jobs.put(None)
        for t in self.threads:
            t.join(timeout)
