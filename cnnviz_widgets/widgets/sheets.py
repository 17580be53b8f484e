"""Small pictures made for the page: an array enlarged with its pixels kept sharp, and pictures tiled on one sheet
(a layer's units by their strongest patch, the embedding's image grid), so the browser gets one PNG, not hundreds."""

from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import numpy as np
from PIL import Image


def enlarged(picture: np.ndarray, side: int) -> Image.Image:
    """An ``(H, W, 3)`` or ``(H, W)`` uint8 array as a picture whose shorter side is at least ``side`` (nearest
    neighbour by a whole factor, so a 3×3 kernel stays nine crisp squares)."""
    image = Image.fromarray(picture)
    scale = max(1, -(-side // max(1, min(image.size))))
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST) if scale > 1 else image


def tiled(pictures: Iterable[Image.Image], places: Sequence[Tuple[int, int]], cell: int, fill: int = 0) -> Image.Image:
    """``pictures`` resized to ``cell`` pixels a side, each at its ``(row, column)`` of ``places`` on one sheet just
    large enough for them; ``fill`` grey where no picture lies."""
    rows, columns = (max(p[axis] for p in places) + 1 for axis in (0, 1))
    sheet = Image.new("RGB", (columns * cell, rows * cell), (fill,) * 3)
    for picture, (row, column) in zip(pictures, places):
        sheet.paste(picture.resize((cell, cell)), (int(column) * cell, int(row) * cell))
    return sheet
