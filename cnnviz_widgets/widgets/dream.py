"""DeepDream: amplify what a layer sees in a photo, octave by octave, live in the cell.

Pick a layer (or a channel of it, or a class), set the octaves, steps and strength, and press Start: each octave's
picture streams as JPEG frames, paced by the view's acknowledgements, and the full-size dream ends as a lossless PNG
beside the photo, compared with a draggable before/after divider. Stop takes effect within one step; Resume goes on
(:mod:`.dreaming`).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

import traitlets
from PIL import Image

from ..engine.dream import DREAM_OPTIONS, DreamFrame, photo_tensor
from ..engine.errors import ViewError
from ..engine.images import ImageLike, load_image
from ..engine.layers import default_layer
from ..engine.model import Prediction
from ..engine.names import resolve_layer
from ..engine.progress import Update
from ..engine.schema import check_settings, describe
from .base import shows_errors
from .dreaming import SETTINGS, Dreaming, DreamSettings, hint
from .frames import image_strip
from .photo import as_net, check_target, layer_rows, prepare
from .requests import Request, on
from .stream import StreamView, check_start
from .traits import Checked, Picture


class DeepDream(StreamView[DreamSettings]):
    """What does a layer see in this photo? Amplify it (DeepDream: Mordvintsev, Olah and Tyka, 2015): gradient
    ascent on the photo itself, from a small copy up to full size in octaves, so that whatever the layer responds to
    grows into the picture.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    image : PIL image, array, tensor, path or bytes
        The photo to dream on (resized so that its longest side is ``size``).
    layer : str, optional
        The layer to amplify; default: a block two thirds of the way up.
    guide : image, optional
        Dream towards this picture's features at the layer instead (the ``layer`` kind only).
    start : bool
        Start the first dream at once (``False``: wait for Start or :meth:`run`).
    **settings
        ``kind`` (``layer``, ``channel``, ``class_logit``), ``unit``, ``target``, ``size`` and the engine's
        :data:`~cnnviz_widgets.engine.dream.DREAM_OPTIONS` (``octaves``, ``scale``, ``steps``, ``lr``, ``jitter``,
        ``tile``, ``seed``): see ``schema`` for each one's range and meaning.
    """

    _view = traitlets.Unicode("dream").tag(sync=True)
    SETTINGS = SETTINGS

    layer = Checked("", "_valid_layer", help="The layer amplified (dotted name).")
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    class_label = traitlets.Unicode("", help="Name of class `target`.").tag(sync=True)
    original = Picture(help="The photo at the dream's size: the 'before' of the comparison, PNG.")
    frame = Picture("jpeg", help="The latest live frame: the current octave's picture, JPEG.")
    final = Picture(help="The full-size dream where the last run ended, PNG (what Download PNG saves).")
    step = traitlets.Int(0, help="Steps the dream has taken over all octaves.").tag(sync=True)
    octave = traitlets.Int(0, help="The octave being dreamt (0: the smallest).").tag(sync=True)
    norms = traitlets.List(traitlets.Float(), help="The amplified layer's norm after each finished octave.").tag(
        sync=True
    )

    _dreaming: Optional[Dreaming] = None  # class default: close() may run from __del__ of a half-built widget
    _photo: Optional[Image.Image] = None

    def __init__(
        self,
        net: Any,
        image: ImageLike,
        layer: Optional[str] = None,
        *,
        guide: Optional[ImageLike] = None,
        start: bool = True,
        **settings: Any,
    ):
        self.check_names(settings)
        check_start(start)
        net = as_net(net)
        check_settings(SETTINGS, settings)
        if layer is not None:
            resolve_layer(net.model, layer)
        if settings.get("target") is not None:
            check_target(net, settings["target"])
        self._guide = load_image(guide) if guide is not None else None
        picture, photo = prepare(net, image), load_image(image)
        super().__init__(net, opacity=1.0, colormap="inferno")
        try:
            records = net.layers()
            self.set_trait("layers", layer_rows(records))
            with self.hold_trait_notifications():
                self.layer = layer if layer is not None else default_layer(net.model, records)
                for name, value in settings.items():
                    setattr(self, name, value)
            schema = describe(SETTINGS)
            for entry in schema:
                if entry["name"] == "target":
                    entry.update(low=0, high=net.num_classes - 1)
            self.set_trait("schema", schema)
            self.observe(self._on_settings, names=["layer", *(o.name for o in SETTINGS)])
            self._photo = photo
            self._show(picture, settings.get("target"))
            if start:
                self.run()
            else:
                self.freeze().build(net)  # what Start would refuse (a unit out of range, a bad guide) raises now
        except BaseException:
            self.close()  # the arguments were wrong (the engine says why): no half-made view stays behind
            raise

    # -- public ---------------------------------------------------------------------------------------------
    def set_image(self, image: ImageLike, target: Optional[int] = None) -> None:
        """Dream on a new photo (the running dream stops; Start begins on the new one)."""
        picture, photo = prepare(self._net, image), load_image(image)
        self._photo = photo
        self._show(picture, target)

    def resume(self) -> None:
        """Go on with the current dream (with the settings it was started with): up to its last octave's end, or one
        octave's steps more at full size if it got there. Without one, the same as :meth:`run`."""
        dreaming = self._dreaming
        if dreaming is None:
            self.run()
            return
        updates = dreaming.more()
        self.submit(lambda job: self.stream(job, dreaming.settings, updates, fresh=False))

    @property
    def dream(self) -> Any:
        """The engine's :class:`~cnnviz_widgets.engine.dream.Dream` behind the picture; ``None`` before Start."""
        return self._dreaming.dream if self._dreaming is not None else None

    def close(self) -> None:
        super().close()
        self._dreaming = None

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> DreamSettings:
        """The current settings, frozen."""
        if self._photo is None:
            raise ViewError("there is no photo to dream on yet; load one with set_image(...) or the image picker")
        engine = tuple((o.name, getattr(self, o.name)) for o in DREAM_OPTIONS)
        return DreamSettings(
            self._photo, self._image_id, self.kind, self.layer, self.unit, self.target, self.size, engine, self._guide
        )

    def updates(self, settings: DreamSettings) -> Iterator[Update[DreamFrame]]:
        """A new dream (built and checked here, with probing forward passes) through all its octaves."""
        dream = settings.build(self._net)
        dreaming = Dreaming(dream, settings, dream.total)
        with self._lock:
            self._dreaming = dreaming
        return dreaming.more()

    def present(
        self, settings: DreamSettings, update: Optional[Update[DreamFrame]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame of the octave while the dream goes on, the full-size PNG where it ended; ``None``: a new
        dream starts. Nothing for a run that a newer Start superseded."""
        if update is None and not final:
            return {"frame": None, "final": None, "step": 0, "octave": 0, "norms": []}
        dreaming = self._dreaming
        if dreaming is None or dreaming.settings is not settings:
            return {}
        return dreaming.final() if final else dreaming.partial(seconds)

    def summary(
        self, settings: DreamSettings, update: Optional[Update[DreamFrame]], outcome: str, seconds: float
    ) -> str:
        dreaming = self._dreaming
        return dreaming.summary(outcome, seconds) if dreaming is not None else f"{outcome} before the first step"

    # -- settings -------------------------------------------------------------------------------------------
    def _valid_layer(self, value: Any) -> str:
        """``value`` if the network has such a layer (the empty default is read before the network is held)."""
        if value != "" or getattr(self, "_held", None) is not None:
            resolve_layer(self._net.model, value)
        return str(value)

    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        self.stop()
        self.wait()
        with self._lock:
            self._dreaming = None
        with self.hold_sync():
            self._show_original()
            self.frame, self.final, self.step, self.octave, self.norms = None, None, 0, 0, []
            self.progress = 0.0
            self.target = preds[0].index if target is None else int(target)
        self.class_label = self._net.label(self.target)
        self._hint()

    @shows_errors
    def _on_settings(self, change: Any) -> None:
        if change.name == "target":
            self.class_label = self._net.label(self.target)
        if change.name == "size":
            self._show_original()
        self.error = ""
        self._hint()

    def _show_original(self) -> None:
        """The photo at the dream's size: the "before" of the comparison."""
        if self._photo is not None:
            self.original = image_strip(photo_tensor(self._photo, self._net.preprocess.channels, self.size))

    def _hint(self) -> None:
        """Say in the status line what Start (and Resume) would do, unless a run reports its progress there."""
        if not self.busy and self.net is not None:
            self.status = hint(self._dreaming, self.freeze())
