"""OcclusionExplorer: cover one window of the photo at a time and map how much the class score drops.

The map fills in while the job runs (the engine's preview: coarse windows first, refined as more are added), with an
ETA in the status line; Stop keeps the partial map. Clicking the map shows the picture with that window covered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
import traitlets
from PIL import Image

from ..engine.images import ImageError, ImageLike
from ..engine.model import Prediction
from ..engine.occlusion import BASELINES, Grid, Occlusion, OcclusionError, make_fill, occlude_window, occlusion_steps
from ..engine.progress import Update
from ..engine.schema import Option, check_settings, describe
from .base import shows_errors
from .encoding import png_bytes
from .photo import as_net, check_target, prepare
from .requests import Request, on
from .stream import StreamView, check_start, eta_text
from .traits import Heatmap, HeatmapTrait

QUANTITY = "drop in the class score (logit) when occluded"
"""What the map measures: the caption of its colour bar."""
ViewBaseline = Union[float, str]
"""What the view's baseline field holds: a number or a name (the engine also takes image tensors; traits cannot)."""


def occlusion_options(size: Optional[int] = None) -> Tuple[Option, ...]:
    """The settings of a view whose model sees ``size`` x ``size`` pictures (``None``: any size)."""
    return (
        Option("window", "window", "int", 16, low=1, high=size, unit="px", group="window",
               help="side of the square window"),
        Option("stride", "stride", "int", 8, low=1, high=size, unit="px", group="window",
               help="step between windows"),
        Option("baseline", "baseline", "float", 0.0, choices=BASELINES, group="window",
               help="what the window shows: a number in the normalised input (0: the dataset's mean colour), "
               "mean (the image's mean colour) or blur (a blurred copy)"),
    )  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Everything one run depends on, frozen when it starts (the traits may change meanwhile), and its result."""

    x: torch.Tensor
    target: int
    window: int
    stride: int
    baseline: ViewBaseline
    result: Optional[Occlusion] = None


def check_fits(size: Tuple[int, int], window: int, stride: int, baseline: ViewBaseline) -> None:
    """Raise the engine's :class:`OcclusionError` for a window, stride or baseline that does not fit ``size``."""
    Grid.make(size, window, stride)
    make_fill(torch.zeros(1, 3, *size), baseline)


class OcclusionExplorer(StreamView[Settings]):
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
    SETTINGS = occlusion_options()
    FRAME_INTERVAL = ACK_PATIENCE = 0.1  # the map is small: about 10 partial maps a second, acknowledged or not

    baselines = traitlets.List(traitlets.Unicode(), read_only=True, help="Named baselines besides a number.").tag(
        sync=True
    )
    heatmap = HeatmapTrait(
        help="Score drop per pixel so far, aligned with `image`: the engine's preview, whose pixels no evaluated "
        "window covers yet take the nearest evaluated window's drop."
    )
    done = traitlets.Int(0, help="Windows evaluated in the shown map.").tag(sync=True)
    total = traitlets.Int(0, help="Windows in the shown map's grid.").tag(sync=True)
    occluded = traitlets.Dict(
        help="The clicked window: {i, j, box: [top, bottom, left, right], image: PNG, prob, clean_prob, target, label}."
    ).tag(sync=True)

    _shown: Optional[Settings] = None  # class default: close() may run from __del__ of a half-built widget

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
        options = occlusion_options(size)
        check_settings(options, {"window": window, "stride": stride, "baseline": baseline})
        check_fits((size, size), window, stride, baseline)
        check_start(start)
        picture = prepare(net, image)
        if target is not None:
            check_target(net, target)
        super().__init__(net, opacity=opacity, colormap=colormap)
        self.set_trait("baselines", list(BASELINES))
        self.set_trait("schema", describe(options))
        with self.hold_trait_notifications():
            self.window, self.stride, self.baseline = window, stride, baseline
        self.observe(self._on_settings, names=["window", "stride", "baseline", "target"])
        self._show(picture, target)
        if start:
            self.run()

    # -- public ---------------------------------------------------------------------------------------------
    def show_window(self, i: int, j: int) -> None:
        """Put the image with window ``(i, j)`` occluded, and the class probability it gets, into ``occluded``.

        Parameters
        ----------
        i, j : int
            Row and column of the window in the shown map's grid.
        """
        shown = self._shown
        if shown is None or shown.result is None:
            raise OcclusionError("there is no occlusion map yet; press Run first")
        result = shown.result
        occluded = occlude_window(shown.x, result.grid, i, j, shown.baseline)
        ys, xs = result.grid.box(i, j)
        prob = float(result.probs[i, j])
        if math.isnan(prob):  # the run stopped before this window: one forward pass
            prob = self._net.prob(occluded, shown.target)
        picture = Image.fromarray(self._net.preprocess.denormalise(occluded))
        self.occluded = {
            "i": i, "j": j, "box": [ys.start, ys.stop, xs.start, xs.stop], "image": png_bytes(picture), "prob": prob,
            "clean_prob": result.prob, "target": shown.target, "label": self._net.label(shown.target),
        }  # fmt: skip

    @property
    def result(self) -> Optional[Occlusion]:
        """The engine's result behind the shown map (partial while a run goes on or after Stop)."""
        return self._shown.result if self._shown is not None else None

    def close(self) -> None:
        super().close()
        self._shown = None

    @on("select")
    def _on_select(self, request: Request) -> None:
        shown = self._shown
        if shown is not None and shown.result is not None:
            self.show_window(*shown.result.grid.window_at(request.whole("y"), request.whole("x")))

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> Settings:
        """The current settings, checked (raises the engine's message for bad ones)."""
        if self._x is None:
            raise ImageError("there is no image to occlude yet; load one with set_image(...) or the image picker")
        height, width = self._x.shape[-2:]
        check_fits((height, width), self.window, self.stride, self.baseline)
        return Settings(self._x, self.target, self.window, self.stride, self.baseline)

    def updates(self, settings: Settings) -> Iterator[Update[Occlusion]]:
        s = settings
        return occlusion_steps(self._net, s.x, s.target, s.window, s.stride, s.baseline)

    def present(
        self, settings: Settings, update: Optional[Update[Occlusion]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """The map so far, with the windows done and an ETA (and the run behind it, which a click on the map refers
        to); ``None``: a run starts, the old map goes."""
        result = update.result if update is not None else None
        if result is None and final:
            return {}
        if result is None:
            return {"_shown": None, "heatmap": None, "occluded": {}, "done": 0, "total": 0}
        heatmap = Heatmap(result.preview.numpy(), QUANTITY, (settings.window, settings.stride))
        shown = {"_shown": replace(settings, result=result), "heatmap": heatmap, "done": result.done,
                 "total": result.total}  # fmt: skip
        if not final and result.done:
            eta = seconds / result.done * (result.total - result.done)
            label = self._net.label(settings.target)
            shown["status"] = f"occluding “{label}”: {result.done}/{result.total} windows, about {eta_text(eta)} left"
        return shown

    def summary(self, settings: Settings, update: Optional[Update[Occlusion]], outcome: str, seconds: float) -> str:
        result = update.result if update is not None else None
        if result is None:
            return f"{outcome} before the first window"
        if result.done < result.total:
            return f"stopped after {result.done}/{result.total} windows ({seconds:.1f} s); the map shows those"
        i, j = divmod(int(result.scores.argmin()), result.scores.shape[1])
        reuse = f" ({result.recomputed:.0%} of the network recomputed per window)" if result.recomputed < 1 else ""
        return (
            f"occlusion of “{self._net.label(settings.target)}” ({result.prob:.1%}): {result.total} windows in "
            f"{seconds:.1f} s{reuse}; window ({i}, {j}) hurts most ({result.probs[i, j]:.1%} left)"
        )

    # -- settings -------------------------------------------------------------------------------------------
    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        self.stop()
        self.wait()  # within one chunk; then its results and "stopped" status cannot overwrite the new picture's
        self._shown = None
        with self.hold_sync():
            self.heatmap, self.occluded, self.done, self.total = None, {}, 0, 0
            self.progress = 0.0
        self.target = preds[0].index if target is None else int(target)
        self._hint()

    @shows_errors
    def _on_settings(self, change: Any) -> None:
        if change.name != "target":
            size = self._net.preprocess.size
            check_fits((size, size), self.window, self.stride, self.baseline)
            self.error = ""
        self._hint()

    def _hint(self) -> None:
        """Say in the status line what Run would compute (unless a run is reporting its progress there)."""
        if not self.busy and self.net is not None:
            self.status = (
                f"press Run to occlude “{self._net.label(self.target)}”: window {self.window}, stride {self.stride}, "
                f"baseline {self.baseline}"
            )
