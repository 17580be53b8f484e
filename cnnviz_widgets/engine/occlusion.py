"""Occlusion sensitivity (Zeiler & Fergus 2014): how much the class score drops when a patch is greyed out.

Windows start every ``stride`` pixels from the top-left corner, one more than fits is placed and clipped at
the border, and each pixel's value is the mean score drop over the windows covering it: captum's
``Occlusion`` layout, so the two maps can be compared cell for cell. Windows are evaluated coarse grid first
(every other window in both directions), so a full low-resolution map exists after about a quarter of the
work and is then refined; ``progress`` sees every partial result.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .attribution.core import CPU_CHUNK, blurred, in_fast_layout, prepare_input
from .attribution.targets import AttributionError, _class_scores, check_finite, class_indices
from .hooks import model_state

Pair = Tuple[int, int]
Baseline = Union[float, str, torch.Tensor]
BASELINES = ("mean", "blur")
"""Named baselines besides a number or an image: the image's per-channel mean, or the image blurred."""

BUDGET_BYTES = 200 * 2**20
"""Activation memory one chunk of occluded images may take (no autograd graph is kept)."""


class OcclusionError(AttributionError):
    """Bad window, stride, baseline or input for occlusion; the message names the valid choices."""


def _pair(value: Union[int, Tuple[int, int]], name: str) -> Pair:
    if isinstance(value, bool) or not isinstance(value, (int, tuple, list)):
        raise OcclusionError(f"{name} must be a positive integer or a (height, width) pair, got {value!r}")
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise OcclusionError(f"{name} must be a positive integer or a (height, width) pair, got {value!r}")
    if min(pair) < 1:
        raise OcclusionError(f"{name} must be at least 1 pixel, got {value!r}")
    return pair  # type: ignore[return-value]


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
                raise OcclusionError(f"a window {what} of {w} does not fit in the image's {what} of {n} pixels (1..{n})")
            if s > w and w < n:
                raise OcclusionError(f"a stride {what} of {s} leaves gaps between windows of {what} {w}; use a stride of 1..{w}")
        return cls(tuple(size), window, stride)  # type: ignore[arg-type]

    @property
    def counts(self) -> Pair:
        """Windows per column and per row: as many as fit, plus one clipped at the border if needed."""
        return tuple(math.ceil((n - w) / s) + 1 for n, w, s in zip(self.size, self.window, self.stride))  # type: ignore[return-value]

    def box(self, i: int, j: int) -> Tuple[slice, slice]:
        """The pixels window ``(i, j)`` covers, clipped to the image."""
        (sy, sx), (wy, wx) = self.stride, self.window
        return slice(i * sy, min(i * sy + wy, self.size[0])), slice(j * sx, min(j * sx + wx, self.size[1]))

    def order(self) -> List[Pair]:
        """Every window, the coarse grid (even rows and columns) first, each part in reading order."""
        ny, nx = self.counts
        cells = [(i, j) for i in range(ny) for j in range(nx)]
        return [c for c in cells if c[0] % 2 == 0 and c[1] % 2 == 0] + [c for c in cells if c[0] % 2 or c[1] % 2]


class Occlusion(NamedTuple):
    """An occlusion map, complete or partial (windows not evaluated yet are NaN in ``scores``/``probs``).

    ``map`` is ``(H, W)``: the mean drop of the target score over the evaluated windows covering each pixel
    (NaN where none is evaluated yet). ``scores`` and ``probs`` are ``(rows, columns)`` of windows: the target
    logit and its softmax probability with that window occluded; ``score`` and ``prob`` are the clean image's.
    """

    map: torch.Tensor
    scores: torch.Tensor
    probs: torch.Tensor
    score: float
    prob: float
    grid: Grid
    done: int

    @property
    def total(self) -> int:
        """Number of windows."""
        return self.scores.numel()

    @property
    def fraction(self) -> float:
        """Share of the windows evaluated so far."""
        return self.done / self.total


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
            raise OcclusionError(f"a baseline image must have the input's shape {tuple(x.shape[1:])}, got {tuple(baseline.shape)}")
        if not torch.isfinite(fill).all():
            raise OcclusionError("the baseline image contains NaN or infinite values")
        return fill
    raise OcclusionError(f"baseline must be a number, one of {', '.join(BASELINES)}, or an image tensor; got {baseline!r}")


def _logits(model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    out = in_fast_layout(model, batch, model)
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise OcclusionError(f"expected the model to return logits of shape (N, classes), got {shape}")
    check_finite(out)
    return out


def _largest_output_bytes(model: nn.Module, x: torch.Tensor) -> Tuple[torch.Tensor, int]:
    """The logits of ``x`` and the size of the largest module output on the way: what one more image adds to
    a no-grad forward pass's peak memory (about three of these are alive at once)."""
    largest = [0]

    def hook(_module: nn.Module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            largest[0] = max(largest[0], output.numel() * output.element_size())

    handles = [module.register_forward_hook(hook) for module in model.modules()]
    try:
        logits = _logits(model, x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, max(largest[0], x.numel() * x.element_size())


def _chunk_size(device: torch.device, row_bytes: int, budget: int) -> int:
    size = max(1, budget // (3 * row_bytes))
    return min(size, CPU_CHUNK) if device.type == "cpu" else size


def occlusion_steps(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    window: Union[int, Pair] = 16,
    stride: Union[int, Pair] = 8,
    baseline: Baseline = 0.0,
    *,
    budget: int = BUDGET_BYTES,
) -> Iterator[Occlusion]:
    """:func:`occlusion`, one partial result per chunk of windows: stop iterating to stop the work.

    The model stays in eval mode under the engine's lock only while a chunk runs, so a consumer may take its
    time between chunks (send a frame to the browser) without blocking other engine calls.
    """
    x = prepare_input(model, x)
    if x.shape[0] != 1:
        raise OcclusionError(f"occlusion explains one image at a time; got a batch of {x.shape[0]} (pass x[i:i + 1])")
    idx = class_indices(target)
    if idx.numel() != 1:
        raise OcclusionError(f"occlusion explains one class at a time; got {target!r}")
    grid = Grid.make(tuple(x.shape[-2:]), window, stride)
    fill = make_fill(x, baseline)
    with model_state(model, requires_grad=False), torch.no_grad():
        logits, row_bytes = _largest_output_bytes(model, x)
        clean = float(_class_scores(logits, idx)[0])
        clean_prob = float(F.softmax(logits.double(), dim=1)[0, int(idx[0])])
    size = _chunk_size(x.device, row_bytes, budget)
    scores = torch.full(grid.counts, math.nan, dtype=torch.float64)
    probs = scores.clone()
    drop_sum = torch.zeros(grid.size, dtype=torch.float64)
    covered = torch.zeros(grid.size, dtype=torch.float64)
    order = grid.order()
    for start in range(0, len(order), size):
        cells = order[start : start + size]
        batch = x.expand(len(cells), *x.shape[1:]).clone()
        for row, (i, j) in enumerate(cells):
            ys, xs = grid.box(i, j)
            batch[row, :, ys, xs] = fill[:, ys, xs]
        with model_state(model, requires_grad=False), torch.no_grad():
            logits = _logits(model, batch)
            values = _class_scores(logits, idx.expand(len(cells))).double().cpu()
            chances = F.softmax(logits.double(), dim=1)[:, int(idx[0])].cpu()
        for (i, j), value, chance in zip(cells, values.tolist(), chances.tolist()):
            scores[i, j], probs[i, j] = value, chance
            ys, xs = grid.box(i, j)
            drop_sum[ys, xs] += clean - value
            covered[ys, xs] += 1
        yield Occlusion(drop_sum / covered, scores.clone(), probs.clone(), clean, clean_prob, grid, start + len(cells))


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    window: Union[int, Pair] = 16,
    stride: Union[int, Pair] = 8,
    baseline: Baseline = 0.0,
    progress: Optional[Callable[[Occlusion], None]] = None,
    cancel: Optional[Callable[[], bool]] = None,
    *,
    budget: int = BUDGET_BYTES,
) -> Occlusion:
    """Slide a patch of ``baseline`` over the image and record how the target class's score drops.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits; left exactly as it was.
    x : torch.Tensor
        One normalised image ``(1, C, H, W)``; any height and width.
    target : int
        Class whose logit is watched.
    window, stride : int or (int, int)
        Patch size and step in pixels (height, width). A stride larger than the window would leave pixels
        no window covers and is refused; where the windows do not tile the image evenly, the last one in
        each row and column is clipped at the border (as captum does).
    baseline : float, "mean", "blur" or tensor
        What the patch shows: a value in the normalised input space (0 is the dataset mean colour), the
        image's per-channel mean, a blurred copy of the image, or an image of the input's shape.
    progress : callable, optional
        Called with the partial :class:`Occlusion` after each chunk of windows; raising from it stops.
    cancel : callable, optional
        Polled after each chunk; when it returns true the partial result so far is returned.
    budget : int
        Activation bytes one chunk may take.

    Returns
    -------
    Occlusion
        The pixel map, per-window scores and probabilities, and the clean score and probability.
    """
    result = None
    for result in occlusion_steps(model, x, target, window, stride, baseline, budget=budget):
        if progress is not None:
            progress(result)
        if cancel is not None and cancel():
            break
    assert result is not None  # a grid always has at least one window
    return result
