"""FoolingImage: change a photo a little until the model predicts another class, live in the cell.

Pick the class (search the model's labels, or click one in a top-5 list) and the mode, press Start: the original,
the fooled picture and the change magnified stand side by side, with the top-5 of the photo and of the picture now,
as the engine (:mod:`..engine.fooling`) steps; Stop takes effect within one step, Resume goes on, and the fooled
picture downloads as a lossless PNG. The run's state and status lines live in :mod:`.fooled`.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional

import traitlets

from ..engine.fooling import FOOLING_OPTIONS, Fooled, check_not_predicted
from ..engine.images import ImageLike, load_image
from ..engine.model import Prediction
from ..engine.progress import Update
from ..engine.schema import check_settings
from .base import shows_errors
from .fooled import Attempt, Settings
from .photo import as_net, check_target, prepare
from .requests import Request, on
from .stream import StreamView, check_start
from .traits import Checked, Picture


class FoolingImage(StreamView[Settings]):
    """Fooling images (Szegedy et al. 2014; cs231n assignment 3): the smallest push that makes the model see ``target``
    in ``image``, found by gradient steps on the picture, unconstrained or within ``epsilon`` of the photo.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    image : PIL image, array, tensor, path or bytes
        The photo, e.g. ``cw.sample_image("cat")``.
    target : int
        The class the model should come to predict: a class index other than the photo's top class.
    mode : str
        ``"unconstrained"`` (cs231n's normalised ascent) or ``"bounded"`` (projected gradient within ``epsilon``).
    epsilon : float
        Bounded mode: the largest change of a pixel, in 1/255 of the displayed image.
    start : bool
        Start at once (``False``: wait for Start or :meth:`run`).
    **settings
        ``steps``, ``lr``, ``seed``: see :data:`~cnnviz_widgets.engine.fooling.FOOLING_OPTIONS` (and ``schema``).
    """

    _view = traitlets.Unicode("fooling").tag(sync=True)
    SETTINGS = FOOLING_OPTIONS

    target = Checked(0, "_valid_target", help="The class the model should come to predict.")
    labels = traitlets.List(traitlets.Unicode(), read_only=True, help="The model's class names, by index.").tag(
        sync=True
    )
    frame = Picture("jpeg", help="The latest live frame: the fooled picture and the change magnified, side by side.")
    final = Picture(help="The fooled picture and the change magnified where the last run ended, as PNG.")
    after = traitlets.List(traitlets.Dict(), help="Top-5 rows {index, label, prob} of the fooled picture.").tag(
        sync=True
    )
    step = traitlets.Int(0, help="Steps the shown run has taken.").tag(sync=True)
    reached = traitlets.Bool(False, help="Whether the model predicts the target for the fooled picture.").tag(sync=True)
    gain = traitlets.Float(1.0, help="How many times the shown change is magnified.").tag(sync=True)
    max_change = traitlets.Float(0.0, help="Largest change of a pixel value, in 1/255.").tag(sync=True)
    mean_change = traitlets.Float(0.0, help="Mean change of a pixel value, in 1/255.").tag(sync=True)

    _attempt: Optional[Attempt] = None  # class default: close() may run from __del__ of a half-built widget

    def __init__(
        self,
        net: Any,
        image: ImageLike,
        target: int,
        *,
        mode: str = "unconstrained",
        epsilon: float = 8.0,
        start: bool = True,
        **settings: Any,
    ):
        self.check_names(settings)
        check_start(start)
        net = as_net(net)
        photo = load_image(image)
        picture = prepare(net, photo)
        check_not_predicted(picture.predictions, check_target(net, target))
        check_settings(FOOLING_OPTIONS, {"mode": mode, "epsilon": epsilon, **settings})
        super().__init__(net, opacity=1.0, colormap="gray")
        try:
            self._photo = photo
            self.set_trait("labels", [net.label(i) for i in range(net.num_classes)])
            with self.hold_trait_notifications():
                self.mode, self.epsilon = mode, epsilon
                for name, value in settings.items():
                    setattr(self, name, value)
            self._show(picture, target)
            self.observe(self._on_settings, names=["target", *(o.name for o in FOOLING_OPTIONS)])
            if start:
                self.run()
        except BaseException:
            self.close()
            raise

    # -- public ---------------------------------------------------------------------------------------------
    def set_image(self, image: ImageLike, target: Optional[int] = None) -> None:
        """Show a new photo (see :meth:`PhotoView.set_image`); the class stays unless the model predicts it for the
        new photo, when its runner-up becomes the class."""
        photo = load_image(image)
        picture = prepare(self._net, photo)
        if target is not None:
            check_not_predicted(picture.predictions, check_target(self._net, target))
        self.stop()
        self.wait()
        self._photo = photo
        self._show(picture, target)

    def resume(self) -> None:
        """Go on with the current run (its own settings): up to the step it was running to, or ``steps`` more if it got
        there. Without one, the same as :meth:`run`."""
        attempt = self._attempt
        if attempt is None:
            self.run()
            return
        updates = attempt.more(self.steps)
        self.submit(lambda job: self.stream(job, attempt.settings, updates, fresh=False))

    @property
    def result(self) -> Optional[Fooled]:
        """Where the shown run is (picture, change, top-5 lists); ``None`` before Start."""
        return self._attempt.fooling.frame() if self._attempt is not None else None

    def close(self) -> None:
        super().close()
        self._attempt = None

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> Settings:
        return Settings(self.target, self.mode, self.epsilon, self.steps, self.lr, self.seed, self._image_id)

    def updates(self, settings: Settings) -> Iterator[Update[Fooled]]:
        """A new run (built and checked here), taking up to ``steps`` steps."""
        attempt = Attempt(settings.build(self._net, self._photo), settings, settings.steps)
        with self._lock:
            self._attempt = attempt
        return attempt.more(settings.steps)

    def present(
        self, settings: Settings, update: Optional[Update[Fooled]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame while the run goes on, a PNG where it ended; nothing for a run a newer Start superseded."""
        if update is None and not final:
            return {"frame": None, "final": None, "after": [], "step": 0, "reached": False, "gain": 1.0,
                    "max_change": 0.0, "mean_change": 0.0}  # fmt: skip
        attempt = self._attempt
        if attempt is None or attempt.settings is not settings:
            return {}
        return attempt.traits(seconds, final)

    def summary(self, settings: Settings, update: Optional[Update[Fooled]], outcome: str, seconds: float) -> str:
        attempt = self._attempt
        return attempt.summary(outcome, seconds) if attempt is not None else f"{outcome} before the first step"

    # -- the class ------------------------------------------------------------------------------------------
    def _valid_target(self, value: Any) -> int:
        if getattr(self, "_held", None) is None:
            return value
        index = check_target(self._net, value)
        check_not_predicted([Prediction(**row) for row in self.predictions], index)
        return index

    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        """A new photo: a new run; the class stays unless the model predicts it now (then the runner-up)."""
        self._attempt = None
        with self.hold_sync():
            self.frame, self.final, self.after, self.step, self.reached = None, None, [], 0, False
        if target is not None:
            self.target = int(target)
        elif self.target == preds[0].index:
            self.target = preds[1].index
        self._hint()

    @shows_errors
    def _on_settings(self, _change: Any) -> None:
        self.error = ""
        self._hint()

    def _hint(self) -> None:
        """Say in the status line what Start would do, unless a run reports its progress there."""
        if self.busy or self._held is None:
            return
        settings = self.freeze()
        attempt = self._attempt
        if attempt is not None and settings == attempt.settings:
            self.status = f"step {attempt.fooling.step}: Resume goes on, Start begins again"
        else:
            self.status = f"press Start to {settings.describe(self._net)}"
