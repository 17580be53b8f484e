"""FeatureVisualizer: activation maximisation, live in the cell.

Pick what to maximise (a channel, a neuron, a whole layer as in DeepDream, or a class logit) with a layer
picker and a grid of channel thumbnails (each channel's activation map on a photo, so a unit can be chosen by
what it responds to), set the parameterisation, transforms and regularisers, and press Start: the engine's
gradient ascent streams its pictures to the view as JPEG frames, paced by the view's acknowledgements, with the
objective per step and the speed in the status line. Stop takes effect within one step and Resume goes on from
there; the picture at the end of every run is sent losslessly (PNG). Batch modes render several channels of a
layer at once, or several diverse images of one objective.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import traitlets

from ..engine.activations import channel_maps
from ..engine.errors import ArgumentTypeError
from ..engine.featurevis import (
    OUTPUT,
    PARAMS,
    SQUASHES,
    VISUALIZATION_OPTIONS,
    FeatureVisError,
    Objective,
    Visualization,
    as_objective,
    channel,
    channels,
    class_logit,
    deepdream,
    diversity,
    neuron,
)
from ..engine.images import ImageLike, sample_image
from ..engine.layers import LayerRecord, default_layer
from ..engine.model import Prediction
from .base import Job, shows_errors
from .encoding import encode_array, jpeg_bytes, png_bytes
from .frames import FramePacer, image_strip
from .photo import PhotoView, as_net, check_target, layer_rows, prepare

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

    from .charts import CurveChart

KINDS = ("channel", "neuron", "layer", "class_logit")
"""What the view's objective picker offers: one channel (mean over positions), one neuron, a whole layer
(DeepDream), one class logit."""
CUSTOM = "custom"
"""The kind of an objective passed in that the picker cannot express (a sum, a direction...)."""
BATCH_MODES = ("diverse", "channels")
"""How a batch of images is used: diverse images of one objective, or one channel of the layer per image."""
SETTINGS = (
    "param",
    "decorrelate",
    "squash",
    "transforms",
    "lr",
    "tv",
    "l2",
    "decay",
    "blur_every",
    "blur_sigma",
    "clip_norm",
    "clip_contribution",
    "seed",
)
"""The engine's :class:`Visualization` options the view edits (one trait each, the engine's defaults)."""
DEFAULTS = {o.name: o.default for o in VISUALIZATION_OPTIONS}
DIVERSITY = 1.0
"""Default weight of the diversity term in the "diverse" batch mode (the term lies in [-1, 0])."""
FRAME_INTERVAL = 0.1
"""Least time between two live frames (about 10 frames/s while the view keeps up)."""
ACK_PATIENCE = 1.0
"""How long a frame waits for the view's acknowledgement before the next one is sent anyway."""


@dataclass(frozen=True)
class Recipe:
    """Everything one visualisation depends on, frozen when Start is pressed (the traits may change meanwhile)."""

    kind: str
    layer: str
    unit: int
    y: Optional[int]
    x: Optional[int]
    target: int
    batch: int
    batch_mode: str
    units: Tuple[int, ...]
    diversity: float
    size: int
    settings: Tuple[Tuple[str, Any], ...]
    custom: Optional[Objective] = None

    @property
    def per_channel(self) -> bool:
        """Whether each image of the batch renders its own channel of the layer."""
        return self.batch_mode == "channels" and self.kind == "channel"

    @property
    def channel_units(self) -> Tuple[int, ...]:
        """The channels of the "channels" mode: the ones picked, else ``batch`` channels from ``unit`` on."""
        return self.units or tuple(range(self.unit, self.unit + self.batch))

    @property
    def count(self) -> int:
        """Number of images optimised together."""
        return len(self.channel_units) if self.per_channel else self.batch

    def base(self) -> Objective:
        """The objective of one image."""
        if self.kind == CUSTOM:
            return self.custom
        if self.kind == "channel":
            return channel(self.layer, self.unit)
        if self.kind == "neuron":
            return neuron(self.layer, self.unit, self.y, self.x)
        if self.kind == "layer":
            return deepdream(self.layer)
        return class_logit(self.target)

    def objective(self) -> Objective:
        """The objective of the whole batch."""
        if self.per_channel:
            return channels(self.layer, self.channel_units)
        if self.count == 1:
            return self.base()
        if self.batch_mode == "channels":
            raise FeatureVisError(
                f"the channels batch mode renders one channel of the layer per image, so it needs the channel "
                f"objective (now {self.kind}); use the diverse mode for {self.batch} images of one {self.kind} objective"
            )
        return self.base() + self.diversity * diversity(self.layer)

    def describe(self) -> str:
        """What the run renders, in a few words."""
        if self.per_channel:
            return f"channels {', '.join(map(str, self.channel_units))} of {self.layer!r}"
        return repr(self.base()) if self.count == 1 else f"{self.count} diverse images of {self.base()!r}"

    def captions(self) -> List[str]:
        """One caption per image of the batch."""
        if self.per_channel:
            return [f"{self.layer}:{u}" for u in self.channel_units]
        if self.count == 1:
            return [repr(self.base())]
        return [f"{self.base()!r} · {i + 1}/{self.count}" for i in range(self.count)]

    def build(self, net: Any) -> Visualization:
        """The engine's visualisation (it checks everything, with one probing forward pass)."""
        return Visualization(net, self.objective(), self.size, batch=self.count, **dict(self.settings))


def featurevis_schema(kinds: Sequence[str], size: int) -> List[Dict[str, Any]]:
    """The settings form: the objective (with the kinds on offer), the run, the batch, the picture, the optimiser and
    the regularisers; each with the kinds or parameterisation it applies to."""

    def opt(name: str, label: str, kind: str, group: str, help: str, **more: Any) -> Dict[str, Any]:
        default = DEFAULTS.get(name, more.pop("default", None))
        return {
            "name": name,
            "label": label,
            "kind": kind,
            "default": default,
            "choices": [],
            "group": group,
            "help": help,
            **more,
        }

    pixel = {"when": {"param": ["pixel"]}}
    return [
        opt("kind", "objective", "choice", "objective", "what to maximise", choices=list(kinds), default="channel"),
        opt(
            "unit",
            "unit",
            "int",
            "objective",
            "channel of the layer",
            low=0,
            default=0,
            when={"kind": ["channel", "neuron"]},
        ),
        opt(
            "y",
            "row",
            "int",
            "objective",
            "row of the neuron in the layer's map; empty: the centre",
            low=0,
            optional=True,
            when={"kind": ["neuron"]},
        ),
        opt(
            "x",
            "column",
            "int",
            "objective",
            "column of the neuron; empty: the centre",
            low=0,
            optional=True,
            when={"kind": ["neuron"]},
        ),
        opt(
            "target",
            "class",
            "int",
            "objective",
            "class whose logit is maximised",
            low=0,
            default=0,
            when={"kind": ["class_logit"]},
        ),
        opt(
            "steps",
            "steps",
            "int",
            "run",
            "optimiser steps per Start (Resume after the end: this many more)",
            low=1,
            high=100_000,
            default=256,
        ),
        opt("size", "size", "int", "run", "side of the pictures", low=16, high=1024, default=size, unit="px"),
        opt("seed", "seed", "int", "run", "seed of the random start and the transforms", low=0, high=2**31 - 1),
        opt("batch", "batch", "int", "batch", "pictures optimised together", low=1, high=64, default=1),
        opt(
            "batch_mode",
            "mode",
            "choice",
            "batch",
            "diverse: different pictures of the objective; channels: one channel of the layer per picture",
            choices=list(BATCH_MODES),
            default="diverse",
        ),
        opt(
            "diversity",
            "diversity",
            "float",
            "batch",
            "weight of the diversity term",
            low=0,
            high=100,
            default=DIVERSITY,
            when={"batch_mode": ["diverse"]},
        ),
        opt(
            "param",
            "parameterisation",
            "choice",
            "picture",
            "fft: decorrelated spectrum; pixel: raw pixels",
            choices=list(PARAMS),
        ),
        opt("decorrelate", "decorrelate colours", "bool", "picture", "optimise in decorrelated colour space"),
        opt("squash", "squash", "choice", "picture", "into [0, 1] by sigmoid or clamp", choices=list(SQUASHES)),
        opt("transforms", "transforms", "bool", "picture", "jitter, scale and rotate the picture every step"),
        opt("lr", "learning rate", "float", "optimiser", "Adam's learning rate", low=0, high=10),
        opt("l2", "L2", "float", "regularisers", "weight of the L2 penalty", low=0, high=1000),
        opt(
            "tv", "total variation", "float", "regularisers", "weight of the total-variation penalty", low=0, high=1000
        ),
        opt("decay", "decay", "float", "regularisers", "pixel decay per step", low=0, high=1, **pixel),
        opt(
            "blur_every",
            "blur every",
            "int",
            "regularisers",
            "blur every this many steps; 0: never",
            low=0,
            high=1000,
            **pixel,
        ),
        opt("blur_sigma", "blur σ", "float", "regularisers", "width of that blur", low=0, high=50, unit="px", **pixel),
        opt(
            "clip_norm",
            "clip norm",
            "float",
            "regularisers",
            "pixels of smallest norm zeroed",
            low=0,
            high=100,
            unit="%",
            **pixel,
        ),
        opt(
            "clip_contribution",
            "clip contribution",
            "float",
            "regularisers",
            "pixels of smallest contribution zeroed",
            low=0,
            high=100,
            unit="%",
            **pixel,
        ),
    ]


class FeatureVisualizer(PhotoView):
    """What does a unit of the network look for? Optimise a picture so that it fires as strongly as possible
    (activation maximisation: Erhan et al. 2009; Olah et al., "Feature Visualization", Distill 2017), live.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    objective : str or Objective, optional
        ``"layer:unit"`` (a channel), ``"layer:unit:y:x"`` (a neuron), ``"layer"`` (DeepDream), or an engine
        objective such as ``engine.featurevis.class_logit(285)``; one the pickers cannot express (a sum, a
        direction) is kept as the "custom" kind. Default: a channel of ``layer``.
    layer : str, optional
        Layer of the channel, neuron or DeepDream objective; default: a block two thirds of the way up.
    unit : int
        Channel of that layer.
    kind : str
        ``"channel"``, ``"neuron"``, ``"layer"`` or ``"class_logit"`` (ignored when ``objective`` is given).
    y, x : int, optional
        Position of the neuron in the layer's map; the centre by default.
    target : int, optional
        Class of the ``class_logit`` objective; default: the photo's top prediction.
    image : PIL image, array, tensor, path or bytes, optional
        The photo whose activations the unit picker's thumbnails show; default: the bundled cat.
    steps : int
        Optimiser steps per Start (and per Resume after a finished run).
    size : int, optional
        Side of the optimised pictures in pixels; default: the model's input size.
    batch : int
        Pictures optimised together; see ``batch_mode``.
    batch_mode : str
        ``"diverse"``: ``batch`` different pictures of the objective, pushed apart by ``diversity`` times the
        engine's diversity term; ``"channels"``: one channel of the layer per picture, ``units`` or ``batch``
        channels from ``unit`` on.
    units : sequence of int
        The channels of the "channels" mode (the thumbnails ctrl-clicked in the view).
    diversity : float
        Weight of the diversity term in the "diverse" mode.
    colormap : str
        Colour map of the thumbnails: ``inferno``, ``viridis``, ``jet`` or ``gray``.
    start : bool
        Start the first run at once (``False``: wait for Start or :meth:`run`).
    **settings
        The engine's :class:`~cnnviz_widgets.engine.featurevis.Visualization` options: ``param`` ("fft" or
        "pixel"), ``decorrelate``, ``squash``, ``transforms``, ``lr``, ``tv``, ``l2``, and for ``param="pixel"``
        ``decay``, ``blur_every``, ``blur_sigma``, ``clip_norm`` and ``clip_contribution`` (percent); ``seed``.
    """

    _view = traitlets.Unicode("featurevis").tag(sync=True)

    kind = traitlets.Unicode("channel", help="What to maximise: channel, neuron, layer, class_logit (or custom).").tag(
        sync=True
    )
    schema = traitlets.List(
        traitlets.Dict(), read_only=True, help="The settings form: one option description each."
    ).tag(sync=True)
    choices = traitlets.Dict(
        read_only=True, help="Valid values of the view's selects: {kind, param, squash, batch_mode}."
    ).tag(sync=True)
    layer = traitlets.Unicode("", help="Layer of the objective (dotted name).").tag(sync=True)
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    unit = traitlets.Int(0, help="Channel of the layer.").tag(sync=True)
    y = traitlets.Int(None, allow_none=True, help="Row of the neuron in the layer's map (None: the centre).").tag(
        sync=True
    )
    x = traitlets.Int(None, allow_none=True, help="Column of the neuron in the layer's map (None: the centre).").tag(
        sync=True
    )
    units = traitlets.List(
        traitlets.Int(), help="Channels of the 'channels' batch mode (empty: `batch` from `unit` on)."
    ).tag(sync=True)
    thumbnails = traitlets.Dict(
        help="The layer's channel maps on the photo: {layer, dtype, shape: [C, h, w], buffer}; {} for a non-spatial layer."
    ).tag(sync=True)
    class_label = traitlets.Unicode("", help="Name of class `target`.").tag(sync=True)

    steps = traitlets.Int(256, help="Optimiser steps per Start.").tag(sync=True)
    size = traitlets.Int(224, help="Side of the optimised pictures in pixels.").tag(sync=True)
    batch = traitlets.Int(1, help="Pictures optimised together.").tag(sync=True)
    batch_mode = traitlets.Unicode("diverse", help="'diverse' or 'channels'.").tag(sync=True)
    diversity = traitlets.Float(DIVERSITY, help="Weight of the diversity term in the diverse mode.").tag(sync=True)
    param = traitlets.Unicode(DEFAULTS["param"], help="Image parameterisation: fft or pixel.").tag(sync=True)
    decorrelate = traitlets.Bool(DEFAULTS["decorrelate"], help="Optimise in decorrelated colour space.").tag(sync=True)
    squash = traitlets.Unicode(DEFAULTS["squash"], help="Into [0, 1] by sigmoid or clamp.").tag(sync=True)
    transforms = traitlets.Bool(DEFAULTS["transforms"], help="Jitter, scale and rotate the picture every step.").tag(
        sync=True
    )
    lr = traitlets.Float(DEFAULTS["lr"], help="Adam's learning rate.").tag(sync=True)
    tv = traitlets.Float(DEFAULTS["tv"], help="Weight of the total-variation penalty.").tag(sync=True)
    l2 = traitlets.Float(DEFAULTS["l2"], help="Weight of the L2 penalty.").tag(sync=True)
    decay = traitlets.Float(DEFAULTS["decay"], help="Pixel decay per step (param='pixel').").tag(sync=True)
    blur_every = traitlets.Int(
        DEFAULTS["blur_every"], help="Blur every this many steps, 0: never (param='pixel')."
    ).tag(sync=True)
    blur_sigma = traitlets.Float(DEFAULTS["blur_sigma"], help="Width of that blur in pixels.").tag(sync=True)
    clip_norm = traitlets.Float(
        DEFAULTS["clip_norm"], help="Percent of pixels of smallest norm zeroed (param='pixel')."
    ).tag(sync=True)
    clip_contribution = traitlets.Float(
        DEFAULTS["clip_contribution"], help="Percent of pixels of smallest contribution zeroed (param='pixel')."
    ).tag(sync=True)
    seed = traitlets.Int(DEFAULTS["seed"], help="Seed of the random start and the transforms.").tag(sync=True)

    frame = traitlets.Bytes(b"", help="The latest live frame: JPEG of the batch side by side.").tag(sync=True)
    frame_seq = traitlets.Int(0, help="Number of `frame`, which the view acknowledges once drawn.").tag(sync=True)
    final = traitlets.Bytes(b"", help="PNG of the batch side by side where the last run ended.").tag(sync=True)
    captions = traitlets.List(traitlets.Unicode(), help="One caption per picture of the batch.").tag(sync=True)
    step = traitlets.Int(0, help="Steps the shown visualisation has taken.").tag(sync=True)
    curve = traitlets.Dict(help="Objective at every step so far as a float32 {dtype, shape, buffer}.").tag(sync=True)

    _vis: Optional[Visualization] = None  # class defaults: close() may run from __del__ of a half-built widget
    _chart: Optional["CurveChart"] = None

    def __init__(
        self,
        net: Any,
        objective: Union[None, str, Objective] = None,
        *,
        layer: Optional[str] = None,
        unit: int = 0,
        kind: str = "channel",
        y: Optional[int] = None,
        x: Optional[int] = None,
        target: Optional[int] = None,
        image: Optional[ImageLike] = None,
        steps: int = 256,
        size: Optional[int] = None,
        batch: int = 1,
        batch_mode: str = "diverse",
        units: Sequence[int] = (),
        diversity: float = DIVERSITY,
        colormap: str = "viridis",
        start: bool = True,
        **settings: Any,
    ):
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ArgumentTypeError(f"unknown setting(s) {', '.join(unknown)}; the settings are: {', '.join(SETTINGS)}")
        if not isinstance(start, bool):
            raise ArgumentTypeError(f"start must be True or False, got {start!r}")
        net = as_net(net)
        picture = prepare(net, image if image is not None else sample_image("cat"))
        if target is not None:
            check_target(net, target)
        records = net.layers()
        super().__init__(net, opacity=1.0, colormap=colormap)
        self._custom: Optional[Objective] = None
        self._built: Optional[Recipe] = None
        self._goal = 0
        self._pacer = FramePacer(FRAME_INTERVAL, ACK_PATIENCE)
        self._targeted = target is not None
        self.set_trait("layers", layer_rows(records))
        try:
            self._configure(
                records, objective, layer, kind, unit, y, x, steps, size, batch, batch_mode, units, diversity, settings
            )
            self.observe(self._show_thumbnails, names="layer")
            self.observe(self._on_target, names="target")
            self.observe(
                self._on_settings,
                names=[
                    "kind",
                    "layer",
                    "unit",
                    "y",
                    "x",
                    "units",
                    "target",
                    "steps",
                    "size",
                    "batch",
                    "batch_mode",
                    "diversity",
                    *SETTINGS,
                ],
            )
            self._show(picture, target)
            if start:
                self.run()
        except BaseException:
            self.close()  # the arguments were wrong (the engine says why): no half-made view stays behind
            raise

    def _configure(
        self,
        records: List[LayerRecord],
        objective: Any,
        layer: Optional[str],
        kind: str,
        unit: int,
        y: Optional[int],
        x: Optional[int],
        steps: int,
        size: Optional[int],
        batch: int,
        batch_mode: str,
        units: Sequence[int],
        diversity: float,
        settings: Dict[str, Any],
    ) -> None:
        """Set the traits from the constructor's arguments; raises for a kind or batch mode the view cannot run."""
        with self.hold_trait_notifications():
            self.kind, self.unit, self.y, self.x = kind, unit, y, x
            self.layer = layer if layer is not None else default_layer(self._net.model, records)
            if objective is not None:
                self._adopt(as_objective(objective))
            self.steps, self.size = steps, size if size is not None else self._net.preprocess.size
            self.batch, self.batch_mode, self.units, self.diversity = batch, batch_mode, list(units), diversity
            for name, value in settings.items():
                setattr(self, name, value)
        self._offer_kinds()
        self._recipe()

    # -- public ---------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Start a new visualisation with the current settings and take ``steps`` steps in the background.

        The engine checks the settings first, here (with a probing forward pass): a bad one (a unit out of
        range, a size below the model's minimum, ...) raises its message (from the view's Start: in the
        banner) and leaves the current picture. :meth:`stop` ends the run within one step, :meth:`resume` goes
        on, :meth:`wait` blocks until it is over.
        """
        recipe = self._recipe()
        self.submit(functools.partial(self._ascend, (recipe, recipe.build(self._net)), self.steps))

    def resume(self) -> None:
        """Go on with the current visualisation (with the settings it was started with): up to the step count
        it was running to, or ``steps`` more if it got there. Without one, the same as :meth:`run`."""
        if self._vis is None:
            self.run()
        else:
            self.submit(functools.partial(self._ascend, None, self.steps))

    def reset(self) -> None:
        """Stop, then drop the current visualisation and its picture (the next Start or Resume begins anew)."""
        self.stop()
        self.wait()
        with self._lock:
            self._vis, self._built, self._goal = None, None, 0
            with self.hold_sync():
                self.frame, self.final, self.captions, self.curve, self.step = b"", b"", [], {}, 0
                self.progress = 0.0
        self._hint()

    @property
    def visualization(self) -> Optional[Visualization]:
        """The engine's visualisation behind the picture (``image()``, ``curve``, ``step``); ``None`` before Start."""
        return self._vis

    @property
    def chart(self) -> "go.FigureWidget":
        """A plotly chart of the objective at every step, kept up to date while the run goes on."""
        if self._chart is None:
            from .charts import CurveChart

            chart = CurveChart()
            chart.show(self.curve)
            self.observe(lambda change: chart.show(change.new), names="curve")
            self._chart = chart
        return self._chart.figure

    def dashboard(self) -> "ipywidgets.HBox":
        """The visualizer with its objective :attr:`chart` beside it."""
        import ipywidgets

        return ipywidgets.HBox([self, self.chart])

    def close(self) -> None:
        super().close()
        if self._chart is not None:
            self._chart.close()
        self._vis = None

    # -- front-end requests ---------------------------------------------------------------------------------
    def handle_message(self, content: dict, buffers: List[bytes]) -> None:
        kind = content.get("type")
        if kind == "ack":
            self._pacer.ack(int(content.get("seq", 0)))
        elif kind == "run":
            self.run()
        elif kind == "resume":
            self.resume()
        elif kind == "reset":
            self.reset()
        else:
            super().handle_message(content, buffers)

    # -- settings -------------------------------------------------------------------------------------------
    def _adopt(self, objective: Objective) -> None:
        """Show ``objective`` in the pickers when they can express it (one channel, neuron, layer or class of
        the whole batch), else keep it as the custom kind."""
        kind, batch = getattr(objective, "kind", None), getattr(objective, "batch", None)
        if kind not in KINDS or batch is not None:
            self._custom, self.kind = objective, CUSTOM
            layers = sorted(objective.layers - {OUTPUT})
            if layers:
                self.layer = layers[0]
            return
        self.kind = kind
        if kind == "class_logit":
            self._targeted = True
            self.target = objective.index
            return
        self.layer = objective.layer
        if kind in ("channel", "neuron"):
            self.unit = objective.unit
        if kind == "neuron":
            self.y, self.x = objective.y, objective.x

    def _offer_kinds(self) -> None:
        kinds = [*KINDS, CUSTOM] if self._custom is not None else list(KINDS)
        self.set_trait(
            "choices", {"kind": kinds, "param": list(PARAMS), "squash": list(SQUASHES), "batch_mode": list(BATCH_MODES)}
        )
        self.set_trait("schema", featurevis_schema(kinds, self._net.preprocess.size))

    def _recipe(self) -> Recipe:
        """The current settings, frozen; a kind or batch mode the view does not know raises naming the valid ones."""
        kinds = self.choices["kind"]
        if self.kind not in kinds:
            raise FeatureVisError(f"unknown objective kind {self.kind!r}; choose one of: {', '.join(kinds)}")
        if self.steps < 1:
            raise FeatureVisError(f"steps must be at least 1, got {self.steps}")
        if self.batch_mode not in BATCH_MODES:
            raise FeatureVisError(f"unknown batch mode {self.batch_mode!r}; choose one of: {', '.join(BATCH_MODES)}")
        recipe = Recipe(
            self.kind,
            self.layer,
            self.unit,
            self.y,
            self.x,
            self.target,
            self.batch,
            self.batch_mode,
            tuple(self.units),
            self.diversity,
            self.size,
            tuple((name, getattr(self, name)) for name in SETTINGS),
            self._custom,
        )
        recipe.objective()  # the batch mode fits the kind
        return recipe

    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        if target is not None or not self._targeted:  # a new photo keeps a class that was chosen
            self.target = preds[0].index if target is None else int(target)
            self._targeted = target is not None
        self._on_target(None)
        self._show_thumbnails(None)
        self._hint()

    @shows_errors
    def _show_thumbnails(self, _change: Any) -> None:
        """The unit picker's thumbnails: the layer's channel maps on the photo (one forward pass)."""
        maps = channel_maps(self._net, self._x, self.layer) if self._x is not None else None
        self.thumbnails = {"layer": self.layer, **encode_array(maps)} if maps is not None else {}

    def _on_target(self, _change: Any) -> None:
        self.class_label = self._net.label(self.target)

    @shows_errors
    def _on_settings(self, change: Any) -> None:
        if change.name == "target":
            self._targeted = True
        self._recipe()
        self.error = ""
        self._hint()

    def _hint(self) -> None:
        """Say in the status line what Start (and Resume) would do, unless a run reports its progress there."""
        if self.busy or self._net is None:
            return
        try:
            recipe = self._recipe()
        except FeatureVisError:
            return
        vis, what = self._vis, f"{recipe.describe()} at {recipe.size} px"
        if vis is None:
            self.status = f"press Start to render {what} in {self.steps} steps"
        elif recipe == self._built:
            self.status = f"step {vis.step}: Resume goes on, Start begins again"
        else:
            self.status = f"settings changed: Start begins {what}; Resume goes on with the picture's own settings"

    # -- the job --------------------------------------------------------------------------------------------
    def _ascend(self, start: Optional[Tuple[Recipe, Visualization]], steps: int, job: Job) -> None:
        """Run a new visualisation made from a recipe (``None``: go on with the current one), publishing paced
        JPEG frames while it runs and a PNG of where it ended (also after Stop or a failure)."""
        if start is not None:
            recipe, vis = start
            with self._lock:
                if not job.current:
                    return
                self._vis, self._built, self._goal = vis, recipe, steps
            self._publish(job, frame=b"", final=b"", captions=recipe.captions(), curve={}, step=0)
        vis = self._vis
        if vis.step >= self._goal:
            self._goal = vis.step + steps
        goal, first, begin = self._goal, vis.step, time.perf_counter()

        def line(step: int, value: float) -> str:
            rate = (step - first) / max(time.perf_counter() - begin, 1e-9)
            return f"step {step}/{goal} · {rate:.1f} steps/s · objective {value:.4g}"

        failed = True
        try:
            for update in vis.steps(goal - vis.step):
                if job.cancelled.is_set():
                    break
                frame = update.result
                if frame is not None and frame.step < goal and self._pacer.due():
                    picture = jpeg_bytes(image_strip(frame.image))
                    self._publish(
                        job,
                        picture=picture,
                        step=frame.step,
                        curve=self._curve(vis),
                        progress=(frame.step - first) / (goal - first),
                        status=line(frame.step, frame.value),
                    )
            failed = False
        finally:
            value = vis.curve[-1] if vis.curve else math.nan
            if failed:
                note = f"failed at step {vis.step}/{goal}; the picture is the last good one"
            elif vis.step < goal:
                note = f"stopped at {line(vis.step, value)}: Resume goes on"
            else:
                note = f"done: {line(vis.step, value)}"
            self._publish(
                job,
                final=png_bytes(image_strip(vis.image())),
                step=vis.step,
                curve=self._curve(vis),
                progress=(vis.step - first) / max(goal - first, 1),
                status=note,
            )

    @staticmethod
    def _curve(vis: Visualization) -> Dict[str, Any]:
        return encode_array(np.asarray(vis.curve, dtype=np.float32))

    def _publish(self, job: Job, picture: Optional[bytes] = None, **traits: Any) -> bool:
        """Set ``traits`` (and send ``picture`` as the next live frame) unless a newer job has replaced ``job``."""
        with self._lock:
            if not job.current:
                return False
            with self.hold_sync():  # the frame last, so observers of `frame` see its number and step
                for name, value in traits.items():
                    setattr(self, name, value)
                if picture is not None:
                    self.frame_seq = self._pacer.sent()
                    self.frame = picture
        return True
