"""The LayerExplorer's tabs beside the activation grid: the layer's filters, a unit as a linear combination of the
filters below it, invariance curves, and features across training checkpoints.

A tab computes only when first shown; its result is cached by everything it depends on (so flipping back to a tab
or a layer shows it at once) and forgotten with the photo or the checkpoints.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
import traitlets
from PIL import Image
from torch import nn

from ..engine.checkpoints import Source, across_training_steps, checked_checkpoints
from ..engine.checks import check_choice
from ..engine.combination import filter_combination
from ..engine.errors import LayerError
from ..engine.invariance import TRANSFORMS, invariance_steps
from ..engine.kernels import conv_filters, convolution
from ..engine.layers import LayerRecord, blocks
from ..engine.model import Net
from ..engine.projection import Projection
from ..engine.schema import Option
from .encoding import encode_array, png_bytes
from .jobs import Job
from .photo import PhotoView

TABS = ("activations", "filters", "combination", "invariance", "checkpoints")
"""The view's tabs, in order."""
RULES = ("deconvnet", "guided_backprop")
INVARIANCE_DEPTHS = (0.25, 0.5, 0.75)
"""Where among the network's blocks the invariance curves' layers are taken (early, middle, late; the last spatial
layer is added)."""
PICTURE_SIDE = 96
"""Smallest side of a kernel or projection picture sent to the page (small kernels are enlarged, pixels kept)."""
Sources = Union[Sequence[Source], Mapping[str, Source]]


LAYER_OPTIONS = (
    Option("fold", "fold batch norm", "bool", True, group="filters",
           help="show the filters with the batch norm that follows folded in (what the layer really computes)"),
    Option("contrast", "contrast", "choice", "filter", choices=("filter", "shared"), group="filters",
           help="stretch each filter's weights to black..white, or use one range for the whole layer"),
    Option("top", "filters summed", "int", 16, low=1, high=4096, group="combination",
           help="how many of the unit's most strongly connected channels the combination sums"),
    Option("rule", "projection", "choice", "deconvnet", choices=RULES, group="projection",
           help="how the strongest activation is projected back to pixels (Zeiler & Fergus: deconvnet)"),
    Option("transform", "transform", "choice", "rotate", choices=TRANSFORMS, group="invariance",
           help="what is done to the photo for the invariance curves"),
)  # fmt: skip


def spread_layers(model: nn.Module, records: Sequence[LayerRecord]) -> List[str]:
    """The invariance curves' layers: blocks early, half-way and late in the network, and its last spatial layer."""
    pool = [r.name for r in blocks(model, records)]
    last = [r.name for r in records if r.spatial and not r.passthrough][-1:]
    return list(dict.fromkeys([pool[max(0, round(d * len(pool)) - 1)] for d in INVARIANCE_DEPTHS] + last))


def check_tab(tab: Any) -> str:
    """``tab`` if it is one of :data:`TABS`; an error naming them otherwise."""
    return check_choice("tab", tab, TABS)


def enlarged(picture: np.ndarray) -> Image.Image:
    """An ``(H, W, 3)`` or ``(H, W)`` uint8 array as a picture at least :data:`PICTURE_SIDE` pixels a side (nearest
    neighbour, so a 3×3 kernel stays nine crisp squares)."""
    image = Image.fromarray(picture)
    scale = max(1, -(-PICTURE_SIDE // max(1, min(image.size))))
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST) if scale > 1 else image


def signed_picture(values: torch.Tensor) -> bytes:
    """A signed ``(C, H, W)`` map (a projection, a kernel) as PNG: 0 mid grey, the largest magnitude black or
    white; three channels as colour, any other number averaged to grey."""
    values = values.float().cpu()
    if values.shape[0] != 3:
        values = values.mean(0, keepdim=True)
    peak = values.abs().max()
    scaled = 0.5 + 0.5 * values / peak if peak > 0 else torch.full_like(values, 0.5)
    pixels = (scaled.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return png_bytes(enlarged(pixels[..., 0] if pixels.shape[2] == 1 else pixels))


def projected_crop(found: Projection) -> bytes:
    """A projection inside its receptive field (the whole picture when the field is unknown), as PNG."""
    top, left, bottom, right = found.box or (0, 0, *found.pixels.shape[-2:])
    return signed_picture(found.pixels[:, top:bottom, left:right])


class LayerTabs(PhotoView):
    """The tabs' state and work; the LayerExplorer says which layer and channel they are about."""

    SETTINGS = LAYER_OPTIONS
    CHARTS = "InvarianceCharts"

    tab = traitlets.Unicode("activations", help="The tab shown: one of TABS.").tag(sync=True)
    page = traitlets.Int(0, min=0, help="The page of the layer's filters shown (64 a page).").tag(sync=True)
    filters = traitlets.Dict(
        help="The layer's filters: {layer, kind, first, total, folded, dtype, shape, buffer} (tiles in [0, 1], or a "
        "signed matrix for 1x1 convolutions), or {layer, note} for a layer without filters."
    ).tag(sync=True)
    combination = traitlets.Dict(
        help="The unit as a linear combination of the filters below: {layer, unit, chain (the convolutions from the "
        "input), image: PNG, size, channels, strength}, or {layer, note}."
    ).tag(sync=True)
    invariance = traitlets.Dict(
        help="Invariance curves: {transform, amounts, layers, distances: [per layer], probability, target, label}."
    ).tag(sync=True)
    snapshots = traitlets.Dict(
        help="Features across training: {names, layer, unit, kind, first, filters: (K, F, C, kh, kw) tiles, "
        "maps: (K, H, W), projections: [PNG]}, or {note} without checkpoints."
    ).tag(sync=True)

    layer: str
    unit: int
    layers: list
    _spread: List[str] = []
    _sources: Optional[Dict[str, Source]] = None
    _tabs: Dict[Hashable, Dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._tabs = {}

    @staticmethod
    def check_checkpoints(net: Net, checkpoints: Optional[Sources]) -> Optional[Dict[str, Source]]:
        """The checkpoints by name, each checked against ``net`` (a bad one raises naming its keys)."""
        return None if checkpoints is None else dict(checked_checkpoints(net.model, checkpoints))

    def forget_tabs(self) -> None:
        """Drop every tab's cached result (a new photo or new checkpoints)."""
        self._tabs = {}
        with self.hold_sync():
            self.combination, self.invariance, self.snapshots = {}, {}, {}

    def photo_patch(self, box: Tuple[int, int, int, int]) -> bytes:
        """The photo inside ``box`` (left, top, right, bottom), enlarged like the projection beside it."""
        return png_bytes(enlarged(np.asarray(self.image.crop(box).convert("RGB"))))

    def fill_tab(self, job: Job, x: torch.Tensor, layer: str, unit: int) -> None:
        """Show the current tab's result for ``layer`` and ``unit``, computing it if it is not cached."""
        tab = self.tab
        if tab == "activations":
            return
        work: Dict[str, Tuple[Hashable, Callable[[], Dict[str, Any]]]] = {
            "filters": ((layer, self.fold, self.contrast, self.page), lambda: self._filters(layer)),
            "combination": ((layer, max(unit, 0), self.top), lambda: self._combination(layer, max(unit, 0))),
            "invariance": ((self.transform, self.target), lambda: self._invariance(job, x)),
            "checkpoints": ((layer, max(unit, 0)), lambda: self._snapshots(job, x, layer, max(unit, 0))),
        }
        key, compute = work[tab]
        if (tab, key) not in self._tabs:
            try:
                self._tabs[(tab, key)] = compute()
            except LayerError as exc:  # the layer has no such thing (no filters, say): the tab says why
                self._tabs[(tab, key)] = {"layer": layer, "note": str(exc)}
        self.publish(job, **{TAB_TRAITS[tab]: self._tabs[(tab, key)]})

    # -- each tab's work ----------------------------------------------------------------------------------------
    def _filters(self, layer: str) -> Dict[str, Any]:
        found = conv_filters(self._net, layer, fold=self.fold, contrast=self.contrast, page=self.page)
        return {"layer": layer, "kind": found.kind, "first": found.first, "total": found.total,
                "folded": found.folded, **encode_array(found.tiles)}  # fmt: skip

    def _combination(self, layer: str, unit: int) -> Dict[str, Any]:
        conv = convolution(self._net.model, layer)
        top = min(self.top, conv.in_channels // conv.groups)  # a depthwise unit reads one channel
        found = filter_combination(self._net, layer, unit, top=top, fold=self.fold)
        return {"layer": layer, "unit": unit, "chain": list(found.chain), "image": signed_picture(found.kernel),
                "size": list(found.kernel.shape[1:]), "channels": found.channels.tolist(),
                "strength": found.strength.tolist()}  # fmt: skip

    def _invariance(self, job: Job, x: torch.Tensor) -> Dict[str, Any]:
        found = job.follow(invariance_steps(self._net, x, self._spread, transform=self.transform, target=self.target))
        return {"transform": found.transform, "amounts": found.amounts.tolist(), "layers": list(found.layers),
                "distances": found.distances.tolist(), "probability": found.probability.tolist(),
                "target": found.target, "label": self._net.label(found.target)}  # fmt: skip

    def _snapshots(self, job: Job, x: torch.Tensor, layer: str, unit: int) -> Dict[str, Any]:
        if not self._sources:
            return {"note": "No checkpoints: give LayerExplorer(..., checkpoints=[path, ...]) or call "
                    "view.set_checkpoints([...]) to compare the model's features across training."}  # fmt: skip
        shots = job.follow(across_training_steps(self._net, x, self._sources, layer=layer, channel=unit))
        maps = torch.stack([s.channel_map for s in shots if s.channel_map is not None])
        if maps.shape[-1] * maps.shape[-2] > 64 * 64:
            maps = F.adaptive_avg_pool2d(maps, (64, 64))
        return {"names": [s.name for s in shots], "layer": layer, "unit": unit, "kind": shots[0].filters.kind,
                "first": shots[0].filters.layer, "filters": encode_array(torch.stack([s.filters.tiles for s in shots])),
                "maps": encode_array(maps),
                "projections": [projected_crop(s.projection) for s in shots if s.projection is not None]}  # fmt: skip


TAB_TRAITS = {tab: tab for tab in TABS[1:4]} | {"checkpoints": "snapshots"}
"""The trait each tab's result goes to."""
