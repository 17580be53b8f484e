"""Batched work sized by a memory budget, in the layout a CPU runs fastest: shared by the chunked attribution
methods (integrated gradients, the noise tunnel) and the occlusion sweep."""

from __future__ import annotations

import weakref
from contextlib import contextmanager
from typing import Callable, Dict, Hashable, Iterable, Iterator, List, Tuple, TypeVar

import torch
from torch import nn

T = TypeVar("T")

CPU_CHUNK = 8
"""Most images per forward (+backward) pass on a CPU, for batched attributions and occlusion alike: larger
batches run no faster per image (measured on resnet18, squeezenet1_1 and the default model) and fault in
fresh pages for every chunk."""

GRAPH_BUDGET_BYTES = 320 * 2**20
"""Extra memory a chunk of a gradient method may use for its autograd graph: with the gradients and the
allocator's slack the process peaks ~1.3x higher, so this keeps a 224-px call under ~450 MB extra."""

ACTIVATION_BUDGET_BYTES = 200 * 2**20
"""Activation memory one chunk of a no-grad pass may take (occluded images: no autograd graph is kept)."""


def spans(length: int, most: int) -> List[slice]:
    """``length`` cut into the fewest near-equal slices of at most ``most`` (one slice when ``most`` is 0): the tiles
    of a picture too large for one pass."""
    count = -(-length // most) if most else 1
    return [slice(round(i * length / count), round((i + 1) * length / count)) for i in range(count)]


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
        """Count what autograd saves inside the block."""
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t):
            yield self


_ROW_BYTES: "weakref.WeakKeyDictionary[nn.Module, Dict[Hashable, int]]" = weakref.WeakKeyDictionary()
"""Measured graph bytes of one row, per model and row kind (shape, dtype, device)."""


def memory_chunks(
    model: nn.Module,
    total: int,
    like: torch.Tensor,
    run: Callable[[slice], T],
    budget: int = GRAPH_BUDGET_BYTES,
) -> Iterator[Tuple[slice, T]]:
    """``(part, run(part))`` for slices covering ``range(total)``, where ``run`` does one forward+backward of
    ``model`` on the rows ``part`` of a virtual batch shaped like the images ``like``.

    The chunks are as large as ``budget`` allows (at most :data:`CPU_CHUNK` on a CPU) and of even size, so a big
    model gets small chunks and a small model few. What one row costs is measured on a first slice of one
    row, the first time ``model`` sees rows of that shape, dtype and device, and remembered. Nothing is held
    between two chunks: the caller may stop iterating at any of them.

    Parameters
    ----------
    model : nn.Module
        The model (its replica) the rows run through; its parameters and buffers do not count as chunk memory.
    total : int
        Rows in all.
    like : torch.Tensor
        An image batch shaped, typed and placed like the rows.
    run : callable
        Computes one chunk, given its slice of rows.
    budget : int
        Bytes one chunk's autograd graph may hold.
    """
    known = _ROW_BYTES.setdefault(model, {})
    row = (tuple(like.shape[1:]), like.dtype, like.device)
    done = 0
    if row not in known:
        meter = SavedBytes([*model.parameters(), *model.buffers()])
        with meter.measuring():
            first = run(slice(0, 1))
        known[row] = meter.bytes
        done = 1
        yield slice(0, 1), first
    size = max(1, int(budget // max(known[row], 1)))
    if like.device.type == "cpu":
        size = min(size, CPU_CHUNK)
    rest = total - done
    chunks = -(-rest // size)  # ceil; 0 when the measured row was all
    for i in range(chunks):
        stop = done + rest // chunks + (1 if i < rest % chunks else 0)
        part = slice(done, stop)
        done = stop
        yield part, run(part)


_NCHW_ONLY: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()
"""Models whose forward failed on a channels-last batch (e.g. ``x.view(n, -1)`` on a conv output)."""


def fast_layout(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``x`` in the memory layout ``model`` runs fastest in: channels-last on a CPU, whose conv kernels are
    1.2-1.6x faster there on batches, unless the model is known to fail on it (see :func:`in_fast_layout`)."""
    if x.device.type == "cpu" and model not in _NCHW_ONLY:
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


def in_fast_layout(model: nn.Module, x: torch.Tensor, fn: Callable[[torch.Tensor], T]) -> T:
    """``fn(x)`` with ``x`` in :func:`fast_layout`; a model whose forward cannot take channels-last
    (``x.view(n, -1)`` on a conv output) is remembered and given the default layout from then on."""
    if x.device.type == "cpu" and model not in _NCHW_ONLY:
        try:
            return fn(x.contiguous(memory_format=torch.channels_last))
        except RuntimeError:
            _NCHW_ONLY.add(model)
    return fn(x.contiguous())
