"""Pieces the gradient methods share: input gradients, and gradients of a virtual batch chunk by chunk."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Iterator, Optional, Tuple

import torch
from torch import nn

from ..batching import GRAPH_BUDGET_BYTES, in_fast_layout, memory_chunks
from ..errors import AttributionError

Scorer = Callable[[], "AbstractContextManager[Tuple[Callable[..., torch.Tensor], Any]]"]
"""Opens :func:`~.targets.scoring` for one chunk: its hooks live only while that chunk runs."""


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


def chunked_input_grads(
    model: nn.Module,
    scorer: Scorer,
    x: torch.Tensor,
    total: int,
    rows: Callable[[slice], torch.Tensor],
    budget: int = GRAPH_BUDGET_BYTES,
    rule: Optional[Callable[[torch.Tensor], Any]] = None,
) -> Iterator[Tuple[slice, torch.Tensor]]:
    """``(part, d score / d inputs)`` for the virtual batch ``rows(part)`` of ``total`` rows shaped like the
    images ``x``, chunk by chunk (see :func:`~..batching.memory_chunks`), each in the faster layout.

    ``scorer()`` opens the scoring hooks for one chunk, so none is left on the model between chunks. ``rule``,
    if given, is called with each chunk's scores before the backward pass (guided backprop's and deconvnet's
    rectifier rules hook the graph there).
    """

    def grads(part: slice) -> torch.Tensor:
        def grad_of(chunk: torch.Tensor) -> torch.Tensor:
            with scorer() as (score, _):
                inputs = leaf(chunk)
                scores = score(inputs, part)
                if rule is not None:
                    rule(scores)
                return input_grad(scores, inputs)

        return in_fast_layout(model, rows(part), grad_of)

    return memory_chunks(model, total, x, grads, budget)


def image_and_copy(part: slice, copies: int, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """Which image and which of its copies (path point, noise sample) each row of ``part`` is; rows run
    image-major, ``copies`` rows per image."""
    rows = torch.arange(part.start, part.stop, device=device)
    return rows // copies, rows % copies
