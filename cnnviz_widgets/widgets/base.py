"""What every view shares: the bundle, an error banner fed by exceptions, and a background job runner.

Long work runs in a worker thread started inside a copy of the caller's context (without it, Stop clicks
were lost after a page reload on ipykernel 7 with comms over subshells). Results go into traits, never
only into messages, so a view rendered later still sees them. Jobs are "latest wins": submitting a new
one cancels the running one, whose results are then dropped; a job submitted with ``queue=True`` instead
waits for the running one to finish (an analysis of the map being computed), and Stop cancels both.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import logging
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, List, Optional

import anywidget
import traitlets

from ..engine.errors import CnnvizError, SetupError, ViewError
from .encoding import WIRE_MODES, message_buffers, to_base64, wire_mode

log = logging.getLogger("cnnviz_widgets")
STATIC = Path(__file__).resolve().parent.parent / "static"
BUNDLE = STATIC / "widget.js"
STYLES = STATIC / "widget.css"
# Checked once, at import: anywidget reads the files when the class is defined. Without them the package
# still imports (engine-only use), and only creating a view fails.
BUNDLED = BUNDLE.is_file() and STYLES.is_file()


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
        if job.thread is not None and job.thread is not threading.current_thread():
            job.thread.join(EXIT_PATIENCE)


class Cancelled(Exception):
    """Raised inside a job when Stop was pressed or a newer job replaced it."""


class Job:
    """One piece of background work: its thread, its cancel flag, a progress reporter and the job it waits for."""

    def __init__(self, widget: "ViewWidget", fn: Callable[["Job"], Any], previous: Optional["Job"] = None):
        self.widget = widget
        self.fn = fn
        self.previous = previous
        self.cancelled = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def check(self) -> None:
        """Raise :class:`Cancelled` if the job should stop; call between chunks of work."""
        if self.cancelled.is_set():
            raise Cancelled()

    def progress(self, fraction: float, status: str = "") -> None:
        """Report progress (0..1) to the view; also a cancellation point."""
        self.check()
        with self.widget.hold_sync():
            self.widget.progress = float(min(max(fraction, 0.0), 1.0))
            if status:
                self.widget.status = status

    def cancel(self) -> None:
        """Cancel this job and every job it is still waiting for."""
        job: Optional[Job] = self
        while job is not None:
            job.cancelled.set()
            job = job.previous

    @property
    def current(self) -> bool:
        """Whether this is the widget's newest job; only that one reports "stopped" and clears ``busy``."""
        return self.widget._job is self

    def run(self) -> None:
        """Wait for the job this one follows, then do the work; failures go to the banner, never the kernel."""
        try:
            previous = self.previous
            if previous is not None and previous.thread is not None:
                previous.thread.join()
            self.previous = None
            self.check()
            self.fn(self)
        except Cancelled:
            if self.current:
                self.widget.status = "stopped"
        except Exception as exc:  # noqa: BLE001 - every failure is shown, none reaches the kernel
            if not self.cancelled.is_set():
                self.widget.show_error(exc)
        finally:
            if self.current:
                self.widget.busy = False


def shows_errors(method: Callable) -> Callable:
    """Decorate a trait observer or message handler so an exception lands in the error banner."""

    @functools.wraps(method)
    def wrapper(self: "ViewWidget", *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc)

    return wrapper


class ViewWidget(anywidget.AnyWidget):
    """Base of every cnnviz view: one shared ES module, rendered by the view named in ``_view``.

    Binary values (pictures, arrays) go to the browser as binary buffers, or as base64 text in the JSON state
    when the kernel runs in Colab, whose widget manager does not deliver buffers reliably. The environment
    variable ``CNNVIZ_WIRE=buffers|base64``, read when a view is created, forces either mode.
    """

    if BUNDLED:  # Paths, so that anywidget hot-reloads them under ANYWIDGET_HMR=1
        _esm = BUNDLE
        _css = STYLES
    _view = traitlets.Unicode("").tag(sync=True)

    error = traitlets.Unicode("", help="Message of the last failure, shown in the view's banner.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a background job runs.").tag(sync=True)
    progress = traitlets.Float(0.0, help="Fraction of the running job that is done.").tag(sync=True)
    status = traitlets.Unicode("", help="One line about the running or last job.").tag(sync=True)
    theme = traitlets.Enum(
        ("light", "dark"), "light", help="The page's theme as the front-end sees it (charts beside the view follow it)."
    ).tag(sync=True)
    _wire = traitlets.Enum(WIRE_MODES, read_only=True, help="How binary values travel: buffers or base64 text.").tag(
        sync=True
    )

    _job: Optional[Job] = None  # class default: close() may run from __del__ of a half-built widget

    def __new__(cls, *args: Any, **kwargs: Any) -> "ViewWidget":
        """Refuse to make a view without the bundle, before a subclass checks its arguments (or runs a model)."""
        if not BUNDLED:
            raise SetupError(
                f"the front-end bundle {BUNDLE} is missing; build it with `make setup` (or `npm run build` in js/), "
                "then restart the kernel"
            )
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, **kwargs: Any):
        self._lock = threading.Lock()
        super().__init__(**kwargs)
        self.on_msg(self._handle_message)

    # -- wire -----------------------------------------------------------------------------------------------
    @traitlets.default("_wire")
    def _default_wire(self) -> str:
        """Chosen when the view is created (its first state needs it): see :func:`encoding.wire_mode`."""
        return wire_mode()

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict:
        """The state ipywidgets sends (and saves in notebooks); in base64 mode binary values in it are markers."""
        state = super().get_state(key=key, drop_defaults=drop_defaults)
        return to_base64(state) if self._wire == "base64" else state

    # -- errors ---------------------------------------------------------------------------------------------
    def show_error(self, exc: BaseException) -> None:
        """Put ``exc`` in the banner and in the Python log; never re-raise into the kernel. Our own errors
        carry complete messages and are shown as they are; anything else (torch, the user's model) with its type."""
        text = str(exc) or type(exc).__name__
        if not isinstance(exc, CnnvizError):
            text = f"{type(exc).__name__}: {text}"
            log.error("cnnviz_widgets view failed", exc_info=exc)
        else:
            log.warning("%s", text)
        self.error = text

    # -- jobs -----------------------------------------------------------------------------------------------
    def submit(self, fn: Callable[[Job], Any], *, queue: bool = False) -> Job:
        """Run ``fn(job)`` in the background.

        Parameters
        ----------
        fn : callable
            The work; it calls ``job.progress``/``job.check`` between chunks so Stop takes effect.
        queue : bool
            ``False`` (default): cancel the running job first (its results are stale). ``True``: start after
            the running job has finished, e.g. an analysis of the map that job is computing.
        """
        with self._lock:
            previous = self._job
            job = self._job = Job(self, fn, previous)
            if previous is not None and not queue:
                previous.cancel()
            self.error = ""
            self.busy = True
            self.progress = 0.0
            self.status = ""
            thread = threading.Thread(target=job.run, name=f"cnnviz-{self._view}", daemon=True)
            job.thread = thread
            _RUNNING.add(job)
            contextvars.copy_context().run(thread.start)
        return job

    def stop(self) -> None:
        """Ask the running job (and any job it waits for) to stop at its next cancellation point."""
        job = self._job
        if job is not None:
            job.cancel()

    def wait(self, timeout: Optional[float] = 60.0) -> None:
        """Block until the current job has finished (for scripts and tests; views never need it)."""
        job = self._job
        if job is not None and job.thread is not None:
            job.thread.join(timeout)
            if job.thread.is_alive():
                raise TimeoutError(f"the job did not finish within {timeout} s")

    @shows_errors
    def _handle_message(self, _widget: Any, content: Any, buffers: Optional[List[Any]]) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "stop":
            self.stop()
        else:
            self.handle_message(*message_buffers(content, buffers))

    def handle_message(self, content: dict, buffers: List[bytes]) -> None:
        """Subclasses handle their own front-end requests (and any binary buffers sent with them) here."""
        raise ViewError(f"unknown request from the view: {content!r}")

    def close(self) -> None:
        """Stop and join the running job, then release the comm (and, in subclasses, the model)."""
        job = self._job
        if job is not None:
            job.cancel()
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(timeout=30)
        self._job = None
        super().close()
