"""An impartial judge of style transfer: a small, seeded, randomly initialised CNN that no optimisation ever saw.

Judging a stylised picture with the network it was optimised on is circular (the optimiser made exactly those numbers
small). Random shallow networks already capture texture well (Ustyuzhaninov et al. 2016), so this one compares
Gram matrices (style) and deepest feature maps (content) in its own feature space.
"""

from __future__ import annotations

from typing import List, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .losses import gram_matrix

JUDGE_SEED = 1234


class Verdict(NamedTuple):
    """How a result sits between its content and style pictures, in the judge's features.

    ``style_progress``: how far the result's Gram statistics moved from the content's towards the style's (0: not at
    all, 1: all the way), ``1 - d(result, style) / d(content, style)``. ``content_distance`` and ``style_distance``:
    distances of the result's deepest feature maps to the content photo's and to the style picture's (resized to the
    result's size); the content is kept when the first is the smaller.
    """

    style_progress: float
    content_distance: float
    style_distance: float

    @property
    def content_kept(self) -> bool:
        """Whether the result's features are closer to the content photo's than to the style picture's."""
        return self.content_distance < self.style_distance


def judge_network(seed: int = JUDGE_SEED) -> nn.Sequential:
    """Three 3x3 convolutions without biases, with ReLUs (32, 64, 128 channels, the last two with stride 2),
    He-initialised from ``seed``; in evaluation mode, without gradients."""
    generator = torch.Generator().manual_seed(seed)
    layers: List[nn.Module] = []
    for c_in, c_out, stride in ((3, 32, 1), (32, 64, 2), (64, 128, 2)):
        conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        with torch.no_grad():
            conv.weight.normal_(0, (2 / (c_in * 9)) ** 0.5, generator=generator)
        layers += [conv, nn.ReLU()]
    return nn.Sequential(*layers).eval().requires_grad_(False)


def _maps(net: nn.Sequential, picture: torch.Tensor) -> List[torch.Tensor]:
    """The judge's ReLU outputs for ``picture`` ``(1, 3, H, W)`` in [0, 1] (centred on grey)."""
    x, out = picture.float().cpu() - 0.5, []
    for module in net:
        x = module(x)
        if isinstance(module, nn.ReLU):
            out.append(x)
    return out


@torch.no_grad()
def judge(result: torch.Tensor, content: torch.Tensor, style: torch.Tensor, seed: int = JUDGE_SEED) -> Verdict:
    """Judge ``result`` against its ``content`` and ``style`` pictures (each ``(1, 3, H, W)`` in [0, 1]).

    Parameters
    ----------
    result, content, style : torch.Tensor
        The pictures; ``content`` is resized to ``result``'s size, ``style`` is used at its own size for the Gram
        matrices and at ``result``'s for the feature distance.
    seed : int
        Seeds the judge's weights.
    """
    net = judge_network(seed)
    size = tuple(result.shape[-2:])
    content = F.interpolate(content.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    maps = {name: _maps(net, picture) for name, picture in (("result", result), ("content", content), ("style", style))}

    def gram_distance(a: str, b: str) -> float:
        return sum(float((gram_matrix(x) - gram_matrix(y)).norm()) for x, y in zip(maps[a], maps[b]))

    progress = 1 - gram_distance("result", "style") / max(gram_distance("content", "style"), 1e-12)
    squeezed = F.interpolate(style.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    deepest = {"result": maps["result"][-1], "content": maps["content"][-1], "style": _maps(net, squeezed)[-1]}
    return Verdict(
        progress,
        float((deepest["result"] - deepest["content"]).norm()),
        float((deepest["result"] - deepest["style"]).norm()),
    )
