"""Class activation maps from gradients at a layer: Grad-CAM, Grad-CAM++ and Guided Grad-CAM.

Grad-CAM (Selvaraju et al. 2017) weights a layer's channels by their spatially averaged gradient; Grad-CAM++
(Chattopadhyay et al. 2018) weights each position's positive gradient by second- and third-order terms, so
several instances of a class all light up. Guided Grad-CAM multiplies the upsampled map with guided
backprop for a sharp, class-specific picture.
"""

from __future__ import annotations

from typing import Any, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import AttributionError
from ..inputs import prepare_input
from ..replica import on_replica
from .core import input_grad
from .guided import guided_backprop
from .targets import ForwardArgs, Target, scoring


def _activation_and_grad(
    model: nn.Module, x: torch.Tensor, target: Target, layer: str, forward_args: Tuple[Any, ...]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The layer's output and the target's gradient there, both ``(N, C, h, w)``.

    Weights are frozen and the layer's output is a fresh leaf, so the forward pass below the layer builds
    no autograd graph: the cost is one plain forward plus a backward from the logits to the layer.
    """
    x = prepare_input(model, x)
    with scoring(model, target, [layer], cut=True, forward_args=ForwardArgs(forward_args, x.shape[0])) as (
        score,
        record,
    ):
        scores = score(x)
        act = record[layer]
        if act.dim() != 4:
            raise AttributionError(
                f"Grad-CAM needs a layer with a (C, H, W) output, like a convolution or a block of them; "
                f"{layer!r} gives {tuple(act.shape[1:])}"
            )
        return act.detach(), input_grad(scores, act).detach()


@on_replica
def grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: str,
    *,
    relu: bool = True,
    forward_args: Tuple[Any, ...] = (),
) -> torch.Tensor:
    """Grad-CAM at ``layer``: the activation weighted by its spatially averaged gradient, summed over
    channels and rectified (unless ``relu=False``).

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class per image, a function of the logits, or a unit ``"layer:channel[:y:x]"``.
    layer : str
        Dotted name of a layer with a ``(C, h, w)`` output.
    relu : bool
        Keep only the positive evidence, as the paper does; ``False`` also shows where the layer's evidence
        speaks against the target (captum's ``relu_attributions=False``).
    forward_args : tuple
        Extra arguments of the model's forward after ``x`` (see :class:`~.targets.ForwardArgs`).

    Returns
    -------
    torch.Tensor
        The map at the layer's resolution, ``(N, 1, h, w)``; :func:`upsample` brings it to the input's.
    """
    act, grad = _activation_and_grad(model, x, target, layer, forward_args)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = (weights * act).sum(dim=1, keepdim=True)
    return F.relu(cam) if relu else cam


@on_replica
def grad_cam_pp(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    layer: str,
    *,
    relu: bool = True,
    forward_args: Tuple[Any, ...] = (),
) -> torch.Tensor:
    """Grad-CAM++ at ``layer``, ``(N, 1, h, w)``; parameters as for :func:`grad_cam`.

    The per-position weights use the closed form for an exponential of the score, which needs only the
    first gradient: ``alpha = g² / (2 g² + Σ_ab A · g³)``.
    """
    act, grad = _activation_and_grad(model, x, target, layer, forward_args)
    g2 = grad.pow(2)
    denom = 2 * g2 + act.sum(dim=(2, 3), keepdim=True) * grad.pow(3)
    alpha = torch.where(
        denom != 0, g2 / torch.where(denom != 0, denom, torch.ones_like(denom)), torch.zeros_like(denom)
    )
    weights = (alpha * F.relu(grad)).sum(dim=(2, 3), keepdim=True)
    cam = (weights * act).sum(dim=1, keepdim=True)
    return F.relu(cam) if relu else cam


def upsample(cam: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, 1, h, w)`` maps to the input's ``(H, W)``."""
    return F.interpolate(cam, size=size, mode="bilinear", align_corners=False)


@on_replica
def guided_grad_cam(
    model: nn.Module, x: torch.Tensor, target: Target, layer: str, *, forward_args: Tuple[Any, ...] = ()
) -> torch.Tensor:
    """Guided backprop times the upsampled Grad-CAM map, same shape as ``x``; parameters as for :func:`grad_cam`.

    The Grad-CAM map keeps its ReLU: it is a mask saying where guided backprop's class-agnostic detail counts,
    and a negative mask would flip that detail's sign rather than show counter-evidence.
    """
    cam = upsample(grad_cam(model, x, target, layer, forward_args=forward_args), (x.shape[-2], x.shape[-1]))
    return guided_backprop(model, x, target, forward_args=forward_args) * cam
