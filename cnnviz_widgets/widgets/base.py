"""What every view shares: the bundle, the error banner fed by exceptions, background jobs with progress and status,
requests from the front-end dispatched to ``@on`` handlers, and settings declared once as a schema.

Results go into traits, never only into messages, so a view rendered later still sees them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Dict, List, Mapping, Optional, Tuple

import anywidget
import traitlets

from ..engine.errors import ArgumentTypeError, CnnvizError, SetupError, ViewError
from ..engine.schema import Option, describe
from .encoding import MESSAGE_BUFFERS, WIRE_MODES, message_buffers, to_base64, wire_mode
from .jobs import Job
from .requests import Request, handlers, on
from .settings import Setting

if TYPE_CHECKING:
    import ipywidgets

    from .charts import Charts

log = logging.getLogger("cnnviz_widgets")
STATIC = Path(__file__).resolve().parent.parent / "static"
BUNDLE = STATIC / "widget.js"
STYLES = STATIC / "widget.css"
# Checked once, at import: anywidget reads the files when the class is defined. Without them the package
# still imports (engine-only use), and only creating a view fails.
BUNDLED = BUNDLE.is_file() and STYLES.is_file()


def shows_errors(method: Callable) -> Callable:
    """Decorate a trait observer or request handler so an exception lands in the error banner."""

    @functools.wraps(method)
    def wrapper(self: "ViewWidget", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc)

    return wrapper


class ViewWidget(anywidget.AnyWidget):
    """Base of every cnnviz view: one shared ES module, rendered by the view named in ``_view``.

    A subclass declares its settings as engine :class:`Option`\\ s in ``SETTINGS`` (each becomes a synced trait
    checked by its option, and the ``schema`` trait the front-end draws the form from) and handles requests with
    methods marked ``@on("run")`` etc. Binary values (pictures, arrays) go to the browser as binary buffers, or as
    base64 text in the JSON state when the kernel runs in Colab, whose widget manager does not deliver buffers
    reliably; the environment variable ``CNNVIZ_WIRE=buffers|base64``, read when a view is created, forces either.
    """

    if BUNDLED:  # Paths, so that anywidget hot-reloads them under ANYWIDGET_HMR=1
        _esm = BUNDLE
        _css = STYLES
    _view = traitlets.Unicode("").tag(sync=True)
    SETTINGS: ClassVar[Tuple[Option, ...]] = ()
    CHARTS: ClassVar[str] = ""
    """Name of the class in :mod:`.charts` that draws the view's traits beside it (none: no :meth:`dashboard`)."""
    _handlers: ClassVar[Dict[str, Callable[..., Any]]] = {}

    error = traitlets.Unicode("", help="Message of the last failure, shown in the view's banner.").tag(sync=True)
    busy = traitlets.Bool(False, help="True while a background job runs.").tag(sync=True)
    progress = traitlets.Float(0.0, help="Fraction of the running job that is done.").tag(sync=True)
    status = traitlets.Unicode("", help="One line about the running or last job.").tag(sync=True)
    theme = traitlets.Enum(
        ("light", "dark"), "light", help="The page's theme as the front-end sees it (charts beside the view follow it)."
    ).tag(sync=True)
    schema = traitlets.List(traitlets.Dict(), read_only=True, help="The settings form: Option.describe() each.").tag(
        sync=True
    )
    _wire = traitlets.Enum(WIRE_MODES, read_only=True, help="How binary values travel: buffers or base64 text.").tag(
        sync=True
    )

    _job: Optional[Job] = None  # class defaults: close() may run from __del__ of a half-built widget
    _charts: Optional["Charts"] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Make a :class:`Setting` trait of each option the class declares (unless its body defines that trait
        itself, to check it against the view's state), and collect its request handlers."""
        super().__init_subclass__(**kwargs)
        for option in cls.__dict__.get("SETTINGS", ()):
            if isinstance(cls.__dict__.get(option.name), traitlets.TraitType):
                continue
            trait = Setting(option)
            setattr(cls, option.name, trait)
            trait.class_init(cls, option.name)  # the metaclass finishes the trait after this hook
        cls._handlers = handlers(cls)

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
        self.set_trait("schema", describe(self.SETTINGS))
        self.on_msg(self._receive)

    # -- wire -----------------------------------------------------------------------------------------------
    @traitlets.default("_wire")
    def _default_wire(self) -> str:
        """Chosen when the view is created (its first state needs it): see :func:`encoding.wire_mode`."""
        return wire_mode()

    def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict:
        """The state ipywidgets sends (and saves in notebooks); in base64 mode binary values in it are markers."""
        state = super().get_state(key=key, drop_defaults=drop_defaults)
        return to_base64(state) if self._wire == "base64" else state

    def set_state(self, sync_data: dict) -> None:
        """Take the front-end's changes; a value a setting refuses goes to the banner and the control shows the
        value in use again."""
        try:
            super().set_state(sync_data)
        except Exception as exc:  # noqa: BLE001 - a bad value from a control must not reach the kernel
            self.show_error(exc)
            self.send_state(list(sync_data))

    @classmethod
    def check_names(cls, settings: Mapping[str, Any]) -> None:
        """Raise naming the view's settings unless each name in ``settings`` (a constructor's ``**settings``) is one."""
        unknown = sorted(set(settings) - {o.name for o in cls.SETTINGS})
        if unknown:
            names = ", ".join(o.name for o in cls.SETTINGS)
            raise ArgumentTypeError(f"unknown setting(s) {', '.join(unknown)}; the settings are: {names}")

    def setting_values(self) -> Dict[str, Any]:
        """The declared settings' current values, by name."""
        return {o.name: getattr(self, o.name) for o in self.SETTINGS}

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
            job.start(f"cnnviz-{self._view}")
        return job

    def publish(self, job: Job, **traits: Any) -> bool:
        """Set ``traits`` in one sync unless a newer job has replaced ``job`` (whose results are then stale)."""
        with self._lock:
            if not job.current:
                return False
            with self.hold_sync():
                for name, value in traits.items():
                    setattr(self, name, value)
        return True

    def report(self, job: Job, fraction: float, status: str) -> None:
        """A job's progress (see :meth:`Job.progress`)."""
        with self.hold_sync():
            self.progress = fraction
            if status:
                self.status = status

    def finished(self, job: Job, stopped: bool, error: Optional[BaseException]) -> None:
        """A job has ended: its failure in the banner; if it is the newest, "stopped" and no longer busy."""
        if error is not None:
            self.show_error(error)
        if job.current:
            with self.hold_sync():
                if stopped:
                    self.status = "stopped"
                self.busy = False

    def stop(self) -> None:
        """Ask the running job (and any job it waits for) to stop at its next cancellation point."""
        job = self._job
        if job is not None:
            job.cancel()

    def wait(self, timeout: Optional[float] = 60.0) -> None:
        """Block until the current job has finished, and any job it started as it ended (a stopped scan shows what
        it has): for scripts and tests; views never need it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self._job
        while job is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not job.join(left):
                raise TimeoutError(f"the job did not finish within {timeout} s")
            if self._job is job:
                return
            job = self._job

    # -- charts -------------------------------------------------------------------------------------------------
    def _chart_set(self) -> "Charts":
        """The view's plotly charts (see ``CHARTS``), made on first use (plotly loads then) and closed with the view."""
        if self._charts is None:
            if not self.CHARTS:
                raise ViewError(f"{type(self).__name__} has no charts")
            from . import charts

            self._charts = getattr(charts, self.CHARTS)(self)
        return self._charts

    def dashboard(self) -> "ipywidgets.HBox":
        """The view with its charts beside it where the cell is wide enough, below it where it is not."""
        from .charts import dashboard

        return dashboard(self, self._chart_set().widget)

    # -- requests -------------------------------------------------------------------------------------------
    @shows_errors
    def _receive(self, _widget: Any, content: Any, buffers: Optional[List[Any]]) -> None:
        """Dispatch a front-end request to the handler marked ``@on`` its type."""
        content, attached = message_buffers(content, buffers)
        kind = content.get("type") if isinstance(content, dict) else None
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise ViewError(f"unknown request {content!r}; this view handles: {', '.join(sorted(self._handlers))}")
        handler(self, Request(str(kind), {k: v for k, v in content.items() if k != "type"}, attached))

    def answer(self, content: Dict[str, Any], *attachments: bytes) -> None:
        """Send the page one message with binary attachments, e.g. a file it asked for: as binary buffers or, in base64
        mode, as markers in the content's ``"$buffers"`` list (as the page sends its own). Unlike a trait's value, it
        is not kept in the view's state, nor saved in the notebook."""
        data = [bytes(a) for a in attachments]
        if data and self._wire == "base64":
            self.send({**content, MESSAGE_BUFFERS: to_base64(data)})
        else:
            self.send(content, buffers=data or None)

    @on("stop")
    def _on_stop(self, _request: Request) -> None:
        self.stop()

    def close(self) -> None:
        """Stop and join the running job, then release the comm (and, in subclasses, the model)."""
        job = self._job
        if job is not None:
            job.cancel()
            job.join(30)
        self._job = None
        charts, self._charts = self._charts, None  # closing twice (close(), then __del__) is harmless
        if charts is not None:
            charts.close()
        super().close()


ViewWidget._handlers = handlers(ViewWidget)
