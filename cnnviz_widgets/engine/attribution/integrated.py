"""Integrated Gradients (Sundararajan et al. 2017): gradients averaged along a straight path from a baseline.

The path integral is a quadrature over ``steps`` points (Gauss-Legendre by default, or a Riemann rule), run
in memory-budget chunks. The attributions should sum to ``f(x) - f(baseline)`` ("completeness"); the
difference is returned so a user can see whether enough steps were taken.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..batching import GRAPH_BUDGET_BYTES
from ..checks import check_int
from ..errors import AttributionError
from ..filters import blurred
from ..inputs import prepare_input
from ..progress import Update, last
from ..replica import steps_on_replica
from .core import chunked_input_grads, image_and_copy
from .targets import ForwardArgs, Target, repeat_target, scoring

RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
BASELINES = ("zeros", "blur")


def quadrature(steps: int, rule: str = "gausslegendre") -> Tuple[torch.Tensor, torch.Tensor]:
    """Points ``alpha`` in [0, 1] and weights summing to 1 for integrating over the path."""
    steps = check_int("steps", steps, 1, error=AttributionError)
    if rule not in RULES:
        raise AttributionError(f"unknown integration rule {rule!r}; choose one of: {', '.join(RULES)}")
    if rule == "gausslegendre":
        nodes, node_weights = np.polynomial.legendre.leggauss(steps)
        return torch.from_numpy((nodes + 1) / 2), torch.from_numpy(node_weights / 2)
    if rule == "riemann_trapezoid":
        if steps < 2:
            raise AttributionError("the trapezoid rule needs at least 2 steps")
        alphas = torch.linspace(0, 1, steps, dtype=torch.float64)
        weights = torch.full((steps,), 1 / (steps - 1), dtype=torch.float64)
        weights[[0, -1]] /= 2
        return alphas, weights
    start = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[rule]
    alphas = (torch.arange(steps, dtype=torch.float64) + start) / steps
    return alphas, torch.full((steps,), 1 / steps, dtype=torch.float64)


def make_baseline(x: torch.Tensor, baseline: Union[None, str, float, torch.Tensor]) -> torch.Tensor:
    """The reference image: ``"zeros"`` (the dataset mean after normalisation), ``"blur"``, a number or a tensor."""
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return torch.zeros_like(x)
    if isinstance(baseline, str):
        if baseline == "blur":
            return blurred(x)
        raise AttributionError(
            f"unknown baseline {baseline!r}; choose one of: {', '.join(BASELINES)}, a number or a tensor"
        )
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if isinstance(baseline, torch.Tensor):
        try:
            return baseline.detach().to(device=x.device, dtype=x.dtype).expand_as(x).clone()
        except RuntimeError as exc:
            raise AttributionError(
                f"a baseline of shape {tuple(baseline.shape)} does not fit the input's {tuple(x.shape)}"
            ) from exc
    raise AttributionError(
        f"baseline must be one of {', '.join(BASELINES)}, a number or a tensor; got {type(baseline).__name__}"
    )


Attribution = Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]
"""The attribution, or with ``return_error`` the attribution and the completeness error per image."""


@steps_on_replica
def integrated_gradients_steps(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    steps: int = 50,
    baseline: Union[None, str, float, torch.Tensor] = None,
    rule: str = "gausslegendre",
    *,
    forward_args: Tuple[Any, ...] = (),
    budget: int = GRAPH_BUDGET_BYTES,
    return_error: bool = False,
) -> Iterator[Update[Attribution]]:
    """:func:`integrated_gradients` chunk by chunk: an :class:`~..progress.Update` after each chunk of path
    points, the last with the result; stop iterating to stop within one chunk. Parameters as there."""
    x = prepare_input(model, x)
    args = ForwardArgs(forward_args, x.shape[0])
    yield from path_integral(model, x, target, args, steps, baseline, rule, budget=budget, return_error=return_error)


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    steps: int = 50,
    baseline: Union[None, str, float, torch.Tensor] = None,
    rule: str = "gausslegendre",
    *,
    forward_args: Tuple[Any, ...] = (),
    budget: int = GRAPH_BUDGET_BYTES,
    return_error: bool = False,
) -> Attribution:
    """Integrated gradients of the target score, same shape as ``x``.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class per image, a function of the logits, or a unit ``"layer:channel[:y:x]"``.
    steps : int
        Points on the path from the baseline to ``x``.
    baseline : {"zeros", "blur"}, float or tensor, optional
        Reference input; zeros (the mean image, once normalised) by default.
    rule : str
        ``"gausslegendre"`` or ``"riemann_trapezoid" | "riemann_left" | "riemann_right" | "riemann_middle"``.
    forward_args : tuple
        Extra arguments of the model's forward after ``x``; tensors with one row per image go with their
        image's path points (see :class:`~.targets.ForwardArgs`).
    budget : int
        Bytes one chunk's autograd graph may hold.
    return_error : bool
        Also return the completeness error ``sum(attr) - (f(x) - f(baseline))`` per image, shape ``(N,)``.
    """
    return last(
        integrated_gradients_steps(
            model, x, target, steps, baseline, rule, forward_args=forward_args, budget=budget, return_error=return_error
        )
    )


def path_integral(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    args: ForwardArgs,
    steps: int = 50,
    baseline: Union[None, str, float, torch.Tensor] = None,
    rule: str = "gausslegendre",
    *,
    budget: int = GRAPH_BUDGET_BYTES,
    return_error: bool = False,
) -> Iterator[Update[Attribution]]:
    """:func:`integrated_gradients_steps` of a prepared batch ``x`` (on ``model``'s replica), whose rows the
    model's extra arguments ``args`` go with (the noise tunnel's noisy copies share their image's arguments)."""
    alphas, weights = quadrature(steps, rule)
    steps = len(alphas)
    base = make_baseline(x, baseline)
    n = x.shape[0]
    delta = x - base
    alphas, weights = alphas.to(x.device, x.dtype), weights.to(x.device, x.dtype)
    total = torch.zeros_like(x)

    def path_points(part: slice) -> torch.Tensor:
        image, step = image_and_copy(part, steps, x.device)
        return base[image] + alphas[step].view(-1, 1, 1, 1) * delta[image]

    scorer = functools.partial(scoring, model, repeat_target(target, n, steps), forward_args=args.repeat(steps))
    rows = n * steps
    for part, grad in chunked_input_grads(model, scorer, x, rows, path_points, budget):
        image, step = image_and_copy(part, steps, x.device)
        total.index_add_(0, image, grad * weights[step].view(-1, 1, 1, 1))
        if part.stop < rows:
            yield Update(part.stop / rows)
    attr = total * delta
    if not return_error:
        yield Update(1.0, attr)
        return
    with scoring(model, repeat_target(target, n, 2), forward_args=args.repeat(2)) as (score, _), torch.no_grad():
        ends = score(torch.stack([x, base], dim=1).flatten(0, 1)).view(n, 2)
    yield Update(1.0, (attr, attr.flatten(1).sum(dim=1) - (ends[:, 0] - ends[:, 1])))
