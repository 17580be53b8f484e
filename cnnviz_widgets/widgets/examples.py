"""Dataset examples beside a feature visualisation, as Distill's "Feature Visualization" (Olah et al. 2017) shows
them: the dataset patches that excite the visualised channel most, taken from the model's latest scan
(:func:`~..engine.scan.latest_scan`: :func:`cw.scan <..engine.scan.scan>` or a DatasetExplorer of the same model).

The patches are cropped (no projection: a few image reads) in a :class:`Lane` of jobs of their own, beside the view's
main job: choosing another unit never stops, or waits for, the gradient ascent that is running.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, Optional, Tuple

import traitlets

from ..engine.errors import CnnvizError
from ..engine.model import Net
from ..engine.patches import top_patches
from ..engine.scan import Scan, latest_scan
from .base import ViewWidget, shows_errors
from .encoding import png_bytes
from .jobs import Job
from .objective import ObjectiveView
from .sheets import enlarged

SIDE = 64
"""Least side in pixels of an example (smaller crops are enlarged with nearest neighbour: the pixels stay sharp)."""
NO_SCAN = "scan a dataset with cw.scan(net, images) or cw.DatasetExplorer to see the images that excite this unit"
"""What the examples say when the model has no scan."""
KINDS = ("channel", "neuron")
"""The objective kinds that have dataset examples: one channel of a layer (a neuron shows its channel's)."""


class Lane:
    """A line of background jobs beside a view's main one: a new job cancels the running one (latest wins), and
    they never touch the view's ``busy``, ``progress`` or ``status``; a failure goes to the view's banner."""

    def __init__(self, view: ViewWidget):
        self._view = view
        self._job: Optional[Job] = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[Job], Any]) -> None:
        """Run ``fn(job)`` in the background once the job it replaces has stopped."""
        with self._lock:
            previous = self._job
            job = self._job = Job(self, fn, previous)
            if previous is not None:
                previous.cancel()
            job.start(f"cnnviz-{self._view._view}-lane")

    def publish(self, job: Optional[Job], **traits: Any) -> None:
        """Set the view's ``traits`` unless a newer job has replaced ``job`` (``None``: from the caller's thread,
        replacing whatever the lane was doing)."""
        with self._lock, self._view._lock:  # the view's lock too: its own jobs publish under it
            if job is None and self._job is not None:
                self._job.cancel()
                self._job = None
            if job is self._job:
                with self._view.hold_sync():
                    for name, value in traits.items():
                        setattr(self._view, name, value)

    def report(self, job: Job, fraction: float, status: str) -> None:
        """Progress is not shown: the view's progress bar belongs to its main job."""

    def finished(self, job: Job, stopped: bool, error: Optional[BaseException]) -> None:
        if error is not None:
            self._view.show_error(error)

    def close(self, timeout: Optional[float] = 30.0) -> None:
        """Cancel the running job and wait for it."""
        job = self._job
        if job is not None:
            job.cancel()
            job.join(timeout)

    def wait(self, timeout: Optional[float]) -> None:
        """Block until the running job has finished."""
        job = self._job
        if job is not None and not job.join(timeout):
            raise TimeoutError(f"the dataset examples did not finish within {timeout} s")


def examples(net: Net, scan: Scan, layer: str, unit: int) -> Dict[str, Any]:
    """The ``examples`` trait for ``unit`` of ``layer``: its top patches in ``scan``, cropped and enlarged to at
    least :data:`SIDE` px, with a note; a note alone for a unit the scan cannot show (its message)."""
    try:
        found = top_patches(net, scan, layer, unit, project=False)
    except CnnvizError as exc:
        return {"note": str(exc)}
    scanned = "" if scan.complete else f" (a partial scan: {scan.done} of {len(scan.names)} images)"
    note = (
        f"the dataset patches that excite {layer}:{unit} most, strongest first{scanned}"
        if found
        else f"{layer}:{unit} does not fire on any scanned image{scanned}"
    )
    return {
        "layer": layer,
        "unit": unit,
        "items": [{"item": p.index, "name": p.name, "value": p.value} for p in found],
        "crops": [png_bytes(enlarged(p.crop, SIDE)) for p in found],
        "note": note,
    }


class ExamplesView(ObjectiveView):
    """The dataset-examples half of the FeatureVisualizer: the ``examples`` trait, kept up to date with the unit,
    layer and kind, and with the model's latest scan at each Start and :meth:`refresh_examples`."""

    examples = traitlets.Dict(
        help="The unit's top patches in the model's latest scan: {layer, unit, items: [{item, name, value}], "
        "crops: [PNG], note}; {note} alone when there are none to show (no scan, a layer it did not scan, an "
        "objective that is not a channel or neuron)."
    ).tag(sync=True)

    _lane: Optional[Lane] = None  # class default: close() may run from __del__ of a half-built widget
    _shown: Tuple[Any, ...] = ()
    """What the examples shown (or being cropped) are of: whether the kind has any, the scan's id and progress, the
    layer and the unit."""
    _scan: Optional[Scan] = None
    """The scan they are of, held so that its id stays its own."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.observe(self._on_unit, names=["kind", "layer", "unit"])

    def start_examples(self) -> None:
        """Show the examples from now on (once the view is made: while its constructor sets traits, a lane job would
        sync traits beside it)."""
        self._lane = Lane(self)
        self.refresh_examples()

    def refresh_examples(self) -> None:
        """Show the current unit's top patches in the model's latest scan (one made, or grown, since the view last
        looked: Start looks too, as does choosing another unit, layer or kind)."""
        lane, net = self._lane, self.net
        if lane is None or net is None:
            return
        scan = latest_scan(net)
        kind, layer, unit = self.kind, self.layer, self.unit
        key = (kind in KINDS, id(scan), scan.done if scan is not None else 0, layer, unit)
        if key == self._shown:
            return
        self._shown, self._scan = key, scan
        if kind not in KINDS:
            lane.publish(None, examples={"note": "dataset examples are shown for a channel or neuron objective"})
        elif scan is None:
            lane.publish(None, examples={"note": NO_SCAN})
        elif layer not in scan.layers:
            note = (
                f"the latest scan of this model has no patches of layer {layer!r} (it scanned "
                f"{', '.join(scan.layers) or 'none'}); scan it with cw.scan(net, images, [{layer!r}]) or "
                "cw.DatasetExplorer to see the images that excite this unit"
            )
            lane.publish(None, examples={"note": note})
        else:
            lane.submit(lambda job: lane.publish(job, examples=examples(net, scan, layer, unit)))

    @shows_errors
    def _on_unit(self, _change: Any) -> None:
        self.refresh_examples()

    def run(self) -> None:
        self.refresh_examples()
        super().run()

    def wait(self, timeout: Optional[float] = 60.0) -> None:
        """Block until the current job, and the dataset examples being cropped, have finished."""
        super().wait(timeout)
        if self._lane is not None:
            self._lane.wait(timeout)

    def close(self) -> None:
        lane, self._lane = self._lane, None
        if lane is not None:
            lane.close()
        super().close()
