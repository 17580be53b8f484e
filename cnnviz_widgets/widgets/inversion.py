"""FeatureInversion: how much of a photo survives at each depth of a network? Reconstruct it from one layer's
features at a time, from noise, side by side, live in the cell.

Tick the layers in the list and press Start: each reconstruction streams as it converges beside the photo, captioned
with its layer and its PSNR against the photo (early layers give the photo back almost exactly, deep ones keep the
parts and lose colour and detail). Stop takes effect within one round of steps, Resume goes on, Download PNG saves the
photo and the reconstructions as one lossless strip. The run's state and status lines live in :mod:`.inverting`.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence

import traitlets
from PIL import Image

from ..engine.dream import photo_tensor
from ..engine.errors import ArgumentTypeError, FeatureVisError, LayerError, ViewError
from ..engine.images import ImageLike, load_image
from ..engine.model import Net, Prediction
from ..engine.progress import Update
from ..engine.style import InversionFrame, check_layers, default_layers, preset_for
from ..engine.style.inversion import INVERSION_TV, Inversion
from .base import shows_errors
from .frames import image_strip
from .inverting import SETTINGS, InversionSettings, Inverting, hint
from .photo import as_net, layer_rows, prepare
from .requests import Request, on
from .stream import StreamView, check_start
from .traits import Checked, Picture


def check_layer_list(net: Net, layers: Any) -> List[str]:
    """``layers`` as a list of distinct layer names of ``net`` with a spatial output; an error naming them otherwise."""
    if isinstance(layers, str) or not isinstance(layers, (list, tuple)):
        example = ", ".join(map(repr, default_layers(net)))
        raise ArgumentTypeError(f"layers must be a list of layer names, e.g. [{example}]; got {layers!r}")
    names = list(layers)
    if not names:
        raise LayerError("choose at least one layer to reconstruct the photo from")
    if not all(isinstance(name, str) for name in names):
        raise ArgumentTypeError(f"layers must be layer names (text), got {names!r}")
    if len(set(names)) != len(names):
        raise LayerError(f"each layer once, please: {', '.join(names)} names one twice")
    check_layers(net, names)
    return names


def check_colour(net: Net) -> None:
    """Raise unless ``net`` takes colour pictures (the reconstructions are compared with a colour photo)."""
    channels = net.preprocess.channels
    if channels != 3:
        raise FeatureVisError(f"feature inversion needs a colour (3-channel) model; {net.name} takes {channels}")


class FeatureInversion(StreamView[InversionSettings]):
    """Feature inversion (Mahendran and Vedaldi 2015): from noise, find a picture whose features at a layer match the
    photo's (an L2 feature loss with a total-variation prior), one picture per layer, optimised side by side.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing. Never changed.
    image : PIL image, array, tensor, path or bytes
        The photo whose features are inverted.
    layers : sequence of str, optional
        The layers to reconstruct from, each with a spatial output (default: a few from shallow to deep,
        :func:`~cnnviz_widgets.engine.style.default_layers`).
    size : int, optional
        Longest side of the photo and the reconstructions in pixels (default: the model's style recipe's).
    steps : int
        Steps per layer of a run.
    tv : float
        Weight of the total-variation prior.
    seed : int
        Seeds the noise every reconstruction starts from.
    start : bool
        Start at once (``False``: wait for Start or :meth:`run`).
    """

    _view = traitlets.Unicode("inversion").tag(sync=True)
    SETTINGS = SETTINGS

    layers = Checked([], "_valid_layers", help="The layers reconstructed from (dotted names), shallow to deep.")
    layer_rows = traitlets.List(traitlets.Dict(), read_only=True, help="Layer list rows {name, type, shape}.").tag(
        sync=True
    )
    model_name = traitlets.Unicode("", help="The network's name, whose features are inverted.").tag(sync=True)
    original = Picture(help="The photo at the reconstructions' size, PNG.")
    frame = Picture("jpeg", help="The latest live frame: the photo, then each layer's reconstruction, side by side.")
    final = Picture(help="The photo and the reconstructions where the last run ended, as PNG (what Download saves).")
    captions = traitlets.List(traitlets.Unicode(), help="One caption per picture: 'photo', then layer and PSNR.").tag(
        sync=True
    )
    psnr = traitlets.List(traitlets.Float(), help="Each reconstruction's PSNR against the photo, in dB.").tag(sync=True)
    step = traitlets.Int(0, help="Steps each reconstruction has taken.").tag(sync=True)

    _inverting: Optional[Inverting] = None  # class default: close() may run from __del__ of a half-built widget
    _photo: Optional[Image.Image] = None

    def __init__(
        self,
        net: Any,
        image: ImageLike,
        layers: Optional[Sequence[str]] = None,
        *,
        size: Optional[int] = None,
        steps: int = 200,
        tv: float = INVERSION_TV,
        seed: int = 0,
        start: bool = True,
    ):
        check_start(start)
        net = as_net(net)
        check_colour(net)
        chosen = check_layer_list(net, layers) if layers is not None else default_layers(net)
        given = dict(size=size, steps=steps, tv=tv, seed=seed)
        values = {o.name: o.check(given[o.name]) for o in SETTINGS}
        picture, photo = prepare(net, image), load_image(image)
        super().__init__(net, opacity=1.0, colormap="gray")
        try:
            self.set_trait("layer_rows", layer_rows(net.layers()))
            self.model_name = net.name
            with self.hold_trait_notifications():
                self.layers = chosen
                for name, value in values.items():
                    setattr(self, name, value)
            self._photo = photo
            self._show(picture, None)
            self.observe(self._on_settings, names=["layers", *values])
            if start:
                self.run()
        except BaseException:
            self.close()  # the arguments were wrong (the engine says why): no half-made view stays behind
            raise

    # -- public ---------------------------------------------------------------------------------------------
    def set_image(self, image: ImageLike, target: Optional[int] = None) -> None:
        """Invert a new photo (the running inversion stops; Start begins on the new one)."""
        picture, photo = prepare(self._net, image), load_image(image)
        self._photo = photo
        self._show(picture, target)

    def resume(self) -> None:
        """Go on with the current reconstructions (with the settings they were started with): up to the step they run
        to, or ``steps`` more each if they got there. Without any, the same as :meth:`run`."""
        inverting = self._inverting
        if inverting is None:
            self.run()
            return
        updates = inverting.more()
        self.submit(lambda job: self.stream(job, inverting.settings, updates, fresh=False))

    @property
    def inversion(self) -> Optional[Inversion]:
        """The engine's :class:`~cnnviz_widgets.engine.style.Inversion` behind the pictures; ``None`` before Start."""
        return self._inverting.inversion if self._inverting is not None else None

    def close(self) -> None:
        super().close()
        self._inverting = None

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> InversionSettings:
        """The current settings, frozen."""
        if self._photo is None:
            raise ViewError("there is no photo to invert yet; load one with set_image(...) or the image picker")
        return InversionSettings(
            self._photo, self._image_id, tuple(self.layers), self.size, self.steps, self.tv, self.seed
        )

    def updates(self, settings: InversionSettings) -> Iterator[Update[InversionFrame]]:
        """A new inversion run to ``steps``: built in the job (each layer's target features take a forward pass of the
        model), so Start answers at once; its settings were checked as they were set."""
        with self._lock:
            self._inverting = None
        inverting = Inverting(settings.build(self._net), settings, settings.steps)
        with self._lock:
            self._inverting = inverting
        yield from inverting.more()

    def present(
        self, settings: InversionSettings, update: Optional[Update[InversionFrame]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame while the run goes on, a PNG where it ended; ``None``: a new run starts. Nothing for a run that
        a newer Start superseded."""
        if update is None and not final:
            what = f"{len(settings.layers)} layer{'s' if len(settings.layers) != 1 else ''}"
            status = f"computing the photo's features at {what}, then the reconstructions start from noise"
            return {"frame": None, "final": None, "captions": [], "psnr": [], "step": 0, "status": status}
        inverting = self._inverting
        if inverting is None or inverting.settings is not settings:
            return {}
        return inverting.traits(seconds, final)

    def summary(
        self, settings: InversionSettings, update: Optional[Update[InversionFrame]], outcome: str, seconds: float
    ) -> str:
        """The status line where a stretch ends; nothing for a run that a newer Start superseded."""
        inverting = self._inverting
        if inverting is None:
            return f"{outcome} before the first step"
        return inverting.summary(outcome, seconds) if inverting.settings is settings else ""

    # -- settings -------------------------------------------------------------------------------------------
    def _valid_layers(self, value: Any) -> List[str]:
        """``value`` if each is a layer of the network with a spatial output (the empty default is read before the
        network is held)."""
        net = self.__dict__.get("_held")
        return check_layer_list(net, value) if net is not None else list(value)

    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        """A new photo: the running inversion stops and its pictures go; the photo shows at the run's size."""
        self.stop()
        self.wait()
        with self._lock:
            self._inverting = None
        with self.hold_sync():
            self._show_original()
            self.frame, self.final, self.captions, self.psnr, self.step = None, None, [], [], 0
            self.progress = 0.0
            self.target = preds[0].index if target is None else int(target)
        self._hint()

    @shows_errors
    def _on_settings(self, change: Any) -> None:
        if change.name == "size":
            self._show_original()
        self.error = ""
        self._hint()

    def _show_original(self) -> None:
        """The photo at the size the reconstructions have."""
        if self._photo is not None:
            side = self.size if self.size is not None else preset_for(self._net).size
            self.original = image_strip(photo_tensor(self._photo, 3, side))

    def _hint(self) -> None:
        """Say in the status line what Start (and Resume) would do, unless a run reports its progress there."""
        if not self.busy and self.net is not None:
            self.status = hint(self._inverting, self.freeze(), self._net)
