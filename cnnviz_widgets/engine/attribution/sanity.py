"""Sanity check for saliency methods (Adebayo et al. 2018): cascading model-parameter randomisation.

A map that explains the model should fall apart as the model's weights are replaced by random ones, top
layer first. A map that stays the same (high rank correlation with the original) shows the image's edges,
not what the network learned. All randomisation happens on a deep copy; the user's model is untouched.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from ..hooks import model_state
from .core import Progress, prepare_input
from .methods import explain
from .targets import AttributionError, Target


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


def _parameterised_in_call_order(model: nn.Module, x: torch.Tensor) -> List[str]:
    """Names of modules owning parameters directly, in the order the forward pass first calls them."""
    order: List[str] = []
    handles = []
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: order.append(name) if name not in order else None))
    try:
        with model_state(model), torch.no_grad():
            model(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    return order


def _randomise(module: nn.Module, seed: int) -> None:
    """Re-initialise ``module``'s own parameters (and reset its running stats) reproducibly on the CPU."""
    fresh = copy.deepcopy(module).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if hasattr(fresh, "reset_parameters"):
            fresh.reset_parameters()
        else:
            for p in fresh.parameters(recurse=False):
                torch.nn.init.normal_(p, std=0.02)
    with torch.no_grad():
        for (_, p), (_, q) in zip(module.named_parameters(recurse=False), fresh.named_parameters(recurse=False)):
            p.copy_(q)
        for (_, b), (_, c) in zip(module.named_buffers(recurse=False), fresh.named_buffers(recurse=False)):
            b.copy_(c)


def sanity_check(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    method: str = "gradient",
    layer: Optional[str] = None,
    *,
    options: Optional[Dict[str, Any]] = None,
    steps: int = 8,
    seed: int = 0,
    progress: Progress = None,
) -> SanityCheck:
    """Cascading randomisation, top down, in ``steps`` groups of layers; a map and its correlation per step.

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
    steps : int
        Number of cascade steps; the model's parameterised layers are split into this many groups (fewer if
        the model has fewer layers).
    seed : int
        Seed of the re-initialisation, so a check can be repeated exactly.
    progress : callable, optional
        Called with the fraction of steps done; raising from it cancels.

    Returns
    -------
    SanityCheck
        ``names[i]``: the lowest layer randomised after step ``i`` (``"original"`` first); ``maps``:
        ``(steps + 1, H, W)``; ``correlation``: Spearman rank correlation of each map with the original.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise AttributionError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(x, torch.Tensor) and (x.dim() != 4 or x.shape[0] != 1):
        raise AttributionError(f"sanity_check explains one image, shape (1, C, H, W); got {tuple(x.shape)}")
    x = prepare_input(model, x)
    options = dict(options or {})
    with model_state(model):
        twin = copy.deepcopy(model)
    original = explain(twin, x, target, method, layer, **options).map[0]
    modules = dict(twin.named_modules())
    order = _parameterised_in_call_order(twin, x)
    if not order:
        raise AttributionError("the model has no parameters to randomise")
    groups = [list(g) for g in np.array_split(np.array(order[::-1], dtype=object), min(steps, len(order)))]
    names, maps, corr = ["original"], [original], [1.0]
    for i, group in enumerate(groups):
        for j, name in enumerate(group):
            _randomise(modules[name], seed + 1000 * i + j)
        current = explain(twin, x, target, method, layer, **options).map[0]
        names.append(group[-1])
        maps.append(current)
        corr.append(rank_correlation(original, current))
        if progress is not None:
            progress((i + 1) / len(groups))
    return SanityCheck(names, torch.stack(maps), torch.tensor(corr))
