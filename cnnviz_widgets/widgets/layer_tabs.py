"""The LayerExplorer's tabs beside the activation grid: the layer's filters, a unit as a linear combination of the
filters below it, invariance curves, and features across training checkpoints.

A tab computes only when first shown; its result is cached by everything it depends on (so flipping back to a tab
or a layer shows it at once) and forgotten with the photo or the checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import traitlets
from torch import nn

from ..engine.activations import thumbnails
from ..engine.checkpoints import Source, across_training_steps, checked_checkpoints
from ..engine.checks import check_choice
from ..engine.combination import filter_combination
from ..engine.errors import LayerError
from ..engine.invariance import TRANSFORMS, invariance_steps
from ..engine.kernels import conv_filters, convolution
from ..engine.layers import LayerRecord, blocks
from ..engine.model import Net
from ..engine.projection import Projection, signed_pixels
from ..engine.schema import Option
from .encoding import encode_array, png_bytes
from .jobs import Job, Results
from .photo import PhotoView
from .sheets import enlarged
from .traits import Checked

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


def signed_picture(values: torch.Tensor) -> bytes:
    """A signed ``(C, H, W)`` map (a projection, a kernel) as PNG (:func:`~..engine.projection.signed_pixels`,
    grey pictures as one channel), enlarged."""
    pixels = signed_pixels(values)
    return png_bytes(enlarged(pixels if values.shape[0] == 3 else pixels[..., 0], PICTURE_SIDE))


TAB_CACHE = 32
"""How many tab results (filter pages, combinations, curves, snapshots) a view keeps, the most recently shown."""


@dataclass(frozen=True)
class State:
    """What one job of the view shows, frozen when it starts (the traits may change meanwhile): the photo and its
    id, the checkpoints' generation, the layer, channel and tab, and the settings."""

    x: torch.Tensor
    image: int
    sources: int
    layer: str
    unit: int
    tab: str
    page: int
    target: int
    fold: bool
    contrast: str
    top: int
    rule: str
    transform: str


def projected_crop(found: Projection) -> bytes:
    """A projection inside its receptive field (the whole picture when the field is unknown), as PNG."""
    top, left, bottom, right = found.box or (0, 0, *found.pixels.shape[-2:])
    return signed_picture(found.pixels[:, top:bottom, left:right])


class LayerTabs(PhotoView):
    """The tabs' state and work; the LayerExplorer says which layer and channel they are about."""

    SETTINGS = LAYER_OPTIONS
    CHARTS = "InvarianceCharts"

    tab = Checked("activations", "_valid_tab", help="The tab shown: one of TABS.")
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
    _generation = 0  # of the checkpoints: results made from older ones are never shown again

    def __init__(self, *args: Any, **kwargs: Any):
        self._tabs = Results(TAB_CACHE)
        super().__init__(*args, **kwargs)

    @staticmethod
    def check_checkpoints(net: Net, checkpoints: Optional[Sources]) -> Optional[Dict[str, Source]]:
        """The checkpoints by name, each checked against ``net`` (a bad one raises naming its keys)."""
        return None if checkpoints is None else dict(checked_checkpoints(net.model, checkpoints))

    @staticmethod
    def _valid_tab(value: Any) -> str:
        return check_tab(value)

    def use_checkpoints(self, sources: Optional[Dict[str, Source]]) -> None:
        """Compare ``sources`` from now on (checked already); what older ones gave is never shown again."""
        self._sources, self._generation = sources, self._generation + 1
        self.forget_tabs()

    def forget_tabs(self) -> None:
        """Drop every tab's cached result and the tabs' traits (a new photo, new checkpoints, closing)."""
        self._tabs.clear()
        with self.hold_sync():
            self.combination, self.invariance, self.snapshots = {}, {}, {}

    def state(self, x: torch.Tensor, image: int) -> State:
        """The view's state now, frozen for a job."""
        settings = {o.name: getattr(self, o.name) for o in LAYER_OPTIONS}
        return State(x, image, self._generation, self.layer, self.unit, self.tab, self.page, self.target, **settings)

    def photo_patch(self, box: Tuple[int, int, int, int]) -> bytes:
        """The photo inside ``box`` (left, top, right, bottom), enlarged like the projection beside it."""
        return png_bytes(enlarged(np.asarray(self.image.crop(box).convert("RGB")), PICTURE_SIDE))

    def fill_tab(self, job: Job, state: State) -> None:
        """Show the open tab's result for ``state``, computing it unless it is cached; keep what a current job
        computed (the :data:`TAB_CACHE` most recently shown results)."""
        s, unit = state, max(state.unit, 0)
        work: Dict[str, Tuple[Hashable, Callable[[], Dict[str, Any]]]] = {
            "filters": ((s.layer, s.fold, s.contrast, s.page), lambda: self._filters(s)),
            "combination": ((s.layer, unit, s.top, s.fold), lambda: self._combination(s, unit)),
            "invariance": ((s.image, s.transform, s.target), lambda: self._invariance(job, s)),
            "checkpoints": ((s.image, s.sources, s.layer, unit), lambda: self._snapshots(job, s, unit)),
        }
        if s.tab not in work:
            return
        key, compute = work[s.tab]

        def noted() -> Dict[str, Any]:
            try:
                return compute()
            except LayerError as exc:  # the layer has no such thing (no filters, say): the tab says why
                return {"layer": s.layer, "note": str(exc)}

        self.publish(job, **{TAB_TRAITS[s.tab]: self._tabs.get(job, (s.tab, key), noted)})

    # -- each tab's work ----------------------------------------------------------------------------------------
    def _filters(self, s: State) -> Dict[str, Any]:
        found = conv_filters(self._net, s.layer, fold=s.fold, contrast=s.contrast, page=s.page)
        return {"layer": s.layer, "kind": found.kind, "first": found.first, "total": found.total,
                "folded": found.folded, **encode_array(found.tiles)}  # fmt: skip

    def _combination(self, s: State, unit: int) -> Dict[str, Any]:
        conv = convolution(self._net.model, s.layer)
        top = min(s.top, conv.in_channels // conv.groups)  # a depthwise unit reads one channel
        found = filter_combination(self._net, s.layer, unit, top=top, fold=s.fold, furthest=True)
        return {"layer": s.layer, "unit": unit, "chain": list(found.chain), "barrier": found.barrier or "",
                "image": signed_picture(found.kernel), "size": list(found.kernel.shape[1:]),
                "channels": found.channels.tolist(), "strength": found.strength.tolist()}  # fmt: skip

    def _invariance(self, job: Job, s: State) -> Dict[str, Any]:
        found = job.follow(invariance_steps(self._net, s.x, self._spread, transform=s.transform, target=s.target))
        return {"transform": found.transform, "amounts": found.amounts.tolist(), "layers": list(found.layers),
                "distances": found.distances.tolist(), "probability": found.probability.tolist(),
                "target": found.target, "label": self._net.label(found.target)}  # fmt: skip

    def _snapshots(self, job: Job, s: State, unit: int) -> Dict[str, Any]:
        sources = self._sources
        if not sources or s.sources != self._generation:
            return {"note": "No checkpoints: give LayerExplorer(..., checkpoints=[path, ...]) or call "
                    "view.set_checkpoints([...]) to compare the model's features across training."}  # fmt: skip
        shots = job.follow(across_training_steps(self._net, s.x, sources, layer=s.layer, channel=unit))
        maps = thumbnails(torch.stack([shot.channel_map for shot in shots if shot.channel_map is not None]), side=64)
        tiles = torch.stack([shot.filters.tiles for shot in shots])
        projections = [projected_crop(shot.projection) for shot in shots if shot.projection is not None]
        return {"names": [shot.name for shot in shots], "layer": s.layer, "unit": unit, "kind": shots[0].filters.kind,
                "first": shots[0].filters.layer, "filters": encode_array(tiles), "maps": encode_array(maps),
                "projections": projections}  # fmt: skip


TAB_TRAITS = {tab: tab for tab in TABS[1:4]} | {"checkpoints": "snapshots"}
"""The trait each tab's result goes to."""
