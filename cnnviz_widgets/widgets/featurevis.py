"""FeatureVisualizer: activation maximisation, live in the cell.

Pick what to maximise (a channel, a neuron, a whole layer as in DeepDream, or a class logit) with a layer picker and
a grid of channel thumbnails (each channel's activation map on a photo, so a unit can be chosen by what it responds
to), set the parameterisation, transforms and regularisers, and press Start: the engine's gradient ascent streams
its pictures to the view as JPEG frames, paced by the view's acknowledgements, with the objective per step and the
speed in the status line. Stop takes effect within one step and Resume goes on from there; the picture at the end
of every run is sent losslessly (PNG). Batch modes render several channels of a layer at once, or several diverse
images of one objective.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

import traitlets

from ..engine.activations import channel_maps
from ..engine.errors import ArgumentTypeError
from ..engine.featurevis import VISUALIZATION_OPTIONS, FeatureVisError, Frame, Objective, Visualization, as_objective
from ..engine.images import ImageLike, sample_image
from ..engine.layers import default_layer
from ..engine.model import Prediction
from ..engine.progress import Update
from ..engine.schema import describe
from .base import shows_errors
from .encoding import encode_array
from .frames import image_strip
from .objective import CUSTOM, KINDS, SETTINGS, Settings, adopt
from .photo import as_net, check_target, layer_rows, prepare
from .requests import Request, on
from .stream import StreamView
from .traits import Array, Picture

if TYPE_CHECKING:
    import plotly.graph_objects as go


class FeatureVisualizer(StreamView[Settings]):
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
    image : PIL image, array, tensor, path or bytes, optional
        The photo whose activations the unit picker's thumbnails show; default: the bundled cat.
    units : sequence of int
        The channels of the "channels" batch mode (the thumbnails ctrl-clicked in the view).
    colormap : str
        Colour map of the thumbnails: ``inferno``, ``viridis``, ``jet`` or ``gray``.
    start : bool
        Start the first run at once (``False``: wait for Start or :meth:`run`).
    **settings
        Any of the view's settings (``kind``, ``unit``, ``y``, ``x``, ``target``, ``steps``, ``size``, ``batch``,
        ``batch_mode``, ``diversity``) and the engine's :data:`~cnnviz_widgets.engine.featurevis.VISUALIZATION_OPTIONS`
        (``param``, ``lr``, ``tv``, ...): see ``schema`` for each one's range and meaning. ``size`` defaults to the
        model's input size and ``target`` to the photo's top class.
    """

    _view = traitlets.Unicode("featurevis").tag(sync=True)
    CHARTS = "CurveChart"
    SETTINGS = SETTINGS

    kind = traitlets.Unicode("channel", help="What to maximise: channel, neuron, layer, class_logit (or custom).").tag(
        sync=True
    )
    layer = traitlets.Unicode("", help="Layer of the objective (dotted name).").tag(sync=True)
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    units = traitlets.List(traitlets.Int(), help="Channels of the 'channels' batch mode (empty: from `unit` on).").tag(
        sync=True
    )
    thumbnails = traitlets.Dict(
        help="The layer's channel maps on the photo: {layer, dtype, shape: [C, h, w], buffer}; {} if not spatial."
    ).tag(sync=True)
    class_label = traitlets.Unicode("", help="Name of class `target`.").tag(sync=True)
    frame = Picture("jpeg", help="The latest live frame: the batch side by side, sent as JPEG.")
    final = Picture(help="The batch side by side where the last run ended, sent as PNG.")
    captions = traitlets.List(traitlets.Unicode(), help="One caption per picture of the batch.").tag(sync=True)
    step = traitlets.Int(0, help="Steps the shown visualisation has taken.").tag(sync=True)
    curve = Array(help="The objective at every step so far.")

    _vis: Optional[Visualization] = None  # class defaults: close() may run from __del__ of a half-built widget

    def __init__(
        self,
        net: Any,
        objective: Union[None, str, Objective] = None,
        *,
        layer: Optional[str] = None,
        image: Optional[ImageLike] = None,
        units: Sequence[int] = (),
        colormap: str = "viridis",
        start: bool = True,
        **settings: Any,
    ):
        unknown = sorted(set(settings) - {o.name for o in SETTINGS})
        if unknown:
            names = ", ".join(o.name for o in SETTINGS)
            raise ArgumentTypeError(f"unknown setting(s) {', '.join(unknown)}; the settings are: {names}")
        if not isinstance(start, bool):
            raise ArgumentTypeError(f"start must be True or False, got {start!r}")
        net = as_net(net)
        picture = prepare(net, image if image is not None else sample_image("cat"))
        if settings.get("target") is not None:
            check_target(net, settings["target"])
        records = net.layers()
        super().__init__(net, opacity=1.0, colormap=colormap)
        self._custom: Optional[Objective] = None
        self._built: Optional[Settings] = None
        self._goal = self._first = 0
        self._targeted = settings.get("target") is not None
        self.set_trait("layers", layer_rows(records))
        try:
            with self.hold_trait_notifications():
                self.size = net.preprocess.size
                self.layer = layer if layer is not None else default_layer(net.model, records)
                if objective is not None:
                    self._adopt(as_objective(objective))
                self.units = list(units)
                for name, value in settings.items():
                    setattr(self, name, value)
            self._offer_kinds()
            self.freeze()
            self.observe(self._show_thumbnails, names="layer")
            self.observe(self._on_target, names="target")
            self.observe(self._on_settings, names=["layer", "units", *(o.name for o in SETTINGS)])
            self._show(picture, settings.get("target"))
            if start:
                self.run()
        except BaseException:
            self.close()  # the arguments were wrong (the engine says why): no half-made view stays behind
            raise

    # -- public ---------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Go on with the current visualisation (with the settings it was started with): up to the step count
        it was running to, or ``steps`` more if it got there. Without one, the same as :meth:`run`."""
        vis, built = self._vis, self._built
        if vis is None or built is None:
            self.run()
            return
        if vis.step >= self._goal:
            self._goal = vis.step + self.steps
        updates = vis.steps(self._goal - vis.step)
        self._first = vis.step
        self.submit(lambda job: self.stream(job, built, updates, fresh=False))

    def reset(self) -> None:
        """Stop, then drop the current visualisation and its picture (the next Start or Resume begins anew)."""
        self.stop()
        self.wait()
        with self._lock:
            self._vis, self._built, self._goal = None, None, 0
            with self.hold_sync():
                self.frame, self.final, self.captions, self.curve, self.step = None, None, [], None, 0
                self.progress = 0.0
        self._hint()

    @property
    def visualization(self) -> Optional[Visualization]:
        """The engine's visualisation behind the picture (``image()``, ``curve``, ``step``); ``None`` before Start."""
        return self._vis

    @property
    def chart(self) -> "go.FigureWidget":
        """A plotly chart of the objective at every step, kept up to date while the run goes on."""
        return self._chart_set().widget

    def close(self) -> None:
        super().close()
        self._vis = None

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    @on("reset")
    def _on_reset(self, _request: Request) -> None:
        self.reset()

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> Settings:
        """The current settings, frozen; a kind or batch mode the view cannot run raises naming the valid ones."""
        engine = tuple((o.name, getattr(self, o.name)) for o in VISUALIZATION_OPTIONS)
        settings = Settings(
            self.kind, self.layer, self.unit, self.y, self.x, self.target, self.batch, self.batch_mode,
            tuple(self.units), self.diversity, self.size, engine, self._custom,
        )  # fmt: skip
        settings.objective()  # the batch mode fits the kind
        return settings

    def updates(self, settings: Settings) -> Iterator[Update[Frame]]:
        """A new visualisation (built and checked here, with a probing forward pass) taking ``steps`` steps."""
        vis = settings.build(self._net)
        with self._lock:
            self._vis, self._built, self._goal, self._first = vis, settings, self.steps, 0
        return vis.steps(self.steps)

    def present(
        self, settings: Settings, update: Optional[Update[Frame]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame while the run goes on, a PNG where it ended; ``None``: a new visualisation starts."""
        vis = self._vis
        if vis is None or (update is None and not final):
            return {"frame": None, "final": None, "captions": settings.captions(), "curve": None, "step": 0}
        curve = vis.curve
        if not final:  # the frame last: its observers see its step
            frame = image_strip(update.result.image) if update and update.result is not None else None
            return {"step": vis.step, "curve": curve, "status": self._line(vis, seconds), "frame": frame}
        return {"final": image_strip(vis.image()), "step": vis.step, "curve": curve}

    def summary(self, settings: Settings, update: Optional[Update[Frame]], outcome: str, seconds: float) -> str:
        vis = self._vis
        if vis is None:
            return f"{outcome} before the first step"
        if outcome == "failed":
            return f"failed at step {vis.step}/{self._goal}; the picture is the last good one"
        if outcome == "stopped":
            return f"stopped at {self._line(vis, seconds)}: Resume goes on"
        return f"done: {self._line(vis, seconds)}"

    def _line(self, vis: Visualization, seconds: float) -> str:
        """``step 40/256 · 12.5 steps/s · objective 3.21``."""
        value = vis.curve[-1] if vis.curve else math.nan
        rate = (vis.step - self._first) / max(seconds, 1e-9)
        return f"step {vis.step}/{self._goal} · {rate:.1f} steps/s · objective {value:.4g}"

    # -- settings -------------------------------------------------------------------------------------------
    @traitlets.validate("kind")
    def _check_kind(self, proposal: Any) -> str:
        kinds = self._kinds()
        if proposal.value not in kinds:
            raise FeatureVisError(f"unknown objective kind {proposal.value!r}; choose one of: {', '.join(kinds)}")
        return proposal.value

    def _kinds(self) -> List[str]:
        """The objective kinds on offer: "custom" only while a custom objective is kept."""
        return [*KINDS, CUSTOM] if getattr(self, "_custom", None) is not None else list(KINDS)

    def _adopt(self, objective: Objective) -> None:
        """Show ``objective`` in the pickers, or keep it as the custom kind."""
        found = adopt(objective)
        if found["kind"] == CUSTOM:
            self._custom = objective
        if found["kind"] == "class_logit":
            self._targeted = True
        for name, value in found.items():
            setattr(self, name, value)

    def _offer_kinds(self) -> None:
        """The form's schema for this model: the kinds on offer, the classes it has."""
        schema = describe(SETTINGS)
        schema[0]["choices"] = self._kinds()
        for entry in schema:
            if entry["name"] == "target":
                entry.update(low=0, high=self._net.num_classes - 1)
        self.set_trait("schema", schema)

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
        self.freeze()
        self.error = ""
        self._hint()

    def _hint(self) -> None:
        """Say in the status line what Start (and Resume) would do, unless a run reports its progress there."""
        if self.busy or self.net is None:
            return
        try:
            settings = self.freeze()
        except FeatureVisError:
            return
        vis, what = self._vis, f"{settings.describe()} at {settings.size} px"
        if vis is None:
            self.status = f"press Start to render {what} in {self.steps} steps"
        elif settings == self._built:
            self.status = f"step {vis.step}: Resume goes on, Start begins again"
        else:
            self.status = f"settings changed: Start begins {what}; Resume goes on with the picture's own settings"
