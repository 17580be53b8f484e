"""The losses of Gatys et al.'s style transfer, written as plainly as the cs231n lab states them.

Content: squared distance between feature maps. Style: squared distance between Gram matrices (channel-by-channel
correlations, position averaged away, so only texture survives). Total variation: squared differences between
neighbouring pixels. These functions are the engine's and the lab checker's reference alike; the optimiser's
objectives (:mod:`.objectives`) compute the same sums.

``smooth`` is the remedy for residual networks (Wang, Li & Vasconcelos 2021, "SWAG"): their activations are peaky,
a few huge values dominate every Gram matrix, and the optimiser chases those instead of the texture; a softmax over
the whole feature map (times its size, so the mean stays 1) evens them out.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

import torch


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Gram matrices ``(B, C, C)`` of features ``(B, C, H, W)``: ``F Fᵀ`` over positions, divided by ``C·H·W`` when
    ``normalize`` (cs231n's normalisation, which makes layers of any size comparable)."""
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    gram = flat @ flat.transpose(1, 2)
    return gram / (channels * height * width) if normalize else gram


def content_loss(content_weight: float, content_current: torch.Tensor, content_original: torch.Tensor) -> torch.Tensor:
    """``content_weight`` times the sum of squared differences between two feature maps of the same shape."""
    return content_weight * (content_current - content_original).pow(2).sum()


def style_loss(
    feats: Union[Mapping[Any, torch.Tensor], Sequence[torch.Tensor]],
    style_layers: Sequence[Any],
    style_targets: Sequence[torch.Tensor],
    style_weights: Sequence[float],
) -> torch.Tensor:
    """Sum over ``style_layers`` of ``style_weights[i]`` times the squared distance between the normalised Gram
    matrix of ``feats[style_layers[i]]`` and ``style_targets[i]`` (``feats``: a list by index, as cs231n's, or a dict
    by layer name)."""
    terms = [
        weight * (gram_matrix(feats[layer]) - target).pow(2).sum()
        for layer, target, weight in zip(style_layers, style_targets, style_weights)
    ]
    return torch.stack(terms).sum()


def tv_loss(img: torch.Tensor, tv_weight: float) -> torch.Tensor:
    """``tv_weight`` times the sum of squared differences between vertically and horizontally adjacent pixels of
    ``img`` ``(B, C, H, W)``."""
    down = (img[..., 1:, :] - img[..., :-1, :]).pow(2).sum()
    across = (img[..., :, 1:] - img[..., :, :-1]).pow(2).sum()
    return tv_weight * (down + across)


def smooth(features: torch.Tensor, temperature: float) -> torch.Tensor:
    """SWAG's softmax of each image's whole feature map ``(B, C, H, W)`` at ``temperature``, times the number of
    values so that their mean is 1 whatever the layer's size."""
    flat = features.flatten(1)
    return (torch.softmax(flat / temperature, dim=1) * flat.shape[1]).reshape(features.shape)
