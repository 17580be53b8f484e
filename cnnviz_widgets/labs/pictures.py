"""Pictures for the labs: the default network's way in and out of its normalised input space, rows of pictures
with captions to show results without a plotting library, and a painting to take a style from.

The assignments work on normalised tensors (what the model reads); a person looks at pictures. ``preprocess`` and
``deprocess`` convert between the two for the offline default model (EfficientNet-Lite0, pixels mapped by
``(p - 127) / 128``), loaded once per session by :func:`default_net`. No painting ships with the package (and none
can be downloaded offline), so :func:`painting` draws one: short brush strokes swirling along a flow field, in the
blues and yellows of a starry night, the same for the same seed.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..engine.checks import check_int
from ..engine.images import ImageLike, load_image
from ..engine.model import Net, load_model

CAPTION = 16
"""Height in pixels of the caption band under each picture of a :func:`strip`."""


@lru_cache(maxsize=1)
def default_net() -> Net:
    """The offline default network (EfficientNet-Lite0 with ImageNet weights), loaded on first use and kept."""
    return load_model()


PALETTE = np.array(
    [(18, 32, 78), (34, 70, 150), (70, 120, 190), (130, 175, 215), (235, 205, 85), (250, 238, 170), (28, 48, 40)],
    dtype=np.float64,
)
"""The painting's colours, RGB: night blues from dark to light, two yellows, a dark green."""


def preprocess(img: ImageLike, size: Optional[int] = None) -> torch.Tensor:
    """A picture as the default network's normalised input, on its device.

    Parameters
    ----------
    img : PIL image, array, tensor or path
        Anything ``cw.load_image`` reads.
    size : int, optional
        ``None``: squashed to the network's own 224 x 224 pixels, ``(1, 3, 224, 224)``. A number: its shorter
        side resized to ``size`` pixels, the aspect ratio kept (style transfer's pictures, as cs231n sizes them).
    """
    net = default_net()
    if size is None:
        return net.tensor(img)
    picture = load_image(img)
    scale = check_int("size", size, 16, 4096) / min(picture.size)
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.BICUBIC)  # type: ignore[attr-defined]
    return net.preprocess.normalise(picture).to(net.device, net.dtype)


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


def painting(size: int = 256, seed: int = 0) -> Image.Image:
    """A ``size`` x ``size`` painting of swirling brush strokes, the style picture of the style-transfer lab.

    The strokes follow a flow field made of a few random sine waves; their colour follows a second, slower field
    through :data:`PALETTE`, and a few bright whorls (stars) are painted over them in concentric strokes.

    Parameters
    ----------
    size : int
        Side in pixels.
    seed : int
        Seeds every random choice: the same seed gives the same painting.
    """
    size = check_int("size", size, 16, 4096)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    waves = rng.uniform(1.5, 4.0, (2, 3, 2)) * math.pi, rng.uniform(0, 2 * math.pi, (2, 3))

    def field(which: int, x: float, y: float) -> float:
        """A smooth value near -1..1 at ``(x, y)`` in 0..1: three sine waves of field ``which`` added up."""
        freq, phase = waves[0][which], waves[1][which]
        return float(np.sin(freq[:, 0] * x + freq[:, 1] * y + phase).sum()) / 3

    scale = 2  # drawn at twice the size and scaled down, which smooths the strokes' edges
    side = size * scale
    canvas = Image.new("RGB", (side, side), tuple(int(c) for c in PALETTE[0]))
    draw = ImageDraw.Draw(canvas)

    def stroke(x: float, y: float, angle: float, length: float, colour: np.ndarray) -> None:
        dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
        shade = np.clip(colour + rng.normal(0, 12, 3), 0, 255)
        width = int(rng.integers(2, 5)) * scale
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=tuple(int(c) for c in shade), width=width)

    for _ in range(size * size // 20):
        x, y = rng.uniform(0, 1, 2)
        tone = (field(1, x, y) + 1) / 2 * 3.99  # one of the four blues, blended with its neighbour
        colour = PALETTE[int(tone)] * (1 - tone % 1) + PALETTE[min(int(tone) + 1, 3)] * (tone % 1)
        if rng.uniform() < 0.06:
            colour = PALETTE[int(rng.integers(4, 7))]
        stroke(x * side, y * side, math.pi * field(0, x, y), rng.uniform(8, 16) * scale, colour)
    for _ in range(5):
        cx, cy, radius = *rng.uniform(0.1, 0.9, 2) * side, rng.uniform(0.04, 0.09) * side
        for ring in np.linspace(radius, radius / 6, 6):
            for turn in np.linspace(0, 2 * math.pi, int(ring / scale) + 4, endpoint=False):
                colour = PALETTE[5] if ring < radius / 2 else PALETTE[4]
                x, y = cx + ring * math.cos(turn), cy + ring * math.sin(turn)
                stroke(x, y, turn + math.pi / 2, rng.uniform(6, 10) * scale, colour)
    return canvas.resize((size, size), Image.LANCZOS)  # type: ignore[attr-defined]
