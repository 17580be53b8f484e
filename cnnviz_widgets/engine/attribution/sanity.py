"""Sanity check for saliency methods (Adebayo et al. 2018): cascading model-parameter randomisation.

A map that explains the model should fall apart as the model's weights are replaced by random ones, top
layer first. A map that stays the same (high rank correlation with the original) shows the image's edges,
not what the network learned. All randomisation happens on a deep copy; the user's model is untouched.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..checks import check_int
from ..errors import AttributionError
from ..inputs import prepare_input
from ..progress import Update, last
from ..replica import ModelLike, private
from .methods import explain
from .targets import ForwardArgs, Target


class SanityCheck(NamedTuple):
    """Maps after each cascade step (first: the trained model) and their rank correlation with the first."""

    names: List[str]
    maps: torch.Tensor
    correlation: torch.Tensor


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two equally sized arrays (ties get their average rank)."""

    def ranks(values: np.ndarray) -> np.ndarray:
        _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        upper = np.cumsum(counts)
        return ((upper - (counts - 1) / 2.0)[inverse]).astype(np.float64)

    ra = ranks(a.detach().double().cpu().numpy().ravel())
    rb = ranks(b.detach().double().cpu().numpy().ravel())
    ra -= ra.mean()
    rb -= rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def _parameterised_in_call_order(model: nn.Module, x: torch.Tensor, forward_args: Tuple[Any, ...]) -> List[str]:
    """Names of modules owning parameters directly, in the order the forward pass first calls them (``model``
    is the check's own copy, so its hooks touch nothing of the user's)."""
    order: List[str] = []
    handles = []
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            handles.append(
                module.register_forward_hook(
                    lambda m, i, o, name=name: order.append(name) if name not in order else None
                )
            )
    try:
        with torch.no_grad():
            model(x, *forward_args)
    finally:
        for handle in handles:
            handle.remove()
    return order


def _randomise(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters the way torch initialises layers: weights Kaiming-uniform
    (bound 1/sqrt(fan_in)) and biases uniform within the same bound, norm layers to the identity (weight 1,
    bias 0, running statistics reset). The draws come from a generator of their own on the CPU, never from
    the global random state: the person may be training with it in another thread."""
    generator = torch.Generator().manual_seed(seed)
    own = dict(module.named_parameters(recurse=False))
    weight = next((p for p in own.values() if p.dim() >= 2), None)
    bound = 1 / math.sqrt(weight[0].numel()) if weight is not None else None
    with torch.no_grad():
        reset = getattr(module, "reset_running_stats", None)  # norm layers'
        if reset is not None:
            reset()
        for name, p in own.items():
            if bound is not None:
                fresh = torch.empty(p.shape, dtype=torch.float64).uniform_(-bound, bound, generator=generator)
            elif name in ("weight", "bias"):
                fresh = torch.full(p.shape, 1.0 if name == "weight" else 0.0)
            else:
                fresh = torch.empty(p.shape, dtype=torch.float64).normal_(0.0, 0.02, generator=generator)
            p.copy_(fresh)


def sanity_check_steps(
    model: ModelLike,
    x: torch.Tensor,
    target: Target,
    method: str = "gradient",
    layer: Optional[str] = None,
    *,
    options: Optional[Dict[str, Any]] = None,
    forward_args: Tuple[Any, ...] = (),
    steps: int = 8,
    seed: int = 0,
) -> Iterator[Update[SanityCheck]]:
    """Cascading randomisation, top down, in ``steps`` groups of layers; a map and its correlation per step.

    A long call: an :class:`~..progress.Update` after each group, the last with the :class:`SanityCheck`; stop
    iterating to stop after the group in progress.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits; only a deep copy of it is randomised.
    x : torch.Tensor
        One normalised image ``(1, C, H, W)``.
    target, method, layer
        As for :func:`explain`.
    options : dict, optional
        The method's options, as keyword arguments of :func:`explain` take them (kept apart from ``steps``,
        which integrated gradients also has).
    forward_args : tuple
        Extra arguments of the model's forward after ``x``, as for :func:`explain`.
    steps : int
        Number of cascade steps; the model's parameterised layers are split into this many groups (fewer if
        the model has fewer layers).
    seed : int
        Seed of the re-initialisation, so a check can be repeated exactly.

    Returns
    -------
    SanityCheck
        ``names[i]``: the lowest layer randomised after step ``i`` (``"original"`` first); ``maps``:
        ``(steps + 1, H, W)``; ``correlation``: Spearman rank correlation of each map with the original.
    """
    steps = check_int("steps", steps, 1, error=AttributionError)
    if isinstance(x, torch.Tensor) and (x.dim() != 4 or x.shape[0] != 1):
        raise AttributionError(f"sanity_check explains one image, shape (1, C, H, W); got {tuple(x.shape)}")
    with private(model) as shared:  # the engine's lock on the model only for the copy: the check takes long
        twin = copy.deepcopy(shared)
    x = prepare_input(twin, x)
    options = dict(options or {})
    original = explain(twin, x, target, method, layer, forward_args=forward_args, **options).map[0]
    modules = dict(twin.named_modules())
    order = _parameterised_in_call_order(twin, x, ForwardArgs(forward_args, 1).values)
    if not order:
        raise AttributionError("the model has no parameters to randomise")
    groups = [list(g) for g in np.array_split(np.array(order[::-1], dtype=object), min(steps, len(order)))]
    names, maps, corr = ["original"], [original], [1.0]
    for i, group in enumerate(groups):
        for j, name in enumerate(group):
            _randomise(modules[name], seed + 1000 * i + j)
        current = explain(twin, x, target, method, layer, forward_args=forward_args, **options).map[0]
        names.append(group[-1])
        maps.append(current)
        corr.append(rank_correlation(original, current))
        if i + 1 < len(groups):
            yield Update((i + 1) / len(groups))
    yield Update(1.0, SanityCheck(names, torch.stack(maps), torch.tensor(corr)))


def sanity_check(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    method: str = "gradient",
    layer: Optional[str] = None,
    *,
    options: Optional[Dict[str, Any]] = None,
    forward_args: Tuple[Any, ...] = (),
    steps: int = 8,
    seed: int = 0,
) -> SanityCheck:
    """:func:`sanity_check_steps` run to the end; parameters as there."""
    return last(
        sanity_check_steps(
            model, x, target, method, layer, options=options, forward_args=forward_args, steps=steps, seed=seed
        )
    )
