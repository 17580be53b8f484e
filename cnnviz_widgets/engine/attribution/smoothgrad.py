"""SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies of the image.

The copies are processed in chunks sized by a memory budget, so many samples cost about ``samples`` times
one batched forward+backward and never more than the budget in extra memory.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..hooks import model_state
from .core import BUDGET_BYTES, Progress, chunked_input_grads, image_and_copy, prepare_input
from .targets import AttributionError, Target, repeat_target, scoring


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    samples: int = 25,
    noise: float = 0.15,
    *,
    generator: Optional[torch.Generator] = None,
    progress: Progress = None,
    budget: int = BUDGET_BYTES,
) -> torch.Tensor:
    """The mean input gradient over ``samples`` copies of ``x`` with Gaussian noise added, shape of ``x``.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class per image, a function of the logits, or a unit ``"layer:channel[:y:x]"``.
    samples : int
        Number of noisy copies per image.
    noise : float
        Noise standard deviation as a fraction of each image's value range (max - min); the paper's 10-20%.
    generator : torch.Generator, optional
        Source of the noise (on the model's device); defaults to torch's global generator, so
        ``torch.manual_seed`` makes runs repeatable.
    progress : callable, optional
        Called with the fraction done after each chunk; an exception from it stops the work.
    budget : int
        Bytes one chunk's autograd graph may hold.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise AttributionError(f"samples must be a positive integer, got {samples!r}")
    if not 0.0 <= float(noise) <= 10.0:
        raise AttributionError(f"noise is a fraction of the image's value range, 0..10 (typically 0.1-0.2); got {noise!r}")
    x = prepare_input(model, x)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    sigma = (float(noise) * (flat.amax(dim=1) - flat.amin(dim=1)).double()).to(x.dtype)
    noisy = x.repeat_interleave(samples, dim=0)
    noisy += torch.randn(noisy.shape, generator=generator, device=x.device, dtype=x.dtype) * sigma.repeat_interleave(samples).view(-1, 1, 1, 1)
    target = repeat_target(target, n, samples)
    total = torch.zeros_like(x)
    with model_state(model, requires_grad=False), scoring(model, target) as (score, _):
        for part, grad in chunked_input_grads(model, score, x, noisy.shape[0], noisy.__getitem__, budget, progress):
            total.index_add_(0, image_and_copy(part, samples, x.device)[0], grad)
    return total / samples
