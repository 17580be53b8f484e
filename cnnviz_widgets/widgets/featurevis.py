"""FeatureVisualizer: activation maximisation, live in the cell.

Pick what to maximise (a channel, chosen by its activation map on a photo, a neuron, a whole layer as in DeepDream, or
a class logit), set the settings of :mod:`.objective` and press Start: the gradient ascent streams JPEG frames, paced
by the view's acknowledgements, and ends with a lossless PNG; Stop takes effect within one step, Resume goes on
(:mod:`.ascent`). Batch modes render several channels of a layer at once, or several diverse images of one objective.
Beside the picture, the dataset patches that excite the unit most, when the model has been scanned (:mod:`.examples`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

import traitlets

from ..engine.activations import channel_maps
from ..engine.featurevis import FeatureVisError, Frame, Objective, Visualization
from ..engine.images import ImageLike, sample_image
from ..engine.model import Prediction
from ..engine.progress import Update
from .ascent import Ascent, hint
from .base import shows_errors
from .encoding import encode_array
from .examples import ExamplesView
from .objective import SETTINGS, Settings
from .photo import as_net, check_target, prepare
from .requests import Request, on
from .stream import check_start
from .traits import Array, Picture

if TYPE_CHECKING:
    import plotly.graph_objects as go


class FeatureVisualizer(ExamplesView):
    """What does a unit of the network look for? Optimise a picture so that it fires as strongly as possible
    (activation maximisation: Erhan et al. 2009; Olah et al., "Feature Visualization", Distill 2017), live, beside
    the dataset patches that excite it most when the model has been scanned (``examples``, :meth:`refresh_examples`).

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

    thumbnails = traitlets.Dict(
        help="The layer's channel maps on the photo: {layer, dtype, shape: [C, h, w], buffer}; {} if not spatial."
    ).tag(sync=True)
    frame = Picture("jpeg", help="The latest live frame: the batch side by side, sent as JPEG.")
    final = Picture(help="The batch side by side where the last run ended, sent as PNG.")
    captions = traitlets.List(traitlets.Unicode(), help="One caption per picture of the batch.").tag(sync=True)
    step = traitlets.Int(0, help="Steps the shown visualisation has taken.").tag(sync=True)
    curve = Array(help="The objective at every step so far (while a run goes on: as of its last second or so).")

    _ascent: Optional[Ascent] = None  # class default: close() may run from __del__ of a half-built widget

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
        self.check_names(settings)
        check_start(start)
        net = as_net(net)
        picture = prepare(net, image if image is not None else sample_image("cat"))
        if settings.get("target") is not None:
            check_target(net, settings["target"])
        super().__init__(net, opacity=1.0, colormap=colormap)
        try:
            self._choose(layer, objective, units, settings)
            self.observe(self._show_thumbnails, names="layer")
            self.observe(self._on_target, names="target")
            self.observe(self._on_settings, names=["layer", "units", *(o.name for o in SETTINGS)])
            self._show(picture, settings.get("target"))
            self.start_examples()
            if start:
                self.run()
        except BaseException:
            self.close()  # the arguments were wrong (the engine says why): no half-made view stays behind
            raise

    # -- public ---------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Go on with the current visualisation (with the settings it was started with): up to the step count
        it was running to, or ``steps`` more if it got there. Without one, the same as :meth:`run`."""
        ascent = self._ascent
        if ascent is None:
            self.run()
            return
        updates = ascent.more(self.steps)
        self.submit(lambda job: self.stream(job, ascent.settings, updates, fresh=False))

    def reset(self) -> None:
        """Stop, then drop the current visualisation and its picture (the next Start or Resume begins anew)."""
        self.stop()
        self.wait()
        with self._lock:
            self._ascent = None
            with self.hold_sync():
                self.frame, self.final, self.captions, self.curve, self.step = None, None, [], None, 0
                self.progress = 0.0
        self._hint()

    @property
    def visualization(self) -> Optional[Visualization]:
        """The engine's visualisation behind the picture (``image()``, ``curve``, ``step``); ``None`` before Start."""
        return self._ascent.vis if self._ascent is not None else None

    @property
    def chart(self) -> "go.FigureWidget":
        """A plotly chart of the objective at every step, updated about once a second while the run goes on."""
        return self._chart_set().widget

    def close(self) -> None:
        super().close()
        self._ascent = None

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    @on("reset")
    def _on_reset(self, _request: Request) -> None:
        self.reset()

    # -- the stream -----------------------------------------------------------------------------------------
    def updates(self, settings: Settings) -> Iterator[Update[Frame]]:
        """A new visualisation (built and checked here, with a probing forward pass) taking ``steps`` steps."""
        ascent = Ascent(settings.build(self._net), settings, self.steps)
        with self._lock:
            self._ascent = ascent
        return ascent.more(self.steps)

    def present(
        self, settings: Settings, update: Optional[Update[Frame]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame while the run goes on, a PNG where it ended; ``None``: a new visualisation starts. Nothing for
        a run that a newer Start superseded (the visualisation now is the newer one's)."""
        if update is None and not final:
            return {"frame": None, "final": None, "captions": settings.captions(), "curve": None, "step": 0}
        ascent = self._ascent
        if ascent is None or ascent.settings is not settings:
            return {}
        return ascent.final() if final else ascent.partial(seconds)

    def summary(self, settings: Settings, update: Optional[Update[Frame]], outcome: str, seconds: float) -> str:
        ascent = self._ascent
        return ascent.summary(outcome, seconds) if ascent is not None else f"{outcome} before the first step"

    # -- settings -------------------------------------------------------------------------------------------
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
            return  # the banner says what is wrong
        self.status = hint(self._ascent, settings, self.steps)
