"""Plain input gradients (Simonyan et al. 2013) and gradient × input (Shrikumar et al. 2016)."""
from __future__ import annotations

import torch
from torch import nn

from ..hooks import model_state
from .core import input_grad, leaf, prepare_input
from .targets import Target, scoring


def gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """The gradient of the target score with respect to the input, same shape as ``x``.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits ``(N, classes)``.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class per image, a function of the logits, or a unit ``"layer:channel[:y:x]"``.
    """
    with model_state(model, requires_grad=False), scoring(model, target) as (score, _):
        inputs = leaf(prepare_input(model, x))
        return input_grad(score(inputs), inputs).detach()


def input_x_gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Gradient times input: each pixel's first-order contribution to the score (relative to a zero input).

    Parameters are as for :func:`gradient`.
    """
    return gradient(model, x, target) * prepare_input(model, x)
