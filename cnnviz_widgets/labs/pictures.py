"""Pictures for the labs: the default network's way in and out of its normalised input space, and rows of pictures
with captions to show results without a plotting library.

The assignments work on normalised tensors (what the model reads); a person looks at pictures. ``preprocess`` and
``deprocess`` convert between the two for the offline default model (EfficientNet-Lite0, pixels mapped by
``(p - 127) / 128``), loaded once per session by :func:`default_net`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..engine.images import ImageLike
from ..engine.model import Net, load_model

CAPTION = 16
"""Height in pixels of the caption band under each picture of a :func:`strip`."""


@lru_cache(maxsize=1)
def default_net() -> Net:
    """The offline default network (EfficientNet-Lite0 with ImageNet weights), loaded on first use and kept."""
    return load_model()


def preprocess(img: ImageLike) -> torch.Tensor:
    """A picture as the default network's normalised input ``(1, 3, 224, 224)``, on its device.

    Parameters
    ----------
    img : PIL image, array, tensor or path
        Anything ``cw.load_image`` reads; it is squashed to 224 x 224 pixels.
    """
    return default_net().tensor(img)


def deprocess(x: torch.Tensor) -> Image.Image:
    """A normalised tensor ``(1, 3, H, W)`` or ``(3, H, W)`` back to the RGB picture it stands for (values outside
    the displayable range are clipped).

    Parameters
    ----------
    x : torch.Tensor
        In the default network's normalised space.
    """
    return Image.fromarray(default_net().preprocess.denormalise(x))


def heatmap(values: torch.Tensor) -> Image.Image:
    """A map ``(H, W)`` of non-negative values as a black-red-yellow-white picture; values from the map's 99th
    percentile up are white (a few spiky pixels, common in gradient maps, would otherwise leave the rest dark).

    Parameters
    ----------
    values : torch.Tensor
        One saliency map, say.
    """
    t = values.detach().float().cpu()
    share = (t / t.flatten().quantile(0.99).clamp_min(1e-12)).clamp(0, 1).numpy()
    rgb = np.stack([3 * share, 3 * share - 1, 3 * share - 2], axis=-1).clip(0, 1)  # red first, then green, then blue
    return Image.fromarray((rgb * 255).round().astype(np.uint8))


def strip(pictures: Sequence[Image.Image], captions: Optional[Sequence[str]] = None, side: int = 160) -> Image.Image:
    """Pictures side by side, each resized to ``side`` x ``side``, with a caption under each if given.

    Parameters
    ----------
    pictures : sequence of PIL images
        What to show, left to right.
    captions : sequence of str, optional
        One line per picture (cut to fit).
    side : int
        Side of each picture in pixels.
    """
    band = CAPTION if captions is not None else 0
    sheet = Image.new("RGB", (side * len(pictures), side + band), "white")
    draw = ImageDraw.Draw(sheet)
    for i, picture in enumerate(pictures):
        sheet.paste(picture.convert("RGB").resize((side, side), Image.BILINEAR), (i * side, 0))  # type: ignore[attr-defined]
        if captions is not None:
            draw.text((i * side + 3, side + 2), captions[i][: side // 6], fill="black")
    return sheet
