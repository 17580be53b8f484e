"""FastStyleTrainer: fast style transfer (Johnson et al. 2016) as a view. A small feed-forward network learns to paint
any photo in one style, trained in the background on the offline photos; then it stylises a photo in one forward pass.

The style picture and the held-out photo show as thumbnails beside the engine's settings; Start trains, streaming the
held-out photo as the network being trained paints it (JPEG frames, a PNG where a stretch ends), the step, the speed
and the loss terms (the plotly chart of :meth:`FastStyleTrainer.dashboard`); Stop takes effect within a step and
Resume goes on exactly as an uninterrupted run would. The checkpoint stays in Python (:meth:`~FastStyleTrainer.save`):
the page's "Download checkpoint" asks for it and gets its bytes once, in a message, never as a trait (megabytes that
the notebook would keep). :meth:`~FastStyleTrainer.apply` (or a sample or upload from the page, at most
:data:`PAGE_SIDE` px) stylises a photo into ``stylised``. The run itself is :mod:`.fasttraining`, streamed by the
StyleTransfer view's :class:`~.styling.Styling`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, Mapping, Optional, Sequence, Union

import traitlets
from PIL import Image

from ..engine.errors import ViewError
from ..engine.faststyle import FastFrame, training_photos
from ..engine.faststyle.training import HELD_OUT
from ..engine.images import SAMPLES, ImageLike, sample_image
from ..engine.progress import Update
from ..engine.schema import check_settings
from ..engine.style import preset_for
from .fasttraining import FAST_SETTINGS, FastSettings, Training
from .frames import image_strip
from .photo import as_net, read_upload
from .requests import Request, on
from .stream import NetStream, check_start
from .styling import Styling, hint, thumbnails
from .traits import Picture

if TYPE_CHECKING:
    import plotly.graph_objects as go

PREVIEW = "coffee"
"""The bundled photo the preview shows by default (held out of the default training photos)."""
PAGE_SIDE = 1024
"""Longest side in pixels of a photo the page stylises (a sample or an upload); a larger one is resized to it first, so
that a huge upload cannot exhaust memory. Python's :meth:`FastStyleTrainer.apply` takes any size."""
CHECKPOINT_FILE = "faststyle.pt"
"""The name the page saves a downloaded checkpoint under."""


class FastStyleTrainer(NetStream[FastSettings]):
    """Fast style transfer (Johnson, Alahi and Fei-Fei 2016): a transformation network with instance normalisation
    trained, live, to paint photos in one style, judged by a loss network (your model, never changed).

    Parameters
    ----------
    net : Net or nn.Module
        The loss network, e.g. ``cw.load_model()``; its recipe (:func:`~cnnviz_widgets.engine.style.preset_for`)
        gives the layers and weights. Training runs on its device (a GPU when the model is on one).
    style : PIL image, array, tensor, path or bytes
        The style picture.
    preview : image, optional
        The held-out photo the live preview stylises (default: the bundled coffee photo).
    images : sequence of images, optional
        The training photos (default: the offline photo set without the bundled cat and coffee; just the cat when
        scikit-image, whose photos make the set, is not installed).
    start : bool
        Start training at once (``False``: wait for Start or :meth:`run`).
    **settings
        ``steps`` of a run and the engine's :data:`~cnnviz_widgets.engine.faststyle.FAST_OPTIONS` (``size``,
        ``batch``, ``width``, ``blocks``, ``lr``, ``content_weight``, ``style_weight``, ``tv``, ``seed``): see
        ``schema`` for each one's range and meaning. The defaults learn a recognisable style in minutes on a CPU.
    """

    _view = traitlets.Unicode("faststyle").tag(sync=True)
    SETTINGS = FAST_SETTINGS
    CHARTS = "StyleCharts"
    FRAME_INTERVAL = 0.25  # each frame stylises the preview photo once: a few a second, not a step's worth

    recipe = traitlets.Unicode("", help="Whose features and which recipe judge the network.").tag(sync=True)
    notes = traitlets.List(traitlets.Unicode(), help="What the network trains on and what it previews.").tag(sync=True)
    sources = traitlets.Dict(help="Thumbnails {style: PNG, preview: PNG} (the held-out photo).").tag(sync=True)
    samples = traitlets.List(traitlets.Unicode(), read_only=True, help="The bundled photos the page can stylise.").tag(
        sync=True
    )
    frame = Picture("jpeg", help="The latest live frame: the held-out photo painted by the network, JPEG.")
    final = Picture(help="The held-out photo painted by the network where the last stretch ended, PNG.")
    stylised = Picture(help="The photo the last apply() (or sample or upload from the page) stylised, PNG.")
    step = traitlets.Int(0, help="Training steps taken.").tag(sync=True)
    curves = traitlets.Dict(help="The weighted loss terms per step {content, style, tv, total: [float]}.").tag(
        sync=True
    )

    _styling: Optional[Styling[Training]] = None  # class default: close() may run from __del__ of a half-built widget

    def __init__(
        self,
        net: Any,
        style: ImageLike,
        *,
        preview: Optional[ImageLike] = None,
        images: Optional[Sequence[ImageLike]] = None,
        start: bool = True,
        **settings: Any,
    ):
        self.check_names(settings)
        check_start(start)
        net = as_net(net)
        values = check_settings(self.SETTINGS, settings)
        shown = sample_image(PREVIEW) if preview is None else preview
        sources = {"style": thumbnails([style], "style")[0], "preview": thumbnails([shown], "preview")[0]}
        photos = training_photos() if images is None else images
        preset = preset_for(net)
        super().__init__(net)
        try:
            self._pictures = (style, photos, shown)
            self.recipe = f"features of {net.name}, recipe {preset.name}"
            self.sources = sources
            self.set_trait("samples", list(SAMPLES))
            self.notes = [self._trained_on(images, photos), self._previewed(preview)]
            with self.hold_trait_notifications():
                for name, value in values.items():
                    setattr(self, name, value)
            self.observe(self._on_settings, names=list(values))
            if start:
                self.run()
            else:
                self.freeze().build(net)  # what Start would refuse raises now
                self._hint()
        except BaseException:
            self.close()  # the arguments were wrong (the engine says why): no half-made view stays behind
            raise

    @staticmethod
    def _trained_on(images: Any, photos: Union[Sequence[Any], Mapping[str, Any]]) -> str:
        if images is not None:
            return f"trains on the {len(photos)} photo(s) given"
        shared = [name for name in HELD_OUT if name in photos]
        if shared:
            missing = "scikit-image, whose photos it would use, is missing"
            return f"trains on the {' and '.join(shared)} photo alone ({missing})"
        return f"trains on {len(photos)} photo(s) of the offline set (not the {' or '.join(HELD_OUT)})"

    @staticmethod
    def _previewed(preview: Any) -> str:
        return "previews the photo given" if preview is not None else f"previews the held-out {PREVIEW} photo"

    # -- public ---------------------------------------------------------------------------------------------
    @property
    def training(self) -> Optional[Training]:
        """The training behind the view (``run``: the engine's FastStyle); ``None`` before Start."""
        return self._styling.transfer if self._styling is not None else None

    @property
    def chart(self) -> "go.FigureWidget":
        """A plotly chart of the loss terms per step (log scale), updated about once a second while training."""
        return self._chart_set().widget

    def apply(self, image: ImageLike, size: Optional[int] = None) -> Image.Image:
        """``image`` painted in the style by the network as trained so far, in one forward pass; also shown in the
        view (``stylised``).

        Parameters
        ----------
        image : PIL image, array, tensor, path or bytes
            A photo of any size.
        size : int, optional
            Longest side in pixels to resize it to first (16..4096); by default its own.
        """
        picture = image_strip(self._trained().apply(image, size))
        self.stylised = picture
        return picture

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write a checkpoint of the training (weights, optimiser, crops' generator, curves: state dicts and plain
        values) to ``path``; ``cw.engine.faststyle.FastStyle.load(path, net)`` reads it back."""
        return self._trained().save(path)

    def resume(self) -> None:
        """Go on training (with the settings it was started with): up to the step it was running to, or a run's steps
        more if it got there. Without a training, the same as :meth:`run`."""
        styling = self._styling
        if styling is None:
            self.run()
            return
        updates = styling.more()
        self.submit(lambda job: self.stream(job, styling.settings, updates, fresh=False))

    def close(self) -> None:
        super().close()
        self._styling = None

    def _trained(self) -> Training:
        training = self.training
        if training is None:
            raise ViewError("nothing is trained yet: press Start (or call run()) first")
        return training

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    @on("sample")
    def _on_sample(self, request: Request) -> None:
        name = request.text("name")
        self._apply_from_page(sample_image(name), f"the {name} photo")

    @on("upload")
    def _on_upload(self, request: Request) -> None:
        name = request.text("name") or "the file"
        self._apply_from_page(read_upload(name, request.buffers), name)

    def _apply_from_page(self, image: Image.Image, name: str) -> None:
        """Stylise a photo from the page, resized first to :data:`PAGE_SIDE` on its longest side if larger."""
        side = max(image.size)
        if side <= PAGE_SIDE:
            self.apply(image)
            return
        self.apply(image, PAGE_SIDE)
        self.status = (
            f"stylised {name} at {PAGE_SIDE} px, the page's most (it is {side} px); apply() in Python takes any size"
        )

    @on("checkpoint")
    def _on_checkpoint(self, _request: Request) -> None:
        """Download checkpoint: the bytes :meth:`save` would write, answered once (the page saves them as a file)."""
        self.answer({"type": "checkpoint", "name": CHECKPOINT_FILE}, self._trained().checkpoint())

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> FastSettings:
        """The current settings, frozen."""
        engine = tuple((o.name, getattr(self, o.name)) for o in FAST_SETTINGS if o.name != "steps")
        return FastSettings(engine, self.steps, *self._pictures)

    def updates(self, settings: FastSettings) -> Iterator[Update[FastFrame]]:
        """A new training (built and checked here: the style's Gram matrices take a forward pass)."""
        training = settings.build(self._net)
        styling = Styling(training, settings, training.total)
        with self._lock:
            self._styling = styling
        return styling.more()

    def present(
        self, settings: FastSettings, update: Optional[Update[FastFrame]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame while training goes on, a PNG where it stopped; ``None``: a new training starts. Nothing for a
        training that a newer Start superseded."""
        styling = self._styling
        if styling is None or styling.settings is not settings:
            return {}
        if update is None and not final:
            return {"frame": None, "final": None, "curves": {}, "step": 0}
        return styling.final() if final else styling.partial(seconds)

    def summary(self, settings: FastSettings, update: Optional[Update[FastFrame]], outcome: str, seconds: float) -> str:
        """The status line where a stretch ends; nothing for a training that a newer Start superseded."""
        styling = self._styling
        if styling is None:
            return f"{outcome} before the first step"
        return styling.summary(outcome, seconds) if styling.settings is settings else ""

    # -- settings -------------------------------------------------------------------------------------------
    def _on_settings(self, _change: Any) -> None:
        self.error = ""
        self._hint()

    def _hint(self) -> None:
        """Say in the status line what Start (and Resume) would do, unless a training reports its progress there."""
        if not self.busy and self.net is not None:
            what = f"train a network to paint photos in the style ({self.steps} steps on {self.size} px crops)"
            self.status = hint(self._styling, self.freeze(), what)
