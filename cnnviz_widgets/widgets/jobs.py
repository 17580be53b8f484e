"""Background jobs of a view: a worker thread each, cancelled by Stop or by a newer job, joined at exit.

A job's thread starts inside a copy of the caller's context (without it, Stop clicks were lost after a page reload
on ipykernel 7 with comms over subshells). Jobs are "latest wins": a new one cancels the running one, whose results
are then dropped; a job started with ``queue=True`` instead waits for the running one to finish (an analysis of the
map being computed), and Stop cancels both.
"""

from __future__ import annotations

import atexit
import contextvars
import threading
import weakref
from collections import OrderedDict
from collections.abc import Generator
from typing import Any, Callable, Hashable, Iterator, Optional, Protocol, TypeVar

from ..engine.progress import Update

T = TypeVar("T")


class Host(Protocol):
    """What a job reports to: the view that started it."""

    _job: Optional["Job"]

    def report(self, job: "Job", fraction: float, status: str) -> None: ...

    def finished(self, job: "Job", stopped: bool, error: Optional[BaseException]) -> None: ...


_RUNNING: "weakref.WeakSet[Job]" = weakref.WeakSet()
"""Jobs started and not yet collected: stopped and joined when the interpreter exits."""
EXIT_PATIENCE = 10.0
"""Seconds each job may take to reach its next cancellation point when the interpreter exits."""


@atexit.register
def _stop_all() -> None:
    """Cancel and join every running job: a worker thread still inside torch while the interpreter tears down
    aborts the process ("terminate called without an active exception", exit 134) when a script ends."""
    jobs = list(_RUNNING)
    for job in jobs:
        job.cancel()
    for job in jobs:
        job.join(EXIT_PATIENCE)


class Cancelled(Exception):
    """Raised inside a job when Stop was pressed or a newer job replaced it."""


class Job:
    """One piece of background work: its thread, its cancel flag, a progress reporter and the job it waits for."""

    def __init__(self, host: Host, fn: Callable[["Job"], Any], previous: Optional["Job"] = None):
        self.host = host
        self.fn = fn
        self.previous = previous
        self.cancelled = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.started = threading.Event()
        """Set once the thread runs: ``wait()`` may meet a job that ``submit`` has made and not yet started."""

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job should stop; call between chunks of work."""
        if self.cancelled.is_set():
            raise Cancelled()

    def progress(self, fraction: float, status: str = "") -> None:
        """Report progress (0..1) to the view; also a cancellation point."""
        self.check()
        self.host.report(self, float(min(max(fraction, 0.0), 1.0)), status)

    def follow(self, updates: Iterator[Update[T]], low: float = 0.0, high: float = 1.0) -> T:
        """Drive an engine generator to its final result, reporting its progress as ``low..high`` of the job's;
        Stop closes it at its next update (raising :class:`Cancelled`)."""
        try:
            for update in updates:
                self.progress(low + update.fraction * (high - low))
                if update.fraction >= 1 and update.result is not None:
                    return update.result
        finally:
            if isinstance(updates, Generator):
                updates.close()
        raise RuntimeError("the engine call ended without a final result")

    def cancel(self) -> None:
        """Cancel this job and every job it is still waiting for."""
        job: Optional[Job] = self
        while job is not None:
            job.cancelled.set()
            job = job.previous

    @property
    def current(self) -> bool:
        """Whether this is the view's newest job; only that one reports "stopped" and clears ``busy``."""
        return self.host._job is self

    @property
    def alive(self) -> bool:
        """Whether the job's thread is still running."""
        return self.thread is not None and self.thread.is_alive()

    def join(self, timeout: Optional[float]) -> bool:
        """Wait for the thread (not from itself), starting with its start; whether it has finished."""
        if not self.started.wait(timeout):
            return False
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def start(self, name: str) -> None:
        """Start the worker thread (inside a copy of the caller's context, see the module's docstring)."""
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        _RUNNING.add(self)
        contextvars.copy_context().run(self.thread.start)
        self.started.set()

    def run(self) -> None:
        """Wait for the job this one follows, then do the work; failures go to the view, never the kernel."""
        error: Optional[BaseException] = None
        stopped = False
        try:
            previous = self.previous
            if previous is not None:
                previous.join(None)
            self.previous = None
            self.check()
            self.fn(self)
        except Cancelled:
            stopped = True
        except Exception as exc:  # noqa: BLE001 - every failure is shown, none reaches the kernel
            if not self.cancelled.is_set():
                error = exc
        finally:
            self.host.finished(self, stopped, error)


class Results:
    """What a view's jobs computed, by everything each result depends on: looked up before computing again, kept
    only when the view's current job computed it (a replaced job's may be stale), the ``size`` most recently used."""

    def __init__(self, size: int):
        self.size = size
        self._lock = threading.Lock()
        self._kept: "OrderedDict[Hashable, Any]" = OrderedDict()

    def get(self, job: Job, key: Hashable, compute: Callable[[], T]) -> T:
        """The result for ``key``: the kept one, or ``compute()`` (then kept if ``job`` is current)."""
        found = self._kept.get(key)
        if found is None:
            found = compute()
        with self._lock:
            if job.current:
                self._kept[key] = found
                self._kept.move_to_end(key)
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        return found

    def clear(self) -> None:
        """Forget every result (their inputs are gone: a new photo, new checkpoints, a closed view)."""
        with self._lock:
            self._kept = OrderedDict()
