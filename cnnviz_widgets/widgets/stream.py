"""NetStream and StreamView: a view whose Run freezes its settings, runs an engine generator in the background and
streams its partial results to the browser, paced by the browser's acknowledgements, then shows the final one and a
summary. A StreamView also has a photo (:class:`~.photo.PhotoView`); a NetStream only the network (ClassVisualizer).

A subclass says how: :meth:`freeze` (the settings as one frozen dataclass, checked), :meth:`updates` (the engine's
generator of :class:`~cnnviz_widgets.engine.progress.Update`\\ s), :meth:`present` (the traits that show an update;
``None`` clears them) and :meth:`summary` (the status line at the end).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any, ClassVar, Dict, Generic, Iterator, Optional, TypeVar

import traitlets

from ..engine.errors import ArgumentTypeError
from ..engine.progress import Update
from .frames import FramePacer
from .jobs import Job
from .photo import NetView, PhotoView
from .requests import Request, on

S = TypeVar("S")


def check_start(start: Any) -> None:
    """Raise unless ``start`` (a stream view's "run at once" argument) is True or False."""
    if not isinstance(start, bool):
        raise ArgumentTypeError(f"start must be True or False, got {start!r}")


def eta_text(seconds: float) -> str:
    """A remaining time the way a status line says it: ``"< 1 s"``, ``"42 s"``, ``"3 min 05 s"``."""
    if seconds < 1:
        return "< 1 s"
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


class NetStream(NetView, Generic[S]):
    """A view of a network that streams an engine generator's results (see the module's docstring); a view with a
    photo is a :class:`StreamView`.

    ``FRAME_INTERVAL`` is the least time between two partial results (at most 25 a second, so that a picture keeps
    up with an optimiser's 10-20 steps a second); ``FRAMES_IN_FLIGHT`` how many may be unacknowledged by the browser
    when the next is due (two: the round trip of one overlaps the interval before the next, instead of adding to
    it); ``ACK_PATIENCE`` how long after a partial result the next is sent anyway, unacknowledged (a closed or
    absent view gets one per ``ACK_PATIENCE``). Partial results that are not due are skipped, never queued.
    """

    FRAME_INTERVAL: ClassVar[float] = 0.04
    ACK_PATIENCE: ClassVar[float] = 1.0
    FRAMES_IN_FLIGHT: ClassVar[int] = 2

    frame_seq = traitlets.Int(
        0, help="Number of the latest partial result, which the view acknowledges once drawn."
    ).tag(sync=True)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._pacer = FramePacer(self.FRAME_INTERVAL, self.ACK_PATIENCE, in_flight=self.FRAMES_IN_FLIGHT)

    # -- what a subclass says -------------------------------------------------------------------------------
    def freeze(self) -> S:
        """The current settings, checked and frozen (the traits may change while the job runs)."""
        raise NotImplementedError

    def updates(self, settings: S) -> Iterator[Update[Any]]:
        """The engine's generator for ``settings``."""
        raise NotImplementedError

    def present(
        self, settings: S, update: Optional[Update[Any]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """The traits that show ``update``, partial while the run goes on, ``final`` when it has ended (done, stopped
        or failed; ``update`` is ``None`` if it ended before the first one); ``None`` and not ``final``: a run starts.
        The traits are set in the order given."""
        raise NotImplementedError

    def summary(self, settings: S, update: Optional[Update[Any]], outcome: str, seconds: float) -> str:
        """The status line when the run ends: ``outcome`` is ``"done"``, ``"stopped"`` or ``"failed"``."""
        raise NotImplementedError

    # -- what it gets -----------------------------------------------------------------------------------------
    def run(self) -> None:
        """Start a run with the current settings in the background (bad settings raise here, from the view's Run:
        in the banner); :meth:`stop` ends it at its next update, :meth:`wait` blocks until it is over."""
        settings = self.freeze()
        updates = self.updates(settings)
        self.submit(lambda job: self.stream(job, settings, updates, fresh=True))

    @on("run")
    def _on_run(self, _request: Request) -> None:
        self.run()

    @on("ack")
    def _on_ack(self, request: Request) -> None:
        self._pacer.ack(request.whole("seq"))

    def stream(self, job: Job, settings: S, updates: Iterator[Update[Any]], *, fresh: bool) -> None:
        """Drive ``updates``: clear the old result (``fresh``), publish partial results when the browser is ready for
        one, and always the last result with the summary, also after Stop or a failure."""
        begin = time.perf_counter()
        last: Optional[Update[Any]] = None
        outcome = "failed"
        try:
            if fresh:
                self.publish(job, **self.present(settings, None, 0.0))
            for update in updates:
                last = update
                if job.cancelled.is_set():
                    break
                if update.fraction < 1 and self._pacer.due():
                    seconds = time.perf_counter() - begin
                    self.publish(
                        job, frame_seq=self._pacer.sent(), progress=update.fraction,
                        **self.present(settings, update, seconds),
                    )  # fmt: skip
            outcome = "stopped" if job.cancelled.is_set() or last is None or last.fraction < 1 else "done"
        finally:
            if isinstance(updates, Generator):
                updates.close()
            seconds = time.perf_counter() - begin
            shown = self.present(settings, last, seconds, final=True)
            progress = last.fraction if last is not None else 0.0
            status = self.summary(settings, last, outcome, seconds)
            self.publish(job, **{**shown, "progress": progress, "status": status})


class StreamView(PhotoView, NetStream[S]):
    """A photo view that streams an engine generator's results: :class:`NetStream` with a photo and its top-5."""
