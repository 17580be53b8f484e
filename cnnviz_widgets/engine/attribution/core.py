"""Pieces every attribution method shares: checked inputs, input gradients and memory-budget chunking."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import torch
from torch import nn

from .targets import AttributionError

Progress = Optional[Callable[[float], None]]
"""Called with the fraction done between chunks; raising from it (e.g. on Stop) cancels the work."""

BUDGET_BYTES = 400 * 2**20
"""Extra memory batched methods may use for one chunk's autograd graph (~500 MB peak with gradients)."""


def prepare_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous copy of ``x`` on the model's device and dtype, checked to be a float image batch.

    Contiguity matters: a channels-last view (from a ``permute``) runs other conv kernels, whose rounding
    differs, so the same image would give slightly different maps depending on how it was built.
    """
    if not isinstance(x, torch.Tensor):
        raise AttributionError(f"expected a tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise AttributionError(f"expected a tensor of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise AttributionError(f"expected a floating-point input, got {x.dtype}; convert and normalise it first")
    if not torch.isfinite(x).all():
        raise AttributionError("the input contains NaN or infinite values")
    param = next(model.parameters(), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None and param.is_floating_point() else x.dtype
    return x.detach().to(device=device, dtype=dtype).contiguous()


def input_grad(scores: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """d(sum of scores)/d(inputs), with a plain-language error when the graph is broken."""
    if not scores.requires_grad:
        raise AttributionError(
            "the model's output does not depend differentiably on its input (an argmax, .detach() or "
            "torch.no_grad inside forward?); gradient methods need a differentiable model"
        )
    (grad,) = torch.autograd.grad(scores.sum(), inputs)
    return grad


def leaf(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a fresh leaf that records gradients."""
    return x.detach().requires_grad_(True)


class SavedBytes:
    """Counts the bytes autograd saves for backward while active: the memory one chunk's graph holds."""

    def __init__(self) -> None:
        self.bytes = 0

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        self.bytes += t.numel() * t.element_size()
        return t

    @contextmanager
    def measuring(self) -> Iterator["SavedBytes"]:
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield self


def memory_chunks(total: int, budget: int = BUDGET_BYTES, progress: Progress = None) -> Iterator[slice]:
    """Slices covering ``range(total)``; the caller does one forward+backward per slice.

    The first slice holds one item and is measured; the rest are as large as ``budget`` allows, so a big
    model gets small chunks and a small model gets the whole batch at once. ``progress`` is called after
    every slice; an exception from it stops the iteration.
    """
    done, size = 0, 1
    while done < total:
        stop = min(total, done + size)
        if done == 0:
            meter = SavedBytes()
            with meter.measuring():
                yield slice(0, stop)
            size = max(1, int(budget // max(meter.bytes, 1)))
        else:
            yield slice(done, stop)
        done = stop
        if progress is not None:
            progress(done / total)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each channel of ``(N, C, H, W)`` blurred by a Gaussian of ``sigma`` pixels (reflected borders)."""
    radius = max(1, int(3 * sigma + 0.5))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    out = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="reflect")
    out = torch.nn.functional.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
