"""A layer's activations on one image, as the unit pickers show them: every channel's map, as a thumbnail.

The layer and dataset explorers and feature visualisation's unit picker draw a grid of these thumbnails so a
person can choose a unit by what it responds to.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from .hooks import capture
from .replica import ModelLike, private

THUMB_SIDE = 32
"""Largest thumbnail side in pixels: enough to see what a channel responds to (14 looked like noise)."""
THUMB_BUDGET = 2**18
"""Most values all thumbnails of a layer may hold together (1 MiB of float32): huge layers get smaller ones."""


def channel_maps(
    model: ModelLike, x: torch.Tensor, layer: str, side: int = THUMB_SIDE, budget: int = THUMB_BUDGET
) -> Optional[torch.Tensor]:
    """Every channel's activation map at ``layer`` for the image ``x``, average-pooled into thumbnails.

    The maps keep their values (no normalisation here): a front-end normalises each channel separately, so a
    weak channel's pattern shows as clearly as a strong one's.

    Parameters
    ----------
    model : nn.Module or Net
        The network; one forward pass of its replica without gradients.
    x : torch.Tensor
        One normalised image ``(1, C, H, W)`` on the model's device.
    layer : str
        Dotted layer name; an unknown one raises a :class:`~.errors.LayerError` naming the valid ones.
    side, budget : int
        At most ``side`` pixels a side and ``budget`` values in all; a map already smaller is kept as it is.

    Returns
    -------
    torch.Tensor or None
        ``(C, h, w)`` float32 on the CPU; ``None`` when the layer's output has no spatial (C, H, W) shape.
    """
    with private(model) as twin, torch.no_grad(), capture(twin, [layer]) as record:
        twin(x)
    act = record[layer]
    return thumbnails(act[0], side, budget) if act.dim() == 4 else None


def thumbnails(maps: torch.Tensor, side: int = THUMB_SIDE, budget: int = THUMB_BUDGET) -> torch.Tensor:
    """``maps`` ``(C, H, W)`` average-pooled to at most ``side`` pixels a side and ``budget`` values in all (a map
    already smaller is kept as it is), as float32 on the CPU."""
    c, h, w = maps.shape
    scale = min(1.0, side / max(h, w), math.sqrt(budget / (c * h * w)))
    size = (max(1, math.floor(h * scale + 1e-6)), max(1, math.floor(w * scale + 1e-6)))  # 112 * 32 / 112 is 32
    small = maps if size == (h, w) else F.adaptive_avg_pool2d(maps.float(), size)
    return small.float().cpu()
