"""
A bounded pool of daemon threads, for the runner's storage checks and calls.

Daemon threads, so that a task never waits for a call still hanging once it was cancelled. Each
runs in a copy of the context of the thread that made the pool, as a job would run there (so a
request's span nests under the task's, see :mod:`airflow_provider_vyro.tracing`). Jobs are taken
in order; a pool may start slowly (its first job alone), and may be stopped (no job
is taken after that; the jobs running finish).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


class Pool:
    """
    Daemon threads taking jobs in order until told to stop; each result goes to one queue.

    A job's result, or the exception it raised, is put on :attr:`results` as ``(index, result)``.

    :param jobs: the jobs, called without arguments, taken in order.
    :param workers: the most threads (no more than there are jobs).
    :param name: the threads' name prefix.
    :param slow_start: only the first job may be taken until :meth:`open` (or :meth:`stop`).
    :param stops: tells whether a result stops the pool: the worker that got it stops the pool
        before it hands the result over, so no worker takes a job after it (not even its own next).
    :param results: the queue to put results on (another pool's, to wait on both); default a new one.
    :param first_index: the index of the first job on :attr:`results`.
    """

    def __init__(
        self,
        jobs: Sequence[Callable[[], Any]],
        workers: int,
        name: str,
        *,
        slow_start: bool,
        stops: Callable[[Any], bool] | None = None,
        results: queue.Queue[tuple[int, Any]] | None = None,
        first_index: int = 0,
    ) -> None:
        self._jobs = jobs
        self._stops = stops
        self._lock = threading.Lock()
        self._next = 0
        self._first_index = first_index
        self.stopped = threading.Event()
        self._opened = threading.Event()
        if not slow_start:
            self._opened.set()
        self.results: queue.Queue[tuple[int, Any]] = queue.Queue() if results is None else results
        for n in range(min(workers, len(jobs))):
            context = contextvars.copy_context()
            threading.Thread(target=context.run, args=(self._work,), name=f"{name}-{n}", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if self.stopped.is_set() or self._next >= len(self._jobs):
                    return
                may_take = self._opened.is_set() or self._next == 0
                if may_take:
                    index = self._next
                    self._next += 1
            if not may_take:
                self._opened.wait()
                continue
            try:
                result = self._jobs[index]()
            except BaseException as exc:
                result = exc
            if self._stops is not None and self._stops(result):
                self.stop()
            self.results.put((self._first_index + index, result))

    @property
    def started(self) -> int:
        """Jobs taken so far (final once :attr:`stopped` is set)."""
        with self._lock:
            return self._next

    def open(self) -> None:
        """Let every worker take jobs (once the first job's result is in)."""
        self._opened.set()

    def stop(self) -> None:
        """Take no further job."""
        with self._lock:
            self.stopped.set()
        self._opened.set()

    def finished_all(self, finished: int) -> bool:
        """Whether every job taken (or every job, if not stopped) has a result."""
        return finished >= (self.started if self.stopped.is_set() else len(self._jobs))


__all__ = ["Pool"]
