"""A channel's strongest activation projected back to the input (Zeiler & Fergus 2014), the way their paper shows
what each feature map responds to: find the position where the channel fires most on the image, then send that
single unit back down to the pixels with the deconvnet (or guided backprop) rule.

The projection is the rectified input gradient of one unit, so it can only be nonzero inside that unit's
receptive field; :func:`receptive_box` gives that field as a pixel box, for a view to crop the image and the
projection to it. The rectifier rules themselves live in :mod:`.attribution.guided`; this module only picks the
unit and the box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .attribution import deconvnet, guided_backprop
from .checks import check_choice, check_int
from .errors import ImageError, LayerError
from .hooks import capture
from .inputs import prepare_input
from .layers import ReceptiveField, layers
from .names import resolve_layer
from .replica import on_replica

Box = Tuple[int, int, int, int]

RULES: Dict[str, Callable[..., torch.Tensor]] = {"deconvnet": deconvnet, "guided_backprop": guided_backprop}
"""The rules a projection can send a unit back with: Zeiler & Fergus' deconvnet, or guided backprop."""


@dataclass(frozen=True)
class Projection:
    """Channel ``channel`` of ``layer`` at its strongest position ``(y, x)`` (activation ``value``) on the image,
    projected back to the input as ``pixels`` ``(C, H, W)`` (float32, CPU).

    ``box`` ``(top, left, bottom, right)`` (bottom and right exclusive, clipped to the image) is the unit's
    receptive field in input pixels, and ``field`` the layer's unclipped one; both ``None`` when the layer's
    field cannot be followed through the network (:func:`~.layers.layers` gives none).
    """

    layer: str
    channel: int
    y: int
    x: int
    value: float
    pixels: torch.Tensor
    box: Optional[Box]
    field: Optional[ReceptiveField]


def field_box(field: ReceptiveField, y: int, x: int) -> Box:
    """The pixels unit ``(y, x)`` of a layer with receptive field ``field`` can see, unclipped: the box may reach
    past the image's border (negative, or beyond its size).

    The unit's field is centred on ``offset + stride * (y, x)`` and spans ``(size - 1) / 2`` pixels either side;
    half pixels (even kernels, TF-SAME padding) are rounded outward.

    Parameters
    ----------
    field : ReceptiveField
        The layer's field, from :func:`~.layers.layers`.
    y, x : int
        The unit's position in the layer's map.

    Returns
    -------
    tuple of int
        ``(top, left, bottom, right)``, bottom and right exclusive.
    """

    def span(axis: int, index: int) -> Tuple[int, int]:
        centre = field.offset[axis] + field.stride[axis] * index
        half = (field.size[axis] - 1) / 2
        return math.floor(centre - half), math.ceil(centre + half) + 1

    (top, bottom), (left, right) = span(0, y), span(1, x)
    return top, left, bottom, right


def receptive_box(field: ReceptiveField, y: int, x: int, height: int, width: int) -> Box:
    """The pixels unit ``(y, x)`` of a layer with receptive field ``field`` can see, in an image of
    ``height`` x ``width``: :func:`field_box` clipped to the image.

    Parameters
    ----------
    field : ReceptiveField
        The layer's field, from :func:`~.layers.layers`.
    y, x : int
        The unit's position in the layer's map.
    height, width : int
        The input image's size in pixels.

    Returns
    -------
    tuple of int
        ``(top, left, bottom, right)``, bottom and right exclusive.
    """
    top, left, bottom, right = field_box(field, y, x)

    def clip(value: int, limit: int) -> int:
        return min(max(value, 0), limit)

    return clip(top, height), clip(left, width), clip(bottom, height), clip(right, width)


def signed_pixels(values: torch.Tensor) -> np.ndarray:
    """A signed ``(C, H, W)`` map (a projection, a kernel) as an ``(H, W, 3)`` uint8 picture, contrast-normalised
    the way Zeiler & Fergus show projections: 0 is mid grey (128), the largest magnitude black or white; three
    channels as colour, any other number averaged to grey (R = G = B)."""
    values = values.detach().float().cpu()
    if values.shape[0] != 3:
        values = values.mean(0, keepdim=True)
    peak = values.abs().max()
    scaled = 0.5 + 0.5 * values / peak if peak > 0 else torch.full_like(values, 0.5)
    picture = (scaled.clamp(0, 1) * 255).round().to(torch.uint8).expand(3, -1, -1)
    return picture.permute(1, 2, 0).contiguous().numpy()


@on_replica
def channel_projection(
    model: nn.Module,
    x: torch.Tensor,
    layer: str,
    channel: int,
    rule: str = "deconvnet",
    position: Optional[Tuple[int, int]] = None,
) -> Projection:
    """Channel ``channel`` of ``layer`` at its strongest activation on the first image of ``x``, projected back to
    the input pixels.

    Three passes of the replica: a probe for the layer's shape and receptive field, a forward pass (stopped at
    the layer) for the strongest position, and :func:`~.attribution.deconvnet` or
    :func:`~.attribution.guided_backprop` for the unit ``"layer:channel:y:x"``.

    Parameters
    ----------
    model : nn.Module or Net
        The network (never modified).
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``; only the first image is used.
    layer : str
        Dotted name of a layer with a spatial ``(C, H, W)`` output.
    channel : int
        Its channel, ``0..C-1``.
    rule : str
        ``"deconvnet"`` (Zeiler & Fergus: rectifiers pass the positive part of the signal back) or
        ``"guided_backprop"`` (only where the rectifier was also active forward).
    position : tuple of int, optional
        ``(y, x)`` in the layer's map to project instead of the strongest position.

    Returns
    -------
    Projection
        The unit, its activation, the projection and its receptive field (``None`` where unknown).
    """
    rule = check_choice("rule", rule, tuple(RULES), error=LayerError)
    x = prepare_input(model, x, ImageError)[:1]
    resolve_layer(model, layer)
    record = next((r for r in layers(model, tuple(x.shape[1:])) if r.name == layer), None)
    if record is None:
        raise LayerError(f"layer {layer!r} was not called during the forward pass")
    if len(record.shape) != 3:
        raise LayerError(
            f"layer {layer!r} gives shape {record.shape} per image; a projection needs a spatial layer, one with a "
            "(C, H, W) output"
        )
    channels, height, width = record.shape
    channel = check_int("channel", channel, 0, channels - 1, error=LayerError)
    with torch.no_grad(), capture(model, [layer], until={layer: record.calls}) as seen:
        seen.forward(model, x)
    act = seen[layer][0, channel]
    if position is None:
        row, col = divmod(int(act.argmax()), width)
    else:
        if not isinstance(position, (tuple, list)) or len(position) != 2:
            raise LayerError(f"position must be a pair (y, x), got {position!r}")
        row = check_int("position y", position[0], 0, height - 1, error=LayerError)
        col = check_int("position x", position[1], 0, width - 1, error=LayerError)
    pixels = RULES[rule](model, x, f"{layer}:{channel}:{row}:{col}")[0].float().cpu()
    field = record.receptive_field
    box = receptive_box(field, row, col, x.shape[2], x.shape[3]) if field is not None else None
    return Projection(layer, channel, row, col, float(act[row, col]), pixels, box, field)
