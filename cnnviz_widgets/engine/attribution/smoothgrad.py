"""The noise tunnel: SmoothGrad (Smilkov et al. 2017) and its relatives over any pixel method.

A pixel method is run on ``samples`` noisy copies of the image and its attributions are aggregated: their
mean (SmoothGrad), the mean of their squares (SmoothGrad-squared) or their variance (VarGrad, Adebayo et
al. 2018). SmoothGrad over the plain gradient is the classic; over integrated gradients, guided backprop,
input × gradient or deconvnet it smooths those maps the same way.

The copies are processed in chunks sized by a memory budget, so many samples cost about ``samples`` times
one batched forward+backward (times IG's steps over integrated gradients) and never more than the budget in
extra memory.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
from torch import nn

from ..batching import GRAPH_BUDGET_BYTES
from ..checks import check_choice, check_float, check_int
from ..errors import AttributionError
from ..inputs import prepare_input
from ..progress import Update, last
from ..replica import steps_on_replica
from .core import chunked_input_grads, image_and_copy
from .guided import no_rectifier_note, rectifier_rule
from .integrated import path_integral
from .targets import ForwardArgs, Target, repeat_target, scoring

BASES = ("gradient", "input_x_gradient", "integrated_gradients", "guided_backprop", "deconvnet")
"""Pixel methods the noise tunnel runs over."""
KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")
"""How the attributions of the noisy copies are aggregated: mean, mean of squares, variance."""
BASE_OPTIONS: Dict[str, Tuple[str, ...]] = {"integrated_gradients": ("steps", "baseline", "rule")}
"""The options of the base methods that have any (keyword arguments of that method's function)."""


@steps_on_replica
def smoothgrad_steps(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    samples: int = 25,
    noise: float = 0.15,
    *,
    over: str = "gradient",
    kind: str = "smoothgrad",
    method_options: Optional[Dict[str, Any]] = None,
    forward_args: Tuple[Any, ...] = (),
    generator: Optional[torch.Generator] = None,
    budget: int = GRAPH_BUDGET_BYTES,
) -> Iterator[Update[torch.Tensor]]:
    """:func:`smoothgrad` chunk by chunk: an :class:`~..progress.Update` after each chunk of noisy copies, the
    last with the result; stop iterating to stop within one chunk. Parameters as there."""
    samples = check_int("samples", samples, 1, error=AttributionError)
    noise = check_float("noise", noise, 0.0, 10.0, error=AttributionError)
    if over not in BASES:
        raise AttributionError(f"the noise tunnel runs over one of: {', '.join(BASES)}; got over={over!r}")
    check_choice("kind", kind, KINDS, error=AttributionError)
    options = dict(method_options or {})
    valid = BASE_OPTIONS.get(over, ())
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise AttributionError(f"{over} has no option {unknown[0]!r}; its options: {', '.join(valid) or 'none'}")
    x = prepare_input(model, x)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    sigma = (float(noise) * (flat.amax(dim=1) - flat.amin(dim=1)).double()).to(x.dtype)
    noisy = x.repeat_interleave(samples, dim=0)
    noisy += torch.randn(noisy.shape, generator=generator, device=x.device, dtype=x.dtype) * sigma.repeat_interleave(
        samples
    ).view(-1, 1, 1, 1)
    target = repeat_target(target, n, samples)
    args = ForwardArgs(forward_args, n).repeat(samples)
    squares = kind != "smoothgrad"
    if over == "integrated_gradients":
        for update in path_integral(model, noisy, target, args, budget=budget, **options):
            if update.result is None:
                yield Update(update.fraction)
                continue
            assert isinstance(update.result, torch.Tensor)  # no return_error: the attribution alone
            attr = update.result.view(n, samples, *x.shape[1:])
            yield Update(1.0, _aggregate(kind, attr.sum(dim=1), attr.pow(2).sum(dim=1) if squares else None, samples))
        return
    rectified, deconv = over in ("guided_backprop", "deconvnet"), over == "deconvnet"
    rectifiers = 0

    def rectify(scores: torch.Tensor) -> None:  # guided backprop's or deconvnet's rule on each chunk's graph
        nonlocal rectifiers
        rectifiers += rectifier_rule(scores, deconv)

    total = torch.zeros_like(x)
    total_sq = torch.zeros_like(x) if squares else None
    scorer = functools.partial(scoring, model, target, forward_args=args)
    rows = noisy.shape[0]
    chunks = chunked_input_grads(model, scorer, x, rows, noisy.__getitem__, budget, rectify if rectified else None)
    for part, grad in chunks:
        attr = grad * noisy[part] if over == "input_x_gradient" else grad
        image = image_and_copy(part, samples, x.device)[0]
        total.index_add_(0, image, attr)
        if total_sq is not None:
            total_sq.index_add_(0, image, attr * attr)
        if part.stop < rows:
            yield Update(part.stop / rows)
    if rectified and rectifiers == 0:
        no_rectifier_note(deconv)
    yield Update(1.0, _aggregate(kind, total, total_sq, samples))


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    samples: int = 25,
    noise: float = 0.15,
    *,
    over: str = "gradient",
    kind: str = "smoothgrad",
    method_options: Optional[Dict[str, Any]] = None,
    forward_args: Tuple[Any, ...] = (),
    generator: Optional[torch.Generator] = None,
    budget: int = GRAPH_BUDGET_BYTES,
) -> torch.Tensor:
    """The attributions of method ``over`` on ``samples`` noisy copies of ``x``, aggregated by ``kind``; shape of ``x``.

    With the defaults: the mean input gradient over copies of ``x`` with Gaussian noise added (SmoothGrad).

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
    over : str
        The pixel method run on each copy: one of ``BASES``. Each copy is explained as an image of its own
        (integrated gradients' ``"blur"`` baseline is the blurred noisy copy).
    kind : str
        ``"smoothgrad"`` (mean of the attributions), ``"smoothgrad_sq"`` (mean of their squares) or
        ``"vargrad"`` (their variance, ``mean(a²) - mean(a)²``).
    method_options : dict, optional
        Options of the method ``over`` (integrated gradients: ``steps``, ``baseline``, ``rule``).
    forward_args : tuple
        Extra arguments of the model's forward after ``x``; tensors with one row per image go with their
        image's noisy copies (see :class:`~.targets.ForwardArgs`).
    generator : torch.Generator, optional
        Source of the noise (on the model's device); defaults to torch's global generator, so
        ``torch.manual_seed`` makes runs repeatable.
    budget : int
        Bytes one chunk's autograd graph may hold.
    """
    return last(
        smoothgrad_steps(
            model,
            x,
            target,
            samples,
            noise,
            over=over,
            kind=kind,
            method_options=method_options,
            forward_args=forward_args,
            generator=generator,
            budget=budget,
        )
    )


def _aggregate(kind: str, total: torch.Tensor, total_sq: Optional[torch.Tensor], samples: int) -> torch.Tensor:
    """The ``kind`` of aggregate from the sums of the attributions (and of their squares) over ``samples`` copies."""
    mean = total / samples
    if kind == "smoothgrad":
        return mean
    assert total_sq is not None, "the squares are summed for every kind but the mean"
    mean_sq = total_sq / samples
    return mean_sq if kind == "smoothgrad_sq" else mean_sq - mean * mean
