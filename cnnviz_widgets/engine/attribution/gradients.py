"""Plain input gradients (Simonyan et al. 2013) and gradient × input (Shrikumar et al. 2016)."""

from __future__ import annotations

from typing import Any, Tuple

import torch
from torch import nn

from ..inputs import prepare_input
from ..replica import on_replica
from .core import input_grad, leaf
from .targets import ForwardArgs, Target, scoring


@on_replica
def gradient(model: nn.Module, x: torch.Tensor, target: Target, *, forward_args: Tuple[Any, ...] = ()) -> torch.Tensor:
    """The gradient of the target score with respect to the input, same shape as ``x``.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits ``(N, classes)``.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class per image, a function of the logits, or a unit ``"layer:channel[:y:x]"``.
    forward_args : tuple
        Extra arguments of the model's forward after ``x`` (see :class:`~.targets.ForwardArgs`).
    """
    x = prepare_input(model, x)
    with scoring(model, target, forward_args=ForwardArgs(forward_args, x.shape[0])) as (score, _):
        inputs = leaf(x)
        return input_grad(score(inputs), inputs).detach()


@on_replica
def input_x_gradient(
    model: nn.Module, x: torch.Tensor, target: Target, *, forward_args: Tuple[Any, ...] = ()
) -> torch.Tensor:
    """Gradient times input: each pixel's first-order contribution to the score (relative to a zero input).

    Parameters are as for :func:`gradient`.
    """
    return gradient(model, x, target, forward_args=forward_args) * prepare_input(model, x)
