"""Where occluding windows go, what they are filled with, and the (partial) result of a sweep.

Windows start every ``stride`` pixels from the top-left corner, one more than fits is placed and clipped at
the border, and each pixel's value is the mean score drop over the windows covering it: captum's
``Occlusion`` layout, so the two maps can be compared cell for cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, NamedTuple, Sequence, Tuple, Union

import torch

from ..errors import OcclusionError
from ..filters import blurred

Pair = Tuple[int, int]
Baseline = Union[float, str, torch.Tensor]
BASELINES = ("mean", "blur")
"""Named baselines besides a number or an image: the image's per-channel mean, or the image blurred."""


def _pair(value: Union[int, Tuple[int, int]], name: str) -> Pair:
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        raise OcclusionError(f"{name} must be a positive integer or a (height, width) pair, got {value!r}")
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise OcclusionError(f"{name} must be a positive integer or a (height, width) pair, got {value!r}")
    if min(pair) < 1:
        raise OcclusionError(f"{name} must be at least 1 pixel, got {value!r}")
    return pair[0], pair[1]


@dataclass(frozen=True)
class Grid:
    """Where the occluding windows go on an image of ``size`` (height, width)."""

    size: Pair
    window: Pair
    stride: Pair

    @classmethod
    def make(cls, size: Pair, window: Union[int, Pair], stride: Union[int, Pair]) -> "Grid":
        """A checked grid: the window fits in the image and the stride leaves no gaps between windows."""
        window, stride = _pair(window, "window"), _pair(stride, "stride")
        for axis, (n, w, s) in enumerate(zip(size, window, stride)):
            what = ("height", "width")[axis]
            if w > n:
                raise OcclusionError(
                    f"a window {what} of {w} does not fit in the image's {what} of {n} pixels (1..{n})"
                )
            if s > w and w < n:
                raise OcclusionError(
                    f"a stride {what} of {s} leaves gaps between windows of {what} {w}; use a stride of 1..{w}"
                )
        return cls(tuple(size), window, stride)  # type: ignore[arg-type]

    @property
    def counts(self) -> Pair:
        """Windows per column and per row: as many as fit, plus one clipped at the border if needed."""
        return tuple(math.ceil((n - w) / s) + 1 for n, w, s in zip(self.size, self.window, self.stride))  # type: ignore[return-value]

    def box(self, i: int, j: int) -> Tuple[slice, slice]:
        """The pixels window ``(i, j)`` covers, clipped to the image."""
        (sy, sx), (wy, wx) = self.stride, self.window
        return slice(i * sy, min(i * sy + wy, self.size[0])), slice(j * sx, min(j * sx + wx, self.size[1]))

    def window_at(self, y: int, x: int) -> Pair:
        """The window covering pixel ``(y, x)`` whose centre is nearest to it (what a click on a map selects);
        an :class:`OcclusionError` naming the valid range for a pixel outside the image."""
        height, width = self.size
        if not (0 <= y < height and 0 <= x < width):
            raise OcclusionError(
                f"pixel ({y}, {x}) is outside the {height}x{width} picture (y 0..{height - 1}, x 0..{width - 1})"
            )

        def nearest(p: int, axis: int) -> int:
            def distance(k: int) -> Tuple[bool, float]:
                box = self.box(k, k)[axis]
                return not box.start <= p < box.stop, abs((box.start + box.stop) / 2 - (p + 0.5))

            return min(range(self.counts[axis]), key=distance)

        return nearest(y, 0), nearest(x, 1)

    def order(self) -> List[Pair]:
        """Every window, coarse to fine: window ``(i, j)`` comes at the level of the largest power of two
        dividing both ``i`` and ``j`` (every 8th row and column, then every 4th, then every 2nd, ...), each
        level in reading order. Any prefix is spread evenly over the image, every 4th window is done after a
        sixteenth of the work and the stride-doubled grid (which tiles the image when the stride is half the
        window) after about a quarter."""
        ny, nx = self.counts
        cells = [(i, j) for i in range(ny) for j in range(nx)]
        return sorted(cells, key=lambda c: -((c[0] | c[1]) & -(c[0] | c[1])) if c[0] | c[1] else -math.inf)


class Occlusion(NamedTuple):
    """An occlusion map, complete or partial (windows not evaluated yet are NaN in ``scores``/``probs``).

    ``map`` is ``(H, W)``: the mean drop of the target score over the evaluated windows covering each pixel
    (NaN where none is evaluated yet). ``scores`` and ``probs`` are ``(rows, columns)`` of windows: the target
    logit and its softmax probability with that window occluded; ``score`` and ``prob`` are the clean image's.
    ``done`` windows of ``total`` are evaluated.
    """

    map: torch.Tensor
    scores: torch.Tensor
    probs: torch.Tensor
    score: float
    prob: float
    grid: Grid
    done: int
    recomputed: float = 1.0
    """Multiply-adds spent per window as a share of a full forward pass (below 1 when activations are reused)."""

    @property
    def total(self) -> int:
        """Number of windows."""
        return self.scores.numel()

    @property
    def fraction(self) -> float:
        """Share of the windows evaluated so far."""
        return self.done / self.total

    @property
    def preview(self) -> torch.Tensor:
        """``map`` with every pixel no evaluated window covers yet given the score drop of the nearest evaluated
        window: a coarse full map after the first few chunks (the coarsest grid comes first), refined as the
        sweep goes on; equal to ``map`` once every pixel is covered."""
        gaps = torch.isnan(self.map)
        if not gaps.any() or self.done == 0:
            return self.map
        evaluated = (~torch.isnan(self.scores)).nonzero().double()
        ny, nx = self.scores.shape
        cells = torch.cartesian_prod(torch.arange(ny), torch.arange(nx)).double()
        nearest = evaluated[torch.cdist(cells, evaluated).argmin(dim=1)].long()
        drops = (self.score - self.scores[nearest[:, 0], nearest[:, 1]]).reshape(ny, nx)
        (sy, sx), (h, w) = self.grid.stride, self.grid.size
        rows = (torch.arange(h) // sy).clamp(max=ny - 1)
        columns = (torch.arange(w) // sx).clamp(max=nx - 1)
        return torch.where(gaps, drops[rows[:, None], columns[None, :]], self.map)


def occlude(x: torch.Tensor, fill: torch.Tensor, grid: Grid, cells: Sequence[Pair]) -> torch.Tensor:
    """A batch of copies of the image ``x`` (``(1, C, H, W)``), copy ``b`` with window ``cells[b]`` set to ``fill``
    (``(C, H, W)``, see :func:`make_fill`): what the model sees for each window."""
    batch = x.expand(len(cells), *x.shape[1:]).clone()
    for row, (i, j) in enumerate(cells):
        ys, xs = grid.box(i, j)
        batch[row, :, ys, xs] = fill[:, ys, xs]
    return batch


def occlude_window(x: torch.Tensor, grid: Grid, i: int, j: int, baseline: Baseline) -> torch.Tensor:
    """The image ``x`` (``(1, C, H, W)``) with window ``(i, j)`` of ``grid`` showing ``baseline``, ``(1, C, H, W)``.

    Parameters
    ----------
    x : torch.Tensor
        One normalised image.
    grid : Grid
        The windows' layout on that image.
    i, j : int
        Row and column of the window; outside the grid raises an :class:`OcclusionError` naming the valid range.
    baseline : float, "mean", "blur" or tensor
        What the window shows, as for :func:`~.sweep.occlusion`.
    """
    rows, columns = grid.counts
    if not (0 <= i < rows and 0 <= j < columns):
        raise OcclusionError(
            f"window ({i}, {j}) is outside the {rows}x{columns} grid (i 0..{rows - 1}, j 0..{columns - 1})"
        )
    return occlude(x, make_fill(x, baseline), grid, [(i, j)])


def make_fill(x: torch.Tensor, baseline: Baseline) -> torch.Tensor:
    """What an occluded pixel is set to, ``(C, H, W)``: a number, ``"mean"``, ``"blur"`` or an image."""
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        if not math.isfinite(baseline):
            raise OcclusionError(f"baseline must be a finite number, got {baseline!r}")
        return torch.full_like(x[0], float(baseline))
    if isinstance(baseline, str):
        if baseline == "mean":
            return x[0].mean(dim=(1, 2), keepdim=True).expand_as(x[0]).clone()
        if baseline == "blur":
            return blurred(x)[0]
    elif isinstance(baseline, torch.Tensor):
        fill = baseline.detach().to(device=x.device, dtype=x.dtype)
        if fill.dim() == 4 and fill.shape[0] == 1:
            fill = fill[0]
        if tuple(fill.shape) != tuple(x.shape[1:]):
            raise OcclusionError(
                f"a baseline image must have the input's shape {tuple(x.shape[1:])}, got {tuple(baseline.shape)}"
            )
        if not torch.isfinite(fill).all():
            raise OcclusionError("the baseline image contains NaN or infinite values")
        return fill
    raise OcclusionError(
        f"baseline must be a number, one of {', '.join(BASELINES)}, or an image tensor; got {baseline!r}"
    )
