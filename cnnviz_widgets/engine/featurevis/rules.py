"""How a step changes the image: the update rule that turns the gradient into a step, and the constraint that the
image is held to after it.

Feature visualisation steps with Adam; the classic recipes step along the gradient scaled one way or another
(Simonyan et al.'s class images plainly, cs231n's fooling images by its L2 norm, DeepDream by its mean absolute
value, projected-gradient attacks by its sign). The rules share one loop (:class:`.optimize.Visualization`), so they
differ only in these few lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch

RULES = ("adam", "lbfgs", "ascent", "l2", "mean_abs", "sign")
"""Update rules: Adam; L-BFGS (one iteration a step, its curvature history kept across steps: Gatys et al.'s optimiser);
plain gradient ascent; ascent by the gradient over its L2 norm, or over its mean absolute value (both per image); the
gradient's sign."""
OPTIMIZERS = ("adam", "lbfgs")
"""The rules that are torch optimisers with state of their own."""

_SCALES: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "ascent": lambda g: torch.ones_like(g[:, :1, :1, :1]),
    "l2": lambda g: g.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1),
    "mean_abs": lambda g: g.abs().flatten(1).mean(1).reshape(-1, 1, 1, 1),
}
"""What each normalised rule divides the gradient by, per image."""


@torch.no_grad()
def descend(tensor: torch.Tensor, grad: torch.Tensor, rule: str, lr: float) -> None:
    """One step down ``grad`` (the gradient of the loss, minus the objective) on ``tensor`` in place, by ``rule``
    (any of :data:`RULES` but the :data:`OPTIMIZERS`, which keep state). A zero gradient takes no step."""
    if rule == "sign":
        tensor.sub_(grad.sign(), alpha=lr)
        return
    scale = _SCALES[rule](grad)
    tensor.sub_(grad * (lr / torch.where(scale > 0, scale, torch.ones_like(scale))))


class Constraint:
    """Bounds the image is held to after every step: ``bounds(image)`` gives the lowest and highest value each
    pixel may take, in the image's [0, 1] units."""

    def bounds(self, shape: Tuple[int, ...], device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """The least and greatest value of each pixel, broadcastable to ``shape``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Box(Constraint):
    """Every pixel in [0, 1]: cs231n's clamp, which keeps the optimised values themselves displayable."""

    def bounds(self, shape: Tuple[int, ...], device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros((), device=device), torch.ones((), device=device)


@dataclass(frozen=True, eq=False)
class Ball(Constraint):
    """Every pixel within ``radius`` of ``center`` (an L-infinity ball, in [0, 1] units: 8/255 is eight grey levels)
    and in [0, 1]: the budget of a bounded adversarial change.

    Parameters
    ----------
    center : torch.Tensor
        ``(B, C, H, W)`` or ``(C, H, W)`` image in [0, 1] the change is measured from.
    radius : float
        Largest change of any pixel, > 0.
    """

    center: torch.Tensor
    radius: float

    def bounds(self, shape: Tuple[int, ...], device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        center = self.center.to(device, torch.float32).expand(shape)
        return (center - self.radius).clamp_min(0.0), (center + self.radius).clamp_max(1.0)


def project(raw: torch.Tensor, constraint: Optional[Constraint], scale: torch.Tensor, offset: torch.Tensor) -> None:
    """Clip ``raw`` in place so that the image it stands for, ``raw * scale + offset``, meets ``constraint``."""
    if constraint is None:
        return
    with torch.no_grad():
        low, high = constraint.bounds(tuple(raw.shape), raw.device)
        raw.copy_(torch.maximum(torch.minimum(raw, (high - offset) / scale), (low - offset) / scale))
