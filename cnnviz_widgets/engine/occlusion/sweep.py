"""The occlusion sweep: every window of a :class:`Grid` scored, chunk by chunk, into a growing map.

Windows are evaluated coarse to fine (:meth:`Grid.order`): a coarse preview of the whole map exists after
a sixteenth of the work, the stride-doubled map after about a quarter, and ``progress`` sees every partial
result. On the CPU, models ``torch.fx`` can trace are evaluated by :mod:`.incremental`, which recomputes only
what each window changes; other models (and GPUs) get whole occluded images in chunks.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Iterator, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..batching import ACTIVATION_BUDGET_BYTES, CPU_CHUNK, fast_layout, in_fast_layout
from ..inputs import check_finite, class_indices, class_scores, prepare_input
from ..progress import Update, last
from ..replica import ModelLike, logits_expected, private
from ..tracing import hook_free
from .grid import Baseline, Grid, Occlusion, OcclusionError, Pair, make_fill, occlude
from .incremental import Replay, occluded

REPLAY_CHUNK = 16
"""Windows per replayed chunk on the CPU: boxes are small, so bigger batches keep the kernels busy."""

_NOT_REPLAYABLE: "weakref.WeakSet[nn.Module]" = weakref.WeakSet()
"""Models whose traced replay failed or disagreed with their forward pass: evaluated in whole batches."""


def _checked(out: Any) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        raise OcclusionError(logits_expected(out))
    check_finite(out, error=OcclusionError)
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
        logits = _checked(in_fast_layout(model, x, model))
    finally:
        for handle in handles:
            handle.remove()
    return logits, max(largest[0], x.numel() * x.element_size())


def _chunk_size(device: torch.device, row_bytes: int, budget: int, cap: int = CPU_CHUNK) -> int:
    size = max(1, budget // (3 * row_bytes))
    return min(size, cap) if device.type == "cpu" else size


class Batched:
    """Occluded images built whole and run through the model's own forward, a chunk at a time."""

    recomputed = 1.0

    def __init__(self, model: nn.Module, x: torch.Tensor, fill: torch.Tensor, grid: Grid, budget: int):
        self.model, self.x, self.fill, self.grid = model, x, fill, grid
        self.logits, row_bytes = _largest_output_bytes(model, x)
        self.chunk = _chunk_size(x.device, row_bytes, budget)

    def __call__(self, cells: Sequence[Pair]) -> torch.Tensor:
        batch = occlude(self.x, self.fill, self.grid, cells)
        return _checked(in_fast_layout(self.model, batch, self.model))


class Replayed:
    """Occluded windows evaluated by :class:`Replay`: only the region each window reaches is recomputed."""

    def __init__(self, model: nn.Module, x: torch.Tensor, fill: torch.Tensor, grid: Grid, budget: int):
        self.grid, self.fill = grid, fill
        self.x = fast_layout(model, x)
        self.replay = Replay(model, self.x)
        self.logits = _checked(self.replay.logits)
        self.chunk = _chunk_size(x.device, self.replay.largest_bytes, budget, REPLAY_CHUNK)
        self.frame = tuple(min(w, n) for w, n in zip(grid.window, grid.size))

    @property
    def recomputed(self) -> float:
        return self.replay.recomputed

    def __call__(self, cells: Sequence[Pair]) -> torch.Tensor:
        boxes = [self.grid.box(i, j) for i, j in cells]
        return _checked(self.replay(occluded(self.x, self.fill, boxes, self.frame)))  # type: ignore[arg-type]


def _evaluator(
    model: nn.Module, x: torch.Tensor, fill: torch.Tensor, grid: Grid, budget: int
) -> Union[Batched, Replayed]:
    """The replay when the model allows it and it reproduces the model's logits on the clean image and on one
    occluded window; whole batches otherwise (a custom layer the tracer cannot follow, forward hooks, a GPU)."""
    batched = Batched(model, x, fill, grid, budget)
    if x.device.type != "cpu" or model in _NOT_REPLAYABLE or not hook_free(model):
        return batched
    try:
        replayed = Replayed(model, x, fill, grid, budget)
        probe = grid.order()[:1]
        agree = _close(replayed.logits, batched.logits) and _close(replayed(probe), batched(probe))
    except Exception:  # noqa: BLE001 - tracing runs arbitrary model code; the model's own forward still works
        agree = False
    if not agree:
        _NOT_REPLAYABLE.add(model)
        return batched
    replayed.replay.reset_counts()
    return replayed


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()) + 1e-6))


def occlusion_steps(
    model: ModelLike,
    x: torch.Tensor,
    target: int,
    window: Union[int, Pair] = 16,
    stride: Union[int, Pair] = 8,
    baseline: Baseline = 0.0,
    *,
    budget: int = ACTIVATION_BUDGET_BYTES,
) -> Iterator[Update[Occlusion]]:
    """:func:`occlusion` as a long call: an :class:`~..progress.Update` per chunk of windows with the partial
    result (``fraction``: the share of windows evaluated); stop iterating to stop the work.

    The engine's lock on the model's replica is held only while a chunk runs, so a consumer may take its time
    between chunks (send a frame to the browser) without blocking other engine calls.
    """
    with private(model) as twin, torch.no_grad():
        x = prepare_input(twin, x, OcclusionError)
        if x.shape[0] != 1:
            raise OcclusionError(
                f"occlusion explains one image at a time; got a batch of {x.shape[0]} (pass x[i:i + 1])"
            )
        idx = class_indices(target, OcclusionError)
        if idx.numel() != 1:
            raise OcclusionError(f"occlusion explains one class at a time; got {target!r}")
        grid = Grid.make((x.shape[-2], x.shape[-1]), window, stride)
        fill = make_fill(x, baseline)
        evaluate = _evaluator(twin, x, fill, grid, budget)
        logits = evaluate.logits
        clean = float(class_scores(logits, idx, OcclusionError)[0])
        clean_prob = float(F.softmax(logits.double(), dim=1)[0, int(idx[0])])
    scores = torch.full(grid.counts, math.nan, dtype=torch.float64)
    probs = scores.clone()
    drop_sum = torch.zeros(grid.size, dtype=torch.float64)
    covered = torch.zeros(grid.size, dtype=torch.float64)
    order = grid.order()
    for start in range(0, len(order), evaluate.chunk):
        cells = order[start : start + evaluate.chunk]
        with private(twin), torch.no_grad():
            logits = evaluate(cells)
            values = class_scores(logits, idx.expand(len(cells)), OcclusionError).double().cpu()
            chances = F.softmax(logits.double(), dim=1)[:, int(idx[0])].cpu()
        for (i, j), value, chance in zip(cells, values.tolist(), chances.tolist()):
            scores[i, j], probs[i, j] = value, chance
            ys, xs = grid.box(i, j)
            drop_sum[ys, xs] += clean - value
            covered[ys, xs] += 1
        done = start + len(cells)
        partial = Occlusion(
            drop_sum / covered, scores.clone(), probs.clone(), clean, clean_prob, grid, done, evaluate.recomputed
        )
        yield Update(partial.fraction, partial)


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int,
    window: Union[int, Pair] = 16,
    stride: Union[int, Pair] = 8,
    baseline: Baseline = 0.0,
    *,
    budget: int = ACTIVATION_BUDGET_BYTES,
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
    budget : int
        Activation bytes one chunk may take.

    Returns
    -------
    Occlusion
        The pixel map, per-window scores and probabilities, and the clean score and probability; for partial
        maps as they fill in, iterate :func:`occlusion_steps`.
    """
    return last(occlusion_steps(model, x, target, window, stride, baseline, budget=budget))
