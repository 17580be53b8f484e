"""Style transfer's losses as objectives of the optimisation loop: matching a layer's features (content) or its Gram
matrix (style), each to a target computed once.

They compose with ``+`` and weights like every :class:`~..featurevis.Objective` (the loop maximises, so each is minus
its loss), and each remembers its last loss, unweighted and detached, for the loss curves.
"""

from __future__ import annotations

from typing import Optional

import torch

from ..featurevis.objectives import Acts, Objective
from .losses import gram_matrix, smooth


class Match(Objective):
    """Minus ``weight`` times the squared distance between a statistic of ``layer``'s features and ``target``; the
    features first pass through SWAG's softmax at ``temperature`` unless it is ``None``."""

    kind = ""

    def __init__(self, layer: str, target: torch.Tensor, weight: float, temperature: Optional[float] = None):
        self.layer, self.weight, self.temperature = layer, float(weight), temperature
        self.layers = frozenset({layer})
        self.target = target.detach().float()
        self.last: Optional[torch.Tensor] = None
        """The unweighted loss at the last call (detached)."""

    def statistic(self, features: torch.Tensor) -> torch.Tensor:
        """What is compared with the target."""
        raise NotImplementedError

    def prepared(self, features: torch.Tensor) -> torch.Tensor:
        """The features in float32, smoothed when a temperature is set."""
        features = features.float()
        return features if self.temperature is None else smooth(features, self.temperature)

    def __call__(self, acts: Acts) -> torch.Tensor:
        value = self.statistic(self.prepared(acts[self.layer]))
        loss = (value - self.target.to(value.device)).pow(2).sum()
        self.last = loss.detach()
        return -self.weight * loss

    def __repr__(self) -> str:
        return f"{self.kind}({self.layer!r}, weight={self.weight:g})"


class Content(Match):
    """Content loss: the features themselves (``target`` ``(1, C, H, W)``, the content photo's)."""

    kind = "content"

    def statistic(self, features: torch.Tensor) -> torch.Tensor:
        return features


class Style(Match):
    """Style loss: the normalised Gram matrix (``target`` ``(1, C, C)``, the style picture's, or a blend of several)."""

    kind = "style"

    def statistic(self, features: torch.Tensor) -> torch.Tensor:
        return gram_matrix(features)
