"""SaliencyExplorer: an image, its top-5 classes as a class picker, and attribution heat-maps over it.

Every attribution method of the engine is in the picker, with its options; a compare grid shows all of
them side by side; the sanity check and deletion/insertion curves say whether a map is faithful.

Computed maps are cached by everything they depend on (image, class, method, layer, options), so going
back to an earlier setting, or opening the compare grid after looking at one method, costs nothing. The
traits the view draws from (``heatmap``, ``maps``, ``sanity``, ``curves``) are always derived from that
cache for the *current* settings, which makes a late result of a superseded job harmless.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, List, NamedTuple, Optional, Tuple

import torch
import traitlets

from ..engine.attribution import (
    LAYER_METHODS,
    METHODS,
    AttributionError,
    Explanation,
    deletion_insertion_steps,
    explain_steps,
    get_method,
    sanity_check_steps,
)
from ..engine.attribution.methods import base_options, check_options
from ..engine.errors import ViewError
from ..engine.images import ImageError, ImageLike
from ..engine.layers import cam_layer
from ..engine.model import Prediction
from .analyses import curves_line, curves_value, sanity_line, sanity_value
from .base import shows_errors
from .jobs import Job
from .photo import PhotoView, as_net, check_target, layer_rows, prepare
from .requests import Request, on
from .traits import Heatmap, HeatmapDict, HeatmapTrait

if TYPE_CHECKING:
    import ipywidgets

    from .charts import AnalysisCharts

SANITY_STEPS = 6
CURVE_STEPS = 20
CACHE_SIZE = 64
"""Maps kept per explorer (224x224 float32 maps: about 13 MB)."""

Options = Dict[str, Dict[str, Any]]
Key = Tuple[int, int, str, Optional[str], Tuple[Tuple[str, Any], ...]]


class Computed(NamedTuple):
    """One method's display map ``(H, W)`` and the status line describing it."""

    map: torch.Tensor
    note: str


@dataclass(frozen=True)
class Settings:
    """Everything one map depends on, frozen when a job is submitted (the traits may change meanwhile)."""

    key: Key
    method: str
    layer: Optional[str]
    options: Dict[str, Any]
    x: torch.Tensor
    target: int


class SaliencyExplorer(PhotoView):
    """Which pixels made the network say this class? Pick a class, a method, its options and (for the
    Grad-CAM family) a layer; compare all methods at once; check a map with randomisation and deletion.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    image : PIL image, array, tensor, path or bytes
        The photo to explain.
    method : str
        One of ``engine.METHODS`` (``"gradcam"`` by default).
    layer : str, optional
        Layer for the Grad-CAM family (dotted name); defaults to the last convolutional block.
    target : int, optional
        Class to explain; defaults to the top prediction.
    options : dict, optional
        ``{method: {option: value}}`` overriding the defaults, e.g. ``{"smoothgrad": {"samples": 50}}``. The
        noise tunnel (``smoothgrad``) runs its ``over`` method with that method's options.
    forward_args : tuple
        Extra arguments of the model's forward after the image, given to every attribution, sanity check and
        deletion/insertion run (see :func:`~cnnviz_widgets.engine.explain`); a tensor has one row (the image).
        The top-5 predictions and the layer table are computed without them, so the model must also run on
        the image alone (give its extra arguments defaults).
    compare : bool
        Start with the grid of all methods.
    opacity : float
        Initial heat-map opacity (0..1); the sliders then change it in the browser only.
    colormap : str
        Initial colour map: ``inferno``, ``viridis``, ``jet`` or ``gray``.
    """

    _view = traitlets.Unicode("saliency").tag(sync=True)

    method = traitlets.Unicode("gradcam", help="Attribution method shown in the main view.").tag(sync=True)
    methods = traitlets.List(
        traitlets.Dict(), read_only=True, help="Method.describe() of every method: {name, title, layer, options}."
    ).tag(sync=True)
    options = traitlets.Dict(help="{method: {option: value}} for every method, defaults filled in.").tag(sync=True)
    layer = traitlets.Unicode("", help="Layer of the Grad-CAM family (dotted name).").tag(sync=True)
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    heatmap = HeatmapTrait(help="The current method's map, aligned with `image`.")
    compare = traitlets.Bool(False, help="Show the grid of every method.").tag(sync=True)
    maps = HeatmapDict(help="Compare grid: {method: Heatmap}, filled as maps finish.")
    sanity = traitlets.Dict(
        help="Sanity check of the current map: {method, layer, names, correlation, maps: (S+1, H, W) array}."
    ).tag(sync=True)
    curves = traitlets.Dict(
        help="Deletion/insertion of the current map: "
        "{method, fractions, deletion, insertion, deletion_auc, insertion_auc}."
    ).tag(sync=True)

    _charts: Optional["AnalysisCharts"] = None  # class default: close() may run from __del__ of a half-built widget

    def __init__(
        self,
        net: Any,
        image: ImageLike,
        *,
        method: str = "gradcam",
        layer: Optional[str] = None,
        target: Optional[int] = None,
        options: Optional[Options] = None,
        forward_args: Tuple[Any, ...] = (),
        compare: bool = False,
        opacity: float = 0.5,
        colormap: str = "inferno",
    ):
        net = as_net(net)
        applied = check_options(options or {})
        get_method(method)
        records = net.layers()
        rows = layer_rows(records)
        layer = cam_layer(net.model, records, layer) if rows or layer is not None else ""
        picture = prepare(net, image)
        if target is not None:
            check_target(net, target)
        super().__init__(net, opacity=opacity, colormap=colormap)
        self._applied = applied
        self._records = records
        self._forward_args = forward_args
        self._cache: Dict[Key, Computed] = {}
        self._analysed: Dict[str, Key] = {}
        self._grid: Optional[Tuple[Job, FrozenSet[Key]]] = None  # the running compare job and its maps
        self.set_trait("methods", [m.describe() for m in METHODS.values()])
        self.set_trait("layers", rows)
        with self.hold_trait_notifications():
            self.options = applied
            self.method = method
            self.compare = compare
            self.layer = layer
        self.observe(self._on_settings, names=["target", "layer"])
        self.observe(self._on_method, names="method")
        self.observe(self._on_options, names="options")
        self.observe(self._on_compare, names="compare")
        self._show(picture, target)

    # -- public ---------------------------------------------------------------------------------------------
    def run_sanity_check(self, steps: int = SANITY_STEPS) -> None:
        """Recompute the current map while the model's layers are randomised top-down (Adebayo et al. 2018).

        The result lands in ``sanity`` (and :attr:`charts`); a faithful map decorrelates from the original.
        The work runs in the background after any running job; :meth:`wait` blocks until it is done.

        Parameters
        ----------
        steps : int
            Groups of layers randomised one after the other (on a copy of the model).
        """
        s, net, title = self._freeze(self.method), self._net, METHODS[self.method].title

        def work(job: Job) -> None:
            job.progress(0.0, f"sanity check of {title}: randomising the model in {steps} steps…")
            updates = sanity_check_steps(net, s.x, s.target, s.method, s.layer, options=s.options,
                                         forward_args=self._forward_args, steps=steps)  # fmt: skip
            result = job.follow(updates)
            self._store_analysis("sanity", s.key, sanity_value(s.method, s.layer, result))
            job.progress(1.0, sanity_line(title, result))

        self.submit(work, queue=True)

    def run_deletion_insertion(self, steps: int = CURVE_STEPS) -> None:
        """Deletion and insertion curves of the current map (Petsiuk et al. 2018), into ``curves``.

        Runs in the background after any running job (which is usually computing that very map).

        Parameters
        ----------
        steps : int
            Pixel fractions between 0 and 1 at which the class probability is measured.
        """
        s, net, title = self._freeze(self.method), self._net, METHODS[self.method].title

        def work(job: Job) -> None:
            computed = self._cache.get(s.key) or self._produce(job, s, 0.0, 0.5, "")
            job.progress(0.5, f"deleting and inserting pixels in {title} order…")
            updates = deletion_insertion_steps(net, s.x, computed.map, s.target, steps, forward_args=self._forward_args)
            result = job.follow(updates, 0.5, 1.0)
            self._store_analysis("curves", s.key, curves_value(s.method, result))
            job.progress(1.0, curves_line(title, result))

        self.submit(work, queue=True)

    @property
    def charts(self) -> "ipywidgets.VBox":
        """Plotly charts of ``sanity`` (rank correlation per step) and ``curves``, kept up to date."""
        if self._charts is None:
            from .charts import AnalysisCharts

            self._charts = AnalysisCharts(self)
        return self._charts.box

    def dashboard(self) -> "ipywidgets.HBox":
        """The explorer with its :attr:`charts` beside it."""
        from .charts import dashboard

        return dashboard(self, self.charts)

    def close(self) -> None:
        super().close()
        if self._charts is not None:
            self._charts.close()
        self._cache = {}

    # -- front-end wanted ---------------------------------------------------------------------------------
    @on("run")
    def _on_run(self, request: Request) -> None:
        """The analysis buttons: ``what`` is ``"sanity"`` or ``"faithfulness"``."""
        what = request.text("what")
        if what not in ANALYSES:
            raise ViewError(f"unknown analysis {what!r}; choose one of: {', '.join(ANALYSES)}")
        ANALYSES[what](self)

    # -- settings -------------------------------------------------------------------------------------------
    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        self._cache.clear()
        new_target = preds[0].index if target is None else int(target)
        if new_target != self.target:
            self.target = new_target  # its observer shows and computes
        else:
            self._on_settings(None)

    @shows_errors
    def _on_settings(self, _change: Any) -> None:
        self._publish()
        self._refresh()

    @shows_errors
    def _on_method(self, _change: Any) -> None:
        get_method(self.method)  # an unknown name: the banner lists the valid ones
        self._publish()
        cached = self._cache.get(self._key(self.method))
        if cached is not None:
            self.status = cached.note
        self._refresh()

    @shows_errors
    def _on_options(self, change: Any) -> None:
        try:
            checked = check_options(change.new)
        except AttributionError:
            self.options = self._applied  # the view's controls go back to the values in use
            raise
        changed, self._applied = checked != self._applied, checked
        if checked != change.new:
            self.options = checked  # defaults filled in, numbers in their option's type
        if changed:
            self._on_settings(change)

    @shows_errors
    def _on_compare(self, _change: Any) -> None:
        self._on_settings(None)

    # -- maps -----------------------------------------------------------------------------------------------
    def _key(self, method: str) -> Key:
        """Everything ``method``'s map depends on under the current settings."""
        layer = self.layer if method in LAYER_METHODS else None
        options = tuple(sorted(self._applied.get(method, {}).items()))
        base = tuple(sorted(base_options(method, self._applied).items()))  # the noise tunnel's base method's
        return (self._image_id, self.target, method, layer, options + base)

    def _freeze(self, method: str) -> Settings:
        """A frozen settings for ``method`` under the current settings; raises naming the valid choices."""
        if self._x is None:
            raise ImageError("there is no image to explain yet; load one with set_image(...) or the image picker")
        get_method(method)
        layer = None
        if method in LAYER_METHODS:
            layer = cam_layer(self._net.model, self._records, self.layer)
        options = dict(self._applied[method], method_options=base_options(method, self._applied))
        return Settings(self._key(method), method, layer, options, self._x, self.target)

    def _publish(self) -> None:
        """Derive the view's traits from the cache for the current settings (stale results drop out)."""
        current = self._key(self.method)
        shown = self._cache.get(current)
        grid = {}
        if self.compare:
            grid = {m: self._encode(m, c.map) for m in METHODS if (c := self._cache.get(self._key(m))) is not None}
        with self.hold_sync():
            self.heatmap = self._encode(self.method, shown.map) if shown is not None else None
            self.maps = grid
            for name in ("sanity", "curves"):
                if self._analysed.get(name) != current:
                    setattr(self, name, {})

    @staticmethod
    def _encode(method: str, heat: torch.Tensor) -> Heatmap:
        return Heatmap(heat.numpy(), METHODS[method].quantity)

    def _refresh(self) -> None:
        """Compute what the view lacks: the grid's missing maps in compare mode, else the current map."""
        if self._x is None:
            return
        order = [self.method, *(m for m in METHODS if m != self.method)] if self.compare else [self.method]
        missing = [m for m in order if self._key(m) not in self._cache]
        keys = frozenset(self._key(m) for m in missing)
        grid, self._grid = self._grid, None
        if grid is not None:
            job, pending = grid
            if self.compare and keys <= pending and not job.cancelled.is_set() and job.alive:
                self._grid = grid  # already computing these (another cell was clicked): let it go on
                return
            if not missing:
                job.cancel()  # compare was switched off: the rest of the grid is not needed now
        if missing:
            wanted = [self._freeze(m) for m in missing]
            job = self.submit(functools.partial(self._fill, wanted, len(order)))
            if self.compare:
                self._grid = (job, keys)

    def _fill(self, wanted: List[Settings], total: int, job: Job) -> None:
        """Compute ``wanted`` one after the other, publishing each map as it finishes."""
        start, done = time.perf_counter(), total - len(wanted)
        for k, settings in enumerate(wanted):
            label = (
                f"{done + k + 1}/{total} {METHODS[settings.method].title}…"
                if total > 1
                else f"computing {METHODS[settings.method].title}…"
            )
            computed = self._produce(job, settings, k / len(wanted), (k + 1) / len(wanted), label)
        summary = computed.note
        if total > 1:
            seconds = time.perf_counter() - start
            summary = f"compared {total} methods for “{self._net.label(wanted[0].target)}” in {seconds:.1f} s"
        job.progress(1.0, summary)

    def _produce(self, job: Job, settings: Settings, low: float, high: float, label: str) -> Computed:
        """Compute one map (progress spanning ``low..high``), cache it and publish it."""
        job.progress(low, label)
        start = time.perf_counter()
        result = job.follow(
            explain_steps(
                self._net,
                settings.x,
                settings.target,
                settings.method,
                settings.layer,
                forward_args=self._forward_args,
                **settings.options,
            ),
            low,
            high,
        )
        computed = Computed(result.map[0], self._note(settings, result, time.perf_counter() - start))
        self._cache[settings.key] = computed
        while len(self._cache) > CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        self._publish()
        return computed

    def _note(self, settings: Settings, result: Explanation, seconds: float) -> str:
        """The status line of a finished map; integrated gradients add their completeness error, and the
        method's notes follow (e.g. guided backprop on a model without rectifiers)."""
        title, where = METHODS[settings.method].title, f" at {settings.layer}" if settings.layer else ""
        note = f"{title}{where} for “{self._net.label(settings.target)}” in {1000 * seconds:.0f} ms"
        if result.error is not None:
            error = float(result.error[0])
            gap = float(result.attribution[0].double().sum()) - error  # f(x) - f(baseline)
            share = f" ({abs(error / gap):.1%} of f(x)−f(baseline))" if gap else ""
            note += f"; completeness error {error:.2g}{share}"
        return "; ".join([note, *result.notes])

    def _store_analysis(self, name: str, key: Key, value: Dict[str, Any]) -> None:
        """Show a sanity check or curves if they still describe the current map."""
        self._analysed[name] = key
        if key == self._key(self.method):
            setattr(self, name, value)


ANALYSES = {"sanity": SaliencyExplorer.run_sanity_check, "faithfulness": SaliencyExplorer.run_deletion_insertion}
"""The analyses the view's buttons run, by the ``what`` of their settings."""
