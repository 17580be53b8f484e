"""Pieces every attribution method shares: checked inputs, input gradients and memory-budget chunking."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Any, Callable, Dict, Hashable, Iterable, Iterator, Optional, Tuple, TypeVar

import torch
from torch import nn

from .targets import AttributionError

T = TypeVar("T")
Progress = Optional[Callable[[float], None]]
"""Called with the fraction done between chunks; raising from it (e.g. on Stop) cancels the work."""

BUDGET_BYTES = 320 * 2**20
"""Extra memory batched methods may use for one chunk's autograd graph: with the gradients and the
allocator's slack the process peaks ~1.3x higher, so this keeps a 224-px call under ~450 MB extra."""


def prepare_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A detached, contiguous copy of ``x`` on the model's device and dtype, checked to be a float image batch
    (call it inside :func:`~cnnviz_widgets.engine.replica.private`, so a tensor made under ``inference_mode`` is
    copied into a normal one).

    Contiguity matters: a channels-last view (from a ``permute``) runs other conv kernels, whose rounding
    differs, so the same image would give slightly different maps depending on how it was built.
    """
    if not isinstance(x, torch.Tensor):
        raise AttributionError(f"expected a tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise AttributionError(f"expected a tensor of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise AttributionError(f"expected a floating-point input, got {x.dtype}; convert and normalise it first")
    if not torch.isfinite(x.sum(dtype=torch.float64)):  # NaN and inf survive a sum; one pass, no mask
        raise AttributionError("the input contains NaN or infinite values")
    param = next(model.parameters(), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None and param.is_floating_point() else x.dtype
    x = x.detach().to(device=device, dtype=dtype).contiguous()
    return x.clone() if x.is_inference() else x  # made under inference_mode: autograd cannot save it


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


CPU_CHUNK = 8
"""Most images per forward (+backward) pass on a CPU, for batched attributions and occlusion alike: larger
batches run no faster per image (measured on resnet18, squeezenet1_1 and the default model) and fault in
fresh pages for every chunk."""


class SavedBytes:
    """Counts the bytes autograd saves for backward while active: the memory one chunk's graph holds.

    Each tensor counts once (an in-place ReLU's output is saved by it and by the next layer), and the
    ``shared`` ones (the weights) not at all: they exist whatever the chunk size.
    """

    def __init__(self, shared: Iterable[torch.Tensor] = ()) -> None:
        self.bytes = 0
        self._seen = {t.data_ptr() for t in shared}

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in self._seen:
            self._seen.add(t.data_ptr())
            self.bytes += t.numel() * t.element_size()
        return t

    @contextmanager
    def measuring(self) -> Iterator["SavedBytes"]:
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield self


_ROW_BYTES: "weakref.WeakKeyDictionary[nn.Module, Dict[Hashable, int]]" = weakref.WeakKeyDictionary()
"""Measured graph bytes of one row, per model and row kind (shape, dtype, device)."""


def memory_chunks(
    model: nn.Module, total: int, like: torch.Tensor, budget: int = BUDGET_BYTES, progress: Progress = None
) -> Iterator[slice]:
    """Slices covering ``range(total)``; the caller does one forward+backward of ``model`` per slice of rows
    shaped like the images ``like``.

    The chunks are as large as ``budget`` allows (at most ``CPU_CHUNK`` on a CPU) and of even size, so a big
    model gets small chunks and a small model few. What one row costs is measured on a first slice of one
    row, the first time ``model`` sees rows of that shape, dtype and device, and remembered. ``progress`` is
    called after every slice; an exception from it stops the iteration.
    """
    known = _ROW_BYTES.setdefault(model, {})
    row = (tuple(like.shape[1:]), like.dtype, like.device)
    done = 0
    if row not in known:
        meter = SavedBytes([*model.parameters(), *model.buffers()])
        with meter.measuring():
            yield slice(0, 1)
        known[row] = meter.bytes
        done = 1
        if progress is not None:
            progress(done / total)
    size = max(1, int(budget // max(known[row], 1)))
    if like.device.type == "cpu":
        size = min(size, CPU_CHUNK)
    rest = total - done
    chunks = -(-rest // size)  # ceil; 0 when the measured row was all
    for i in range(chunks):
        stop = done + rest // chunks + (1 if i < rest % chunks else 0)
        yield slice(done, stop)
        done = stop
        if progress is not None:
            progress(done / total)


_NCHW_ONLY: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()
"""Models whose forward failed on a channels-last batch (e.g. ``x.view(n, -1)`` on a conv output)."""


def chunked_input_grads(
    model: nn.Module,
    score: Callable,
    x: torch.Tensor,
    total: int,
    rows: Callable[[slice], torch.Tensor],
    budget: int,
    progress: Progress,
    rule: Optional[Callable[[torch.Tensor], Any]] = None,
) -> Iterator[Tuple[slice, torch.Tensor]]:
    """``(part, d score / d inputs)`` for the virtual batch ``rows(part)`` of ``total`` rows shaped like the
    images ``x``, chunk by chunk (see :func:`memory_chunks`), each in the faster layout (:func:`in_fast_layout`).
    ``rule``, if given, is called with each chunk's scores before the backward pass (guided backprop's and
    deconvnet's rectifier rules hook the graph there).
    """
    for part in memory_chunks(model, total, x, budget, progress):

        def grad_of(chunk: torch.Tensor) -> torch.Tensor:
            inputs = leaf(chunk)
            scores = score(inputs, part)
            if rule is not None:
                rule(scores)
            return input_grad(scores, inputs)

        yield part, in_fast_layout(model, rows(part), grad_of)


def in_fast_layout(model: nn.Module, x: torch.Tensor, fn: Callable[[torch.Tensor], T]) -> T:
    """``fn(x)`` with ``x`` channels-last on a CPU, whose conv kernels are 1.2-1.6x faster there on batches.

    A model whose forward cannot take that layout (``x.view(n, -1)`` on a conv output) is remembered and
    given ``x`` in the default layout from then on.
    """
    if x.device.type == "cpu" and model not in _NCHW_ONLY:
        try:
            return fn(x.contiguous(memory_format=torch.channels_last))
        except RuntimeError:
            _NCHW_ONLY.add(model)
    return fn(x.contiguous())


def image_and_copy(part: slice, copies: int, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Which image and which of its copies (path point, noise sample) each row of ``part`` is; rows run
    image-major, ``copies`` rows per image."""
    rows = torch.arange(part.start, part.stop, device=device)
    return rows // copies, rows % copies


def blurred(x: torch.Tensor) -> torch.Tensor:
    """``x`` blurred beyond recognition (sigma a twentieth of its size): the "blur" baseline of IG and occlusion."""
    return gaussian_blur(x, sigma=max(x.shape[-2:]) / 20)


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
