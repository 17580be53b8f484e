"""SaliencyExplorer: an image, its top-5 classes as a class picker, and attribution heat-maps over it.

Every attribution method of the engine is in the picker, with its options; a compare grid shows all of them side
by side; the sanity check and deletion/insertion curves say whether a map is faithful (:mod:`.analyses`). Maps are
cached by everything they depend on (:mod:`.maps`), and the traits the view draws from (``heatmap``, ``maps``,
``sanity``, ``curves``) are always derived from that cache for the *current* settings.
"""

from __future__ import annotations

import functools
from typing import Any, FrozenSet, List, Optional, Tuple

import torch
import traitlets

from ..engine.attribution import METHODS, AttributionError, get_method
from ..engine.attribution.methods import check_options
from ..engine.images import ImageLike
from ..engine.layers import cam_layer
from ..engine.model import Prediction
from .analyses import MapChecks
from .base import shows_errors
from .jobs import Job
from .maps import Key, Maps, Options, Scene, Settings
from .photo import as_net, check_target, layer_rows, prepare
from .traits import Heatmap, HeatmapDict, HeatmapTrait


class SaliencyExplorer(MapChecks):
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
        self._maps = Maps(records, forward_args)
        self._grid: Optional[Tuple[Job, FrozenSet[Key]]] = None  # the running compare job and its maps
        self.set_trait("methods", [m.describe() for m in METHODS.values()])
        self.set_trait("layers", rows)
        with self.hold_trait_notifications():
            self.options = applied
            self.method = method
            self.compare = compare
            self.layer = layer
        self.observe(self._on_settings, names=["target", "layer", "compare"])
        self.observe(self._on_method, names="method")
        self.observe(self._on_options, names="options")
        self._show(picture, target)

    def close(self) -> None:
        super().close()
        self._maps = Maps((), ())  # the maps and the model's extra arguments go with the view

    # -- settings -------------------------------------------------------------------------------------------
    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        self._maps.clear()
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
        cached = self._maps.get(self._current())
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

    # -- maps -----------------------------------------------------------------------------------------------
    def _scene(self) -> Scene:
        """The settings the maps depend on, now."""
        return Scene(self._x, self._image_id, self.target, self.layer, self._applied)

    def _freeze(self) -> Settings:
        return self._maps.freeze(self._net, self._scene(), self.method)

    def _current(self) -> Key:
        return self._scene().key(self.method)

    def _publish(self) -> None:
        """Derive the view's traits from the cache for the current settings (stale results drop out)."""
        scene = self._scene()
        current = scene.key(self.method)
        shown = self._maps.get(current)
        grid = {}
        if self.compare:
            grid = {m: self._encode(m, c.map) for m in METHODS if (c := self._maps.get(scene.key(m))) is not None}
        with self.hold_sync():
            self.heatmap = self._encode(self.method, shown.map) if shown is not None else None
            self.maps = grid
            self._forget_stale(current)

    @staticmethod
    def _encode(method: str, heat: torch.Tensor) -> Heatmap:
        return Heatmap(heat.numpy(), METHODS[method].quantity)

    def _refresh(self) -> None:
        """Compute what the view lacks: the grid's missing maps in compare mode, else the current map."""
        if self._x is None:
            return
        scene = self._scene()
        order = [self.method, *(m for m in METHODS if m != self.method)] if self.compare else [self.method]
        missing = [m for m in order if self._maps.get(scene.key(m)) is None]
        keys = frozenset(scene.key(m) for m in missing)
        grid, self._grid = self._grid, None
        if grid is not None:
            job, pending = grid
            if self.compare and keys <= pending and not job.cancelled.is_set() and job.alive:
                self._grid = grid  # already computing these (another cell was clicked): let it go on
                return
            if not missing:
                job.cancel()  # compare was switched off: the rest of the grid is not needed now
        if missing:
            wanted = [self._maps.freeze(self._net, scene, m) for m in missing]
            job = self.submit(functools.partial(self._maps.fill, net=self._net, wanted=wanted, total=len(order),
                                                shown=self._publish))  # fmt: skip
            if self.compare:
                self._grid = (job, keys)
