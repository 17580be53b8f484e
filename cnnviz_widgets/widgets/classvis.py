"""ClassVisualizer: what does the network take for a class? Pictures optimised to raise the class's score, live.

Pick a class (searchable by name), press Start: the cs231n recipe and the Distill recipe grow side by side (one step of
each in turn, :mod:`.gallery`), each picture captioned with the model's probability of the class; with ``facets`` and a
dataset scan of the model, more pictures grow from the mean images of clusters of the class's scanned images
(multifaceted visualisation). Stop takes effect within one step, Resume goes on, Download PNG saves the pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import traitlets

from ..engine.classvis import CLASS_OPTIONS, PRESETS, ClassVisualization
from ..engine.facets import facet_starts
from ..engine.featurevis import FeatureVisError
from ..engine.progress import Update
from ..engine.scan import latest_scan
from ..engine.schema import Option
from .gallery import Gallery, recipes
from .photo import as_net, check_target
from .requests import Request, on
from .stream import NetStream, check_start
from .traits import Checked, Picture

RECIPES = ("both", *PRESETS)
SETTINGS: Tuple[Option, ...] = (
    Option("recipe", "recipe", "choice", "both", choices=RECIPES, group="recipe",
           help="both: the cs231n and Distill recipes side by side; or one of them"),
    *(o for o in CLASS_OPTIONS if o.name != "preset"),
    Option("facets", "facets", "int", 0, low=0, high=16, group="facets",
           help="pictures started from clusters of the class's images in the model's latest scan (0: none)"),
)  # fmt: skip
"""The view's settings (the class is picked apart, by name)."""


NO_SCAN = "scan a dataset first (cw.DatasetExplorer(net, images) or cw.scan(net, images)), then press Start"
"""What facets need, said where they are asked for without a scan."""


@dataclass(frozen=True)
class Settings:
    """What one Start renders, frozen when it is pressed."""

    target: int
    recipe: str
    steps: Optional[int]
    seed: int
    facets: int


class ClassVisualizer(NetStream[Settings]):
    """Class visualisation (Simonyan et al. 2014; cs231n assignment 3; Olah et al. 2017) and multifaceted class
    visualisation (Nguyen et al. 2016), live.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    target : int
        The class, 0..classes - 1 (the view's picker searches the model's labels).
    start : bool
        Start at once (``False``: wait for Start or :meth:`run`).
    **settings
        ``recipe`` (``"both"``, ``"cs231n"`` or ``"distill"``), ``steps`` (``None``: each recipe's own), ``seed`` and
        ``facets`` (pictures started from clusters of the class's images in the model's latest scan): see ``schema``.
    """

    _view = traitlets.Unicode("classvis").tag(sync=True)
    SETTINGS = SETTINGS

    target = Checked(0, "_valid_target", help="The class whose score is maximised.")
    labels = traitlets.List(traitlets.Unicode(), read_only=True, help="The model's class names, by index.").tag(
        sync=True
    )
    class_label = traitlets.Unicode("", help="Name of class `target`.").tag(sync=True)
    facets_note = traitlets.Unicode("", help="Whether a scan of the model offers facets, and how to get one.").tag(
        sync=True
    )
    frame = Picture("jpeg", help="The latest live frame: the pictures side by side, sent as JPEG.")
    final = Picture(help="The pictures side by side where the last run ended, sent as PNG.")
    captions = traitlets.List(traitlets.Unicode(), help="One caption per picture: its recipe, step, probability.").tag(
        sync=True
    )
    probs = traitlets.List(traitlets.Float(), help="The model's probability of the class for each picture.").tag(
        sync=True
    )
    step = traitlets.Int(0, help="Steps the shown pictures have taken, all together.").tag(sync=True)

    _gallery: Optional[Gallery] = None  # class default: close() may run from __del__ of a half-built widget

    def __init__(self, net: Any, target: int, *, start: bool = True, **settings: Any):
        self.check_names(settings)
        check_start(start)
        net = as_net(net)
        target = check_target(net, target)
        values = {o.name: o.check(settings.get(o.name, o.default)) for o in self.SETTINGS}
        if values["facets"] and latest_scan(net) is None:
            raise FeatureVisError(f"facets need a dataset scan of the model: {NO_SCAN}")
        super().__init__(net)
        try:
            self.set_trait("labels", [net.label(i) for i in range(net.num_classes)])
            with self.hold_trait_notifications():
                for name, value in values.items():
                    setattr(self, name, value)
                self.target = target
            self.class_label = net.label(target)
            self.observe(self._on_change, names=["target", *values])
            self._hint()
            if start:
                self.run()
        except BaseException:
            self.close()
            raise

    # -- public ---------------------------------------------------------------------------------------------
    @property
    def visualizations(self) -> List[ClassVisualization]:
        """The engine's runs behind the pictures (each with ``image()``, ``curve``, ``step``); empty before Start."""
        return list(self._gallery.runs) if self._gallery is not None else []

    def resume(self) -> None:
        """Go on with the current pictures: to the step counts they run to, or that many more if they got there."""
        gallery = self._gallery
        if gallery is None:
            self.run()
            return
        updates = gallery.more(gallery.settings.steps)
        self.submit(lambda job: self.stream(job, gallery.settings, updates, fresh=False))

    def close(self) -> None:
        super().close()
        self._gallery = None

    @on("resume")
    def _on_resume(self, _request: Request) -> None:
        self.resume()

    # -- the stream -----------------------------------------------------------------------------------------
    def freeze(self) -> Settings:
        return Settings(self.target, self.recipe, self.steps, self.seed, self.facets)

    def updates(self, settings: Settings) -> Iterator[Update[None]]:
        """New runs for ``settings`` (built and checked here, facets from the model's latest scan)."""
        net = self._net
        runs = [ClassVisualization(net, settings.target, name, steps=settings.steps, seed=settings.seed)
                for name in recipes(settings.recipe)]  # fmt: skip
        names = list(recipes(settings.recipe))
        if settings.facets:
            scan = latest_scan(net)
            if scan is None:
                raise FeatureVisError(f"facets need a dataset scan of the model: {NO_SCAN}")
            starts = facet_starts(net, scan, settings.target, settings.facets, seed=settings.seed)
            runs.append(ClassVisualization(net, settings.target, "cs231n", steps=settings.steps, seed=settings.seed,
                                           init=starts.images))  # fmt: skip
            names.append("facet")
        gallery = Gallery(runs, names, [run.goal for run in runs], settings)
        with self._lock:
            self._gallery = gallery
        return gallery.more(settings.steps)

    def present(
        self, settings: Settings, update: Optional[Update[None]], seconds: float, final: bool = False
    ) -> Dict[str, Any]:
        """A JPEG frame while the runs go on, a PNG where they ended; ``None``: new runs start. Nothing for runs that
        a newer Start superseded."""
        if update is None and not final:
            return {"frame": None, "final": None, "captions": [], "probs": [], "step": 0}
        gallery = self._gallery
        if gallery is None or gallery.settings is not settings:
            return {}
        return gallery.final() if final else gallery.partial(seconds)

    def summary(self, settings: Settings, update: Optional[Update[None]], outcome: str, seconds: float) -> str:
        gallery = self._gallery
        return gallery.summary(outcome, seconds) if gallery is not None else f"{outcome} before the first step"

    # -- settings -------------------------------------------------------------------------------------------
    def _valid_target(self, value: Any) -> int:
        net = self.__dict__.get("_held")  # None while the widget is made: the constructor checked the target
        return check_target(net, value) if net is not None else int(value)

    def _on_change(self, change: Any) -> None:
        if change.name == "target":
            self.class_label = self._net.label(self.target)
        self._hint()

    def _hint(self) -> None:
        """Say what Start would do (unless a run reports there) and whether facets are on offer."""
        if self.net is None:
            return
        scan = latest_scan(self._net)
        self.facets_note = (
            f"the latest scan ({int(scan.scanned.sum())} images) offers facets: set facets > 0"
            if scan is not None
            else f"facets: {NO_SCAN}"
        )
        if self.busy:
            return
        what = " and ".join(recipes(self.recipe)) + (f" and {self.facets} facets" if self.facets else "")
        gallery = self._gallery
        resume = "; Resume goes on" if gallery is not None and gallery.settings == self.freeze() else ""
        self.status = f"press Start to render class {self.target} ({self.class_label}) by {what}{resume}"
