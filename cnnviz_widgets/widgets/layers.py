"""LayerExplorer: a trained network layer by layer (cs231n "Visualizing what ConvNets learn"; Zeiler & Fergus 2014).

Every channel's activation map of the chosen layer, from one recorded forward pass (:mod:`..engine.recording`), so
flipping through layers costs no recomputation; click a channel for its map over the photo, the receptive field of
its strongest position and that position's deconvnet projection. The tabs (filters, linear combinations, invariance,
checkpoints) live in :mod:`.layer_tabs` and compute when first shown.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import torch
import traitlets
from torch import nn

from ..engine.activations import thumbnails
from ..engine.checks import check_int
from ..engine.errors import LayerError
from ..engine.images import ImageLike
from ..engine.layers import default_layer
from ..engine.model import Prediction
from ..engine.names import resolve_layer
from ..engine.projection import channel_projection
from ..engine.recording import Recording, record_layers
from .encoding import encode_array
from .jobs import Job, Results
from .layer_tabs import TAB_CACHE, TABS, LayerTabs, Sources, State, check_tab, projected_crop, spread_layers
from .photo import as_net, check_target, layer_rows, prepare
from .traits import Checked, Heatmap, HeatmapTrait


def check_layer(model: nn.Module, rows: Sequence[dict], layer: Optional[str], default: str = "") -> str:
    """``layer`` if it has spatial (C, H, W) maps (``None``: ``default`` if it has, else the middle one); an error
    naming the model's layers for an unknown name, those with maps for a layer without."""
    names = [r["name"] for r in rows]
    if not names:
        raise LayerError("this model has no layer with (C, H, W) activation maps to explore")
    if layer is None:
        return default if default in names else names[len(names) // 2]
    resolve_layer(model, layer)
    if layer not in names:
        shown = ", ".join(names[:12]) + (f" … ({len(names)} in all)" if len(names) > 12 else "")
        raise LayerError(f"{layer!r} has no spatial (C, H, W) activation maps to show; the layers that do: {shown}")
    return layer


class LayerExplorer(LayerTabs):
    """What does each layer of the network see in this photo? Flip through the layers (arrow keys in the layer
    list), see every channel's activation map or the layer's filters, click a channel for its map over the photo,
    its receptive field and its deconvnet projection; the tabs add linear combinations of filters, invariance curves
    and features across training checkpoints.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    image : PIL image, array, tensor, path or bytes
        The photo whose activations are shown.
    layer : str, optional
        The layer shown first (a dotted name with (C, H, W) output); default: a middle block (``_blocks.10`` of the
        default model), the one feature visualisation starts with too.
    checkpoints : sequence or mapping of paths or state dicts, optional
        Checkpoints of this model for the "checkpoints" tab (read with ``weights_only=True``; checked now).
    tab : str
        The tab shown first: one of ``activations``, ``filters``, ``combination``, ``invariance``, ``checkpoints``.
    opacity : float
        Initial opacity of a channel's map over the photo (0..1).
    colormap : str
        Initial colour map: ``inferno``, ``viridis``, ``jet`` or ``gray``.
    **settings
        Any of the view's settings (``fold``, ``contrast``, ``top``, ``rule``, ``transform``).
    """

    _view = traitlets.Unicode("layers").tag(sync=True)

    layer = Checked("", "_valid_layer", help="The layer shown (dotted name).")
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    thumbnails = traitlets.Dict(help="The layer's channel maps as one array {layer, dtype, shape, buffer}.").tag(
        sync=True
    )
    stats = traitlets.Dict(help="Per channel of the shown layer: {layer, mean, max, active}.").tag(sync=True)
    unit = Checked(-1, "_valid_unit", help="The channel clicked (-1: none).")
    target = Checked(0, "_valid_target", help="The class of the invariance curves' probability.")
    heatmap = HeatmapTrait(help="The clicked channel's activation map (aligned with `image` by the front-end).")
    projection = traitlets.Dict(
        help="The clicked channel's strongest position: {layer, unit, y, x, value, box: [top, left, bottom, right], "
        "image: PNG of the projection in the box, patch: PNG of the photo in the box, rule}."
    ).tag(sync=True)

    def __init__(
        self,
        net: Any,
        image: ImageLike,
        layer: Optional[str] = None,
        checkpoints: Optional[Sources] = None,
        *,
        tab: str = "activations",
        opacity: float = 0.6,
        colormap: str = "inferno",
        **settings: Any,
    ):
        self.check_names(settings)
        net = as_net(net)
        records = net.layers()
        rows = layer_rows(records)
        layer = check_layer(net.model, rows, layer, default_layer(net.model, records) if rows else "")
        check_tab(tab)
        values = {o.name: o.check(settings.get(o.name, o.default)) for o in self.SETTINGS}
        picture = prepare(net, image)
        sources = self.check_checkpoints(net, checkpoints)
        spread = spread_layers(net.model, records)
        super().__init__(net, opacity=opacity, colormap=colormap)
        self._sources, self._spread = sources, spread
        self.set_trait("layers", rows)
        with self.hold_trait_notifications():
            for name, value in values.items():
                setattr(self, name, value)
            self.layer, self.tab = layer, tab
        self.observe(self._on_layer, names="layer")
        self.observe(self._refresh, names=["unit", "tab", "page", "target", *values])
        self._show(picture, None)

    _recording: Optional[Tuple[int, Recording]] = None  # the photo's id and its maps
    _projected: Optional[Tuple[int, str, int, str]] = None  # the projection shown: photo, layer, channel, rule

    def close(self) -> None:
        super().close()
        self._recording = self._sources = None
        self._tabs = Results(TAB_CACHE)  # a view that failed in its constructor has none to clear

    @property
    def recording(self) -> Optional[Recording]:
        """The recorded activation maps of the photo (``None`` until the first job has made them)."""
        return self._recording[1] if self._recording is not None else None

    # -- checks of what the page (or a cell) sets (see traits.Checked); none while the view is being made, whose
    # comm reads the defaults before the layers are known --------------------------------------------------------------
    def _valid_layer(self, value: Any) -> str:
        return check_layer(self._net.model, self.layers, value) if self.layers else value

    def _valid_unit(self, value: Any) -> int:
        if not self.layers:
            return value
        channels = self._shape()[0]
        try:
            return check_int("unit", value, -1, channels - 1, error=LayerError)
        except LayerError as exc:
            raise LayerError(f"{exc}: {self.layer!r} has channels 0..{channels - 1} (-1: none)") from None

    def _valid_target(self, value: Any) -> int:
        return check_target(self._net, value) if self.layers else value

    # -- reactions --------------------------------------------------------------------------------------------
    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        self._recording = None
        self.forget_tabs()
        with self.hold_sync():
            self.thumbnails, self.stats, self.heatmap, self.projection = {}, {}, None, {}
        new_target = preds[0].index if target is None else int(target)
        if new_target != self.target:
            self.target = new_target  # its observer refreshes
        else:
            self._refresh()

    def _on_layer(self, _change: Any) -> None:
        with self.hold_sync():
            self.unit, self.page, self.heatmap, self.projection = -1, 0, None, {}
        self._refresh()

    def _shape(self) -> List[int]:
        return next(r["shape"] for r in self.layers if r["name"] == self.layer)

    # -- the one job: compute what the current state lacks ------------------------------------------------------
    def _refresh(self, _change: Any = None) -> None:
        """Start a job that computes what the shown layer, channel and tab lack (a newer state cancels it; what it
        finished stays cached)."""
        x = self._x
        if x is None or self.net is None:
            return
        state = self.state(x, self._image_id)
        self.submit(lambda job: self._fill(job, state))

    def _fill(self, job: Job, state: State) -> None:
        held = self._recording
        if held is not None and held[0] == state.image:
            recording = held[1]
        else:
            job.progress(0.0, "recording every layer's activation maps (one forward pass)")
            recording = record_layers(self._net, state.x, [r["name"] for r in self.layers])
            with self._lock:
                if state.image == self._image_id and self.net is not None:  # still this photo, still open
                    self._recording = (state.image, recording)
        maps = recording.maps(state.layer)
        stats = recording.stats(state.layer)
        self.publish(
            job,
            thumbnails={"layer": state.layer, **encode_array(thumbnails(maps))},
            stats={"layer": state.layer, "mean": stats.mean.tolist(), "max": stats.max.tolist(),
                   "active": stats.active.tolist()},
        )  # fmt: skip
        if state.unit >= 0:
            self._show_unit(job, state, maps[state.unit])
        self.fill_tab(job, state)
        self.publish(job, progress=1.0, status=self._summary(recording, state.layer, state.unit))

    def _show_unit(self, job: Job, s: State, channel: torch.Tensor) -> None:
        """The channel's map over the photo, then its strongest position's projection and receptive field (unless
        those are shown already)."""
        self.publish(job, heatmap=Heatmap(channel.numpy(), f"activation of {s.layer}:{s.unit}"))
        key = (s.image, s.layer, s.unit, s.rule)
        if self._projected == key:
            return
        job.progress(0.5, f"projecting {s.layer}:{s.unit}'s strongest activation back to the pixels ({s.rule})")
        found = channel_projection(self._net, s.x, s.layer, s.unit, rule=s.rule)
        top, left, bottom, right = found.box or (0, 0, *s.x.shape[-2:])  # an unknown field: the whole photo
        shown = self.publish(
            job,
            projection={
                "layer": s.layer, "unit": s.unit, "y": found.y, "x": found.x, "value": found.value,
                "box": [top, left, bottom, right], "rule": s.rule, "image": projected_crop(found),
                "patch": self.photo_patch((left, top, right, bottom)),
            },
        )  # fmt: skip
        if shown:
            self._projected = key

    @staticmethod
    def _summary(recording: Recording, layer: str, unit: int) -> str:
        held = f"{recording.nbytes / 2**20:.0f} MiB held for {len(recording.held)}/{len(recording.layers)} layers"
        chosen = f"channel {unit}" if unit >= 0 else "click a channel for its map and projection"
        return f"{layer}: {chosen} · {held}"

    # -- public -----------------------------------------------------------------------------------------------
    def set_checkpoints(self, checkpoints: Optional[Sources]) -> None:
        """Compare these checkpoints in the "checkpoints" tab (each read with ``weights_only=True`` and checked
        against the model now; a bad one raises naming its missing and unexpected keys).

        Parameters
        ----------
        checkpoints : sequence or mapping of paths or state dicts, or None
            In training order; a mapping's keys name them.
        """
        self.use_checkpoints(self.check_checkpoints(self._net, checkpoints))
        self._refresh()


__all__ = ["TABS", "LayerExplorer"]
