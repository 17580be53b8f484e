"""StyleTransfer and TextureSynthesis: a picture optimised, live, to have a photo's content and other pictures' style
(Gatys et al. 2016), or a texture grown from noise with a picture's Gram statistics (Gatys et al. 2015).

The content photo and the style pictures show as thumbnails, each style with its share of the blend, beside the
weight of every style layer and the engine's settings; Start streams JPEG frames and the loss terms (the plotly chart
of :meth:`StyleTransfer.dashboard` draws them on a log scale), the picture ends as a PNG, Stop takes effect within a
step and Resume goes on (:mod:`.styling`). The view says whose features and which recipe are in use, and what was done
to the inputs (a style picture resized or turned RGB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Union

import traitlets

from ..engine.featurevis import FeatureVisError
from ..engine.images import ImageLike
from ..engine.progress import Update
from ..engine.schema import check_settings
from ..engine.style import STYLE_OPTIONS, StyleFrame, Transfer, preset_for
from .photo import as_net
from .requests import Request, on
from .stream import NetStream, check_start
from .styling import (
    TEXTURE_SETTINGS,
    TRANSFER_SETTINGS,
    Layers,
    StyleSettings,
    Styling,
    check_weights,
    hint,
    style_layers,
    thumbnails,
)
from .traits import Checked, Picture

if TYPE_CHECKING:
    import plotly.graph_objects as go


class StyleTransfer(NetStream[StyleSettings]):
    """Style transfer (Gatys, Ecker and Bethge 2016) on any CNN, live: the content photo's features at one layer and
    the style pictures' Gram matrices at several, matched by optimising the picture's pixels.

    Parameters
    ----------
    net : Net or nn.Module
        The network whose features are matched, e.g. ``cw.load_model()`` (never changed). Its recipe
        (:func:`~cnnviz_widgets.engine.style.preset_for`) gives the layers and weights.
    content : PIL image, array, tensor, path or bytes
        The photo whose content is kept.
    styles : image or sequence of images
        The style pictures (any size or mode: resized and turned RGB, with a note).
    style_weights : sequence of float, optional
        Each style picture's share of the blend (default: equal); the view edits them too.
    layers : sequence of str or dict of str to float, optional
        The style layers or ``{layer: weight}``; default: the recipe's. Listed layers share the recipe's style weight
        when its weights are relative, and keep their own when they are absolute (then a layer the recipe has no
        weight for needs the dict).
    start : bool
        Start at once (``False``: wait for Start or :meth:`run`).
    **settings
        ``size`` and ``steps`` (``None``: the recipe's) and the engine's
        :data:`~cnnviz_widgets.engine.style.STYLE_OPTIONS` (``balance``, ``tv``, ``remedy``, ``init``,
        ``style_scale``, ``keep_colors``, ``optimizer``, ``seed``): see ``schema`` for each one's range and meaning.
    """

    _view = traitlets.Unicode("style").tag(sync=True)
    SETTINGS = TRANSFER_SETTINGS
    CHARTS = "StyleCharts"
    WHAT = "style"

    mode = traitlets.Unicode("transfer", read_only=True, help="transfer or texture: what the view makes.").tag(
        sync=True
    )
    recipe = traitlets.Unicode("", help="Whose features and which recipe are in use.").tag(sync=True)
    notes = traitlets.List(traitlets.Unicode(), help="What was done to the inputs (resizing, modes).").tag(sync=True)
    sources = traitlets.Dict(help="Thumbnails {content: PNG (absent for a texture), styles: [PNG]}.").tag(sync=True)
    style_weights = Checked([], "_valid_style_weights", help="Each style picture's weight in the blend.")
    style_layers = traitlets.List(traitlets.Unicode(), read_only=True, help="The style layers, in order.").tag(
        sync=True
    )
    layer_weights = Checked([], "_valid_layer_weights", help="Each style layer's weight (as style_layers).")
    frame = Picture("jpeg", help="The latest live frame: the picture being optimised, JPEG.")
    final = Picture(help="The picture where the last run ended, PNG (what Download PNG saves).")
    step = traitlets.Int(0, help="Steps the picture has taken.").tag(sync=True)
    curves = traitlets.Dict(help="The weighted loss terms per step {content, style, tv, total: [float]}.").tag(
        sync=True
    )

    _styling: Optional[Styling[Transfer]] = None  # class default: close() may run from __del__ of a half-built widget
    _count = 0

    def __init__(
        self,
        net: Any,
        content: ImageLike,
        styles: Union[ImageLike, Sequence[ImageLike]],
        *,
        style_weights: Optional[Sequence[float]] = None,
        layers: Layers = None,
        start: bool = True,
        **settings: Any,
    ):
        self._open(net, content, styles, style_weights, layers, start, settings)

    def _open(self, net: Any, content: Any, styles: Any, weights: Any, layers: Layers, start: bool, settings: Any):
        """Check every argument, then make the view (and start it)."""
        self.check_names(settings)
        check_start(start)
        net = as_net(net)
        values = check_settings(self.SETTINGS, settings)
        listed = tuple(styles) if isinstance(styles, (list, tuple)) else (styles,)
        if not listed:
            raise FeatureVisError(f"no {self.WHAT} pictures: give one, or a list of several to blend")
        sources: Dict[str, Any] = {"styles": thumbnails(listed, self.WHAT)}
        if content is not None:
            sources["content"] = thumbnails([content], "content")[0]
        preset = preset_for(net)
        pairs = style_layers(net, preset, layers)
        mix = self._mix(weights if weights is not None else [1.0] * len(listed), len(listed))
        super().__init__(net)
        try:
            self._preset, self._content, self._styles, self._count = preset, content, listed, len(listed)
            given = ", style layers as given" if layers is not None else ""
            self.recipe = f"features of {net.name}, recipe {preset.name}{given}"
            self.sources = sources
            self.set_trait("style_layers", [name for name, _ in pairs])
            with self.hold_trait_notifications():
                self.style_weights, self.layer_weights = list(mix), [weight for _, weight in pairs]
                for name, value in values.items():
                    setattr(self, name, value)
            self.observe(self._on_settings, names=["style_weights", "layer_weights", *values])
            if start:
                self.run()
            else:
                self.notes = list(self.freeze().build(net, preset).notes)  # what Start would refuse raises now
                self._hint()
        except BaseException:
            self.close()  # the arguments were wrong (the engine says why): no half-made view stays behind
            raise

    # -- public ---------------------------------------------------------------------------------------------
    @property
    def transfer(self) -> Optional[Transfer]:
        """The engine's run behind the picture (``image()``, ``curves``, ``step``); ``None`` before Start."""
        return self._styling.transfer if self._styling is not None else None

    @property
    def chart(self) -> "go.FigureWidget":
        """A plotly chart of the loss terms per step (log scale), updated about once a second while a run goes on."""
        return self._chart_set().widget

    def resume(self) -> None:
        """Go on with the current picture (with the settings it was started with): up to the step it was running to,
        or a run's steps more if it got there. Without one, the same as :meth:`run`."""
        styling = self._styling
        if styling is None:
            self.run()
            return
        updates = styling.more()
        self.submit(lambda job: self.stream(job, styling.settings, updates, fresh=False))

    def close(self) -> None:
        super().close()
        self._styling = None

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> StyleSettings:
        """The current settings, frozen."""
        offered = {o.name for o in STYLE_OPTIONS}
        engine = tuple((o.name, getattr(self, o.name)) for o in self.SETTINGS if o.name in offered)
        layers = tuple(zip(self.style_layers, self.layer_weights))
        return StyleSettings(engine + self._fixed(), self.size, self.steps, tuple(self.style_weights), layers,
                             self._content, self._styles)  # fmt: skip

    def _fixed(self) -> tuple:
        """Engine settings the view does not offer."""
        return ()

    def updates(self, settings: StyleSettings) -> Iterator[Update[StyleFrame]]:
        """A new run (built and checked here: the targets take a few forward passes) of ``steps`` steps."""
        transfer = settings.build(self._net, self._preset)
        styling = Styling(transfer, settings, transfer.total)
        with self._lock:
            self._styling = styling
        return styling.more()

    def present(
        self, settings: StyleSettings, update: Optional[Update[StyleFrame]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame while the run goes on, a PNG where it ended; ``None``: a new run starts (with its notes).
        Nothing for a run that a newer Start superseded."""
        styling = self._styling
        if styling is None or styling.settings is not settings:
            return {}
        if update is None and not final:
            return {"frame": None, "final": None, "curves": {}, "step": 0, "notes": list(styling.transfer.notes)}
        return styling.final() if final else styling.partial(seconds)

    def summary(
        self, settings: StyleSettings, update: Optional[Update[StyleFrame]], outcome: str, seconds: float
    ) -> str:
        """The status line where a stretch ends; nothing for a run that a newer Start superseded."""
        styling = self._styling
        if styling is None:
            return f"{outcome} before the first step"
        return styling.summary(outcome, seconds) if styling.settings is settings else ""

    # -- settings -------------------------------------------------------------------------------------------
    def _mix(self, value: Any, count: int) -> List[float]:
        weights = check_weights(f"{self.WHAT}_weights", value, count)
        if not sum(weights):
            raise FeatureVisError(f"{self.WHAT}_weights must not all be 0: give each picture a share of the blend")
        return list(weights)

    def _valid_style_weights(self, value: Any) -> List[float]:
        if "_held" not in self.__dict__:  # the empty default, read while the widget is made
            return list(value)
        return self._mix(value, self._count)

    def _valid_layer_weights(self, value: Any) -> List[float]:
        if "_held" not in self.__dict__:
            return list(value)
        return list(check_weights("layer_weights", value, len(self.style_layers)))

    def _on_settings(self, _change: Any) -> None:
        self.error = ""
        self._hint()

    def _hint(self) -> None:
        """Say in the status line what Start (and Resume) would do, unless a run reports its progress there."""
        if not self.busy and self.net is not None:
            self.status = hint(self._styling, self.freeze(), self._goal())

    def _goal(self) -> str:
        size = self.size if self.size is not None else self._preset.size
        blend = f"a blend of {self._count} style pictures" if self._count > 1 else "the style picture"
        return f"paint the content photo in {blend} at {size} px"


class NotForTextures:
    """In place of a StyleTransfer setting that a texture has no use for (there is no content photo): reading or
    setting it raises, saying so, and it is no trait, so it is neither synced nor handed to the engine."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _refuse(self) -> AttributeError:
        return AttributeError(f"a texture has no {self.name}: it grows from noise, with no content photo")

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self
        raise self._refuse()

    def __set__(self, obj: Any, value: Any) -> None:
        raise self._refuse()


class TextureSynthesis(StyleTransfer):
    """Texture synthesis (Gatys, Ecker and Bethge 2015), live: a picture grown from noise until the Gram matrices of
    its features match a texture's at the style layers, whose weights are the view's controls.

    Parameters
    ----------
    net : Net or nn.Module
        The network whose features are matched (never changed).
    texture : image or sequence of images
        The texture (several: their statistics blended by ``style_weights``).
    size : int
        Side of the square picture in pixels.
    style_weights, layers, start
        As for :class:`StyleTransfer`.
    **settings
        ``steps`` and the engine's ``tv``, ``remedy``, ``style_scale``, ``optimizer``, ``seed``: see ``schema``.
    """

    SETTINGS = TEXTURE_SETTINGS
    WHAT = "texture"

    mode = traitlets.Unicode("texture", read_only=True, help="transfer or texture: what the view makes.").tag(sync=True)
    balance = NotForTextures()
    init = NotForTextures()
    keep_colors = NotForTextures()

    def __init__(
        self,
        net: Any,
        texture: Union[ImageLike, Sequence[ImageLike]],
        *,
        size: int = 256,
        style_weights: Optional[Sequence[float]] = None,
        layers: Layers = None,
        start: bool = True,
        **settings: Any,
    ):
        self._open(net, None, texture, style_weights, layers, start, {**settings, "size": size})

    def _fixed(self) -> tuple:
        return (("init", "noise"),)

    def _goal(self) -> str:
        return f"grow a {self.size} px texture from noise"
