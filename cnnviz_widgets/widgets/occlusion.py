"""OcclusionExplorer: cover one window of the photo at a time and map how much the class score drops.

The map fills in on the canvas chunk by chunk while the job runs (the engine evaluates a coarse grid first, and
the view shows its preview: a blocky full map after the first chunks, refined as windows are added),
with progress and an ETA in the status line; Stop keeps the partial map. Clicking the map shows the occluded
image for the window there beside the original, with the probability the model gave each.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
import traitlets
from PIL import Image

from ..engine.errors import ArgumentTypeError
from ..engine.images import ImageError, ImageLike
from ..engine.model import Prediction
from ..engine.occlusion import BASELINES, Grid, Occlusion, OcclusionError, make_fill, occlude_window, occlusion_steps
from ..engine.replica import private
from .base import Job, shows_errors
from .encoding import encode_array, png_bytes
from .photo import PhotoView, as_net, check_target, prepare

FRAME_INTERVAL = 0.1
"""Least time between two partial maps sent to the view (about 10 frames/s); the last one always goes."""

ViewBaseline = Union[float, str]
"""What the view's baseline field holds: a number or a name (the engine also takes image tensors; traits cannot)."""


class Settings(NamedTuple):
    """Everything one run depends on, frozen when it starts (the traits may change meanwhile)."""

    image_id: int
    x: torch.Tensor
    target: int
    window: int
    stride: int
    baseline: ViewBaseline


class Shown(NamedTuple):
    """The run whose map the view shows, and its latest (partial) result: what a click on the map refers to."""

    settings: Settings
    result: Occlusion


def eta_text(seconds: float) -> str:
    """A remaining time the way a status line says it: ``"< 1 s"``, ``"42 s"``, ``"3 min 05 s"``."""
    if seconds < 1:
        return "< 1 s"
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def window_at(grid: Grid, y: int, x: int) -> Tuple[int, int]:
    """The window covering pixel ``(y, x)`` whose centre is nearest to it: what a click on the map selects.

    Parameters
    ----------
    grid : Grid
        The occlusion run's window layout.
    y, x : int
        Pixel row and column in the model's input picture.
    """
    height, width = grid.size
    if not (0 <= y < height and 0 <= x < width):
        raise OcclusionError(
            f"pixel ({y}, {x}) is outside the {height}x{width} picture (y 0..{height - 1}, x 0..{width - 1})"
        )

    def nearest(p: int, axis: int) -> int:
        def distance(k: int) -> Tuple[bool, float]:
            box = grid.box(k, k)[axis]
            return not box.start <= p < box.stop, abs((box.start + box.stop) / 2 - (p + 0.5))

        return min(range(grid.counts[axis]), key=distance)

    return nearest(y, 0), nearest(x, 1)


def check_settings(size: Tuple[int, int], window: Any, stride: Any, baseline: Any) -> None:
    """Raise the engine's :class:`OcclusionError` for a window, stride or baseline the view cannot run.

    Parameters
    ----------
    size : (int, int)
        Height and width of the model's input picture.
    window, stride : int
        Square window side and step in pixels.
    baseline : float or str
        A number in the normalised input space (0 is the dataset mean colour), or one of ``BASELINES``.
    """
    for name, value in (("window", window), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise OcclusionError(
                f"{name} must be a whole number of pixels (the view uses square windows), got {value!r}"
            )
    if isinstance(baseline, bool) or not isinstance(baseline, (int, float, str)):
        raise OcclusionError(f"baseline must be a number or one of {', '.join(BASELINES)}, got {baseline!r}")
    Grid.make(size, window, stride)
    make_fill(torch.zeros(1, 3, *size), baseline)


def class_prob(model: torch.nn.Module, x: torch.Tensor, target: int) -> float:
    """The softmax probability of class ``target`` for one normalised image ``x`` (the model left as it was)."""
    with private(model) as twin, torch.no_grad():
        logits = twin(x)
    return float(F.softmax(logits.double(), dim=1)[0, target])


class OcclusionExplorer(PhotoView):
    """Which parts of the photo does the class depend on? Slide a window of ``baseline`` over the image and
    map the drop of the class score (Zeiler & Fergus 2014); click the map to see one occluded image.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    image : PIL image, array, tensor, path or bytes
        The photo to explain.
    window : int
        Side of the square window in pixels of the model's input.
    stride : int
        Step between windows, 1..``window``.
    baseline : float or str
        What the window shows: a number in the normalised input space (0 is the dataset mean colour),
        ``"mean"`` (the image's mean colour) or ``"blur"`` (a blurred copy of the image).
    target : int, optional
        Class to explain; defaults to the top prediction.
    opacity : float
        Initial heat-map opacity (0..1); the slider then changes it in the browser only.
    colormap : str
        Initial colour map: ``inferno``, ``viridis``, ``jet`` or ``gray``.
    start : bool
        Start the first run at once (``False``: wait for Run or :meth:`run`).
    """

    _view = traitlets.Unicode("occlusion").tag(sync=True)

    window = traitlets.Int(16, help="Side of the square occluding window in pixels.").tag(sync=True)
    stride = traitlets.Int(8, help="Step between windows in pixels.").tag(sync=True)
    baseline = traitlets.Union(
        [traitlets.Float(), traitlets.Unicode()],
        default_value=0.0,
        help="Fill of the window: a number, 'mean' or 'blur'.",
    ).tag(sync=True)
    baselines = traitlets.List(traitlets.Unicode(), read_only=True, help="Named baselines besides a number.").tag(
        sync=True
    )
    heatmap = traitlets.Dict(
        help="Score drop per pixel so far as {dtype, shape, buffer}, aligned with `image`: the engine's preview, whose "
        "pixels no evaluated window covers yet take the nearest evaluated window's drop."
    ).tag(sync=True)
    done = traitlets.Int(0, help="Windows evaluated in the shown map.").tag(sync=True)
    total = traitlets.Int(0, help="Windows in the shown map's grid.").tag(sync=True)
    occluded = traitlets.Dict(
        help="The clicked window: {i, j, box: [top, bottom, left, right], image: PNG bytes, prob, clean_prob, target, label}."
    ).tag(sync=True)

    _shown: Optional[Shown] = None  # class default: close() may run from __del__ of a half-built widget

    def __init__(
        self,
        net: Any,
        image: ImageLike,
        *,
        window: int = 16,
        stride: int = 8,
        baseline: ViewBaseline = 0.0,
        target: Optional[int] = None,
        opacity: float = 0.5,
        colormap: str = "inferno",
        start: bool = True,
    ):
        net = as_net(net)
        size = net.preprocess.size
        check_settings((size, size), window, stride, baseline)
        if not isinstance(start, bool):
            raise ArgumentTypeError(f"start must be True or False, got {start!r}")
        picture = prepare(net, image)
        if target is not None:
            check_target(net, target)
        super().__init__(net, opacity=opacity, colormap=colormap)
        self.set_trait("baselines", list(BASELINES))
        with self.hold_trait_notifications():
            self.window, self.stride, self.baseline = window, stride, baseline
        self.observe(self._on_settings, names=["window", "stride", "baseline", "target"])
        self._show(picture, target)
        if start:
            self.run()

    # -- public ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Compute the occlusion map for the current settings in the background, publishing it as it fills in.

        A bad window, stride or baseline raises the engine's message (from the view's Run: in the banner) and
        starts nothing;
        :meth:`stop` (or the view's Stop) keeps the partial map, :meth:`wait` blocks until the run is over.
        """
        settings = self._settings()
        self.submit(functools.partial(self._occlude, settings))

    def show_window(self, i: int, j: int) -> None:
        """Put the image with window ``(i, j)`` occluded, and the class probability it gets, into ``occluded``.

        Parameters
        ----------
        i, j : int
            Row and column of the window in the shown map's grid.
        """
        shown = self._shown
        if shown is None:
            raise OcclusionError("there is no occlusion map yet; press Run first")
        settings, result = shown
        occluded = occlude_window(settings.x, result.grid, i, j, settings.baseline)
        ys, xs = result.grid.box(i, j)
        prob = float(result.probs[i, j])
        if math.isnan(prob):  # the run stopped before this window: one forward pass
            prob = class_prob(self._net, occluded, settings.target)
        picture = Image.fromarray(self._net.preprocess.denormalise(occluded))
        self.occluded = {
            "i": i,
            "j": j,
            "box": [ys.start, ys.stop, xs.start, xs.stop],
            "image": png_bytes(picture),
            "prob": prob,
            "clean_prob": result.prob,
            "target": settings.target,
            "label": self._net.label(settings.target),
        }

    @property
    def result(self) -> Optional[Occlusion]:
        """The engine's result behind the shown map (partial while a run goes on or after Stop)."""
        return self._shown.result if self._shown is not None else None

    def close(self) -> None:
        super().close()
        self._shown = None

    # -- front-end requests ---------------------------------------------------------------------------------
    def handle_message(self, content: dict, buffers: List[bytes]) -> None:
        kind = content.get("type")
        if kind == "run":
            self.run()
        elif kind == "click":
            shown = self._shown
            if shown is not None:
                self.show_window(*window_at(shown.result.grid, int(content["y"]), int(content["x"])))
        else:
            super().handle_message(content, buffers)

    # -- settings -------------------------------------------------------------------------------------------
    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        self.stop()  # frames it sends meanwhile are for the old picture and are dropped (see _publish)
        self.wait()  # within one chunk; then its "stopped" status cannot overwrite the hint below
        self._shown = None
        with self.hold_sync():
            self.heatmap, self.occluded, self.done, self.total = {}, {}, 0, 0
            self.progress = 0.0
        self.target = preds[0].index if target is None else int(target)
        self._hint()

    @shows_errors
    def _on_settings(self, change: Any) -> None:
        if change.name != "target":
            size = self._net.preprocess.size
            check_settings((size, size), self.window, self.stride, self.baseline)
            self.error = ""
        self._hint()

    def _hint(self) -> None:
        """Say in the status line what Run would compute (unless a run is reporting its progress there)."""
        if not self.busy and self._net is not None:
            self.status = (
                f"press Run to occlude “{self._net.label(self.target)}”: window {self.window}, stride {self.stride}, "
                f"baseline {self.baseline}"
            )

    def _settings(self) -> Settings:
        """The current settings, checked (raises the engine's message for bad ones)."""
        if self._x is None:
            raise ImageError("there is no image to occlude yet; load one with set_image(...) or the image picker")
        check_settings(tuple(self._x.shape[-2:]), self.window, self.stride, self.baseline)
        return Settings(self._image_id, self._x, self.target, self.window, self.stride, self.baseline)

    # -- the job --------------------------------------------------------------------------------------------
    def _occlude(self, settings: Settings, job: Job) -> None:
        """Run the engine chunk by chunk, publishing at most one map per FRAME_INTERVAL and always the last."""
        label = self._net.label(settings.target)
        steps = occlusion_steps(
            self._net, settings.x, settings.target, settings.window, settings.stride, settings.baseline
        )
        self._publish(job, settings, None, f"occluding “{label}”…")
        begin = sent = time.perf_counter()
        result: Optional[Occlusion] = None
        try:
            for update in steps:
                result = update.result
                if job.cancelled.is_set():
                    break
                now = time.perf_counter()
                if result.done < result.total and now - sent >= FRAME_INTERVAL:
                    sent = now
                    eta = (now - begin) / result.done * (result.total - result.done)
                    status = f"occluding “{label}”: {result.done}/{result.total} windows, about {eta_text(eta)} left"
                    self._publish(job, settings, result, status)
        finally:
            steps.close()
        if result is None:
            return
        seconds = time.perf_counter() - begin
        if result.done < result.total:
            note = f"stopped after {result.done}/{result.total} windows ({seconds:.1f} s); the map shows those"
        else:
            i, j = divmod(int(result.scores.argmin()), result.scores.shape[1])
            reuse = f" ({result.recomputed:.0%} of the network recomputed per window)" if result.recomputed < 1 else ""
            note = (
                f"occlusion of “{label}” ({result.prob:.1%}): {result.total} windows in {seconds:.1f} s{reuse}; "
                f"window ({i}, {j}) hurts most ({result.probs[i, j]:.1%} left)"
            )
        self._publish(job, settings, result, note)

    def _publish(self, job: Job, settings: Settings, result: Optional[Occlusion], status: str) -> None:
        """Show ``result`` (``None``: a run starts, clear the old map) unless a newer run or another picture
        has replaced ``job``'s."""
        with self._lock:
            if not job.current or settings.image_id != self._image_id:
                return
            self._shown = Shown(settings, result) if result is not None else None
            with self.hold_sync():
                if result is None:
                    self.heatmap, self.occluded, self.done, self.total = {}, {}, 0, 0
                else:
                    self.heatmap = encode_array(result.preview)
                    self.done, self.total = result.done, result.total
                    self.progress = result.fraction
                self.status = status
