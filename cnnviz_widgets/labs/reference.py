"""The solutions of the cs231n assignments, in plain PyTorch: what ``cw.labs.check`` compares a student's functions
with.

"Network Visualization": the three functions below work in the model's normalised input space and follow the
assignment's recipes (Simonyan et al. 2013 for saliency and class visualisation, Szegedy et al. 2013 for fooling
images). Each calls ``model.eval()`` itself: the checker hands every function a copy of the network in training
mode, where batch norm and dropout would change what it computes.

"Style Transfer": the four losses (content, Gram matrix, style, total variation) are the engine's own
(:mod:`cnnviz_widgets.engine.style.losses`), which have the assignment's signatures; they are re-exported here.
"""

from __future__ import annotations

import torch
from torch import nn

from ..engine.style.losses import content_loss, gram_matrix, style_loss, tv_loss

__all__ = [
    "class_visualization_update_step",
    "compute_saliency_maps",
    "content_loss",
    "gram_matrix",
    "make_fooling_image",
    "style_loss",
    "tv_loss",
]

FOOLING_LEARNING_RATE = 1.0
"""Length of each normalised gradient step of :func:`make_fooling_image` (its L2 norm over the whole image)."""
FOOLING_MAX_STEPS = 100
"""The most steps :func:`make_fooling_image` takes before it gives up."""


def compute_saliency_maps(X: torch.Tensor, y: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Saliency maps: how much each pixel's change would move the score of the correct class.

    Parameters
    ----------
    X : torch.Tensor
        Normalised images ``(N, 3, H, W)``.
    y : torch.Tensor
        Their correct classes ``(N,)``, long.
    model : nn.Module
        The classifier (weights frozen); put in eval mode here.

    Returns
    -------
    torch.Tensor
        ``(N, H, W)``: per pixel, the largest absolute gradient of the class score over the colour channels.
    """
    model.eval()
    X = X.clone().requires_grad_(True)
    scores = model(X)
    correct = scores.gather(1, y.view(-1, 1)).sum()  # each image's own score; summing keeps them apart
    (grad,) = torch.autograd.grad(correct, X)
    return grad.abs().amax(dim=1)


def make_fooling_image(X: torch.Tensor, target_y: int, model: nn.Module) -> torch.Tensor:
    """An image close to ``X`` that the model classifies as ``target_y``: gradient ascent on the target's score.

    Each step moves the image by ``FOOLING_LEARNING_RATE`` along the gradient divided by its L2 norm; the loop stops
    as soon as the model predicts ``target_y``, after at most ``FOOLING_MAX_STEPS`` steps.

    Parameters
    ----------
    X : torch.Tensor
        One normalised image ``(1, 3, H, W)``.
    target_y : int
        The class the model should see.
    model : nn.Module
        The classifier (weights frozen); put in eval mode here.

    Returns
    -------
    torch.Tensor
        The fooling image ``(1, 3, H, W)``.
    """
    model.eval()
    X_fooling = X.clone()
    for _ in range(FOOLING_MAX_STEPS):
        X_fooling.requires_grad_(True)
        scores = model(X_fooling)
        if scores.argmax(dim=1).item() == target_y:
            break
        (grad,) = torch.autograd.grad(scores[0, target_y], X_fooling)
        X_fooling = (X_fooling + FOOLING_LEARNING_RATE * grad / grad.norm()).detach()
    return X_fooling.detach()


def class_visualization_update_step(
    img: torch.Tensor, model: nn.Module, target_y: int, l2_reg: float, learning_rate: float
) -> None:
    """One gradient-ascent step, in place, on ``score(target_y) - l2_reg * ||img||²``.

    Parameters
    ----------
    img : torch.Tensor
        The image being optimised ``(1, 3, H, W)``, a leaf that requires grad; changed in place.
    model : nn.Module
        The classifier (weights frozen); put in eval mode here.
    target_y : int
        The class whose score the image should raise.
    l2_reg : float
        Weight of the squared L2 norm of the image, which keeps its pixels small.
    learning_rate : float
        Step size (the gradient is not normalised).
    """
    model.eval()
    score = model(img)[0, target_y]
    objective = score - l2_reg * img.pow(2).sum()
    (grad,) = torch.autograd.grad(objective, img)
    img.data += learning_rate * grad
