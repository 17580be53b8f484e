"""The classic regularisers of gradient ascent on pixels (Yosinski et al. 2015; Mahendran & Vedaldi 2015).

Two kinds: penalties subtracted from the objective (total variation, L2), which work with any
parameterisation, and operations on the raw pixel tensor after each optimiser step (decay, Gaussian blur
every k steps, clipping pixels of small norm or small contribution), which only make sense for pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..filters import gaussian_blur


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels: large for noise, small for smooth images."""
    dy = (images[..., 1:, :] - images[..., :-1, :]).abs().mean()
    dx = (images[..., :, 1:] - images[..., :, :-1]).abs().mean()
    return dy + dx


def l2(images: torch.Tensor) -> torch.Tensor:
    """Mean squared distance from mid-grey: keeps colours from saturating."""
    return (images - 0.5).pow(2).mean()


def _below(score: torch.Tensor, percent: float) -> torch.Tensor:
    """Mask ``(B, 1, H, W)`` of the pixels whose ``score`` is in the lowest ``percent`` of their image."""
    flat = score.flatten(1)
    cut = torch.quantile(flat, percent / 100, dim=1, keepdim=True)
    return (flat <= cut).reshape(score.shape)


@dataclass(frozen=True)
class PixelRegularizers:
    """Yosinski et al.'s operations on the pixel tensor after each step; zeros switch them off.

    Parameters
    ----------
    decay : float
        Multiply the pixels by ``1 - decay`` every step (L2 decay).
    blur_every : int
        Blur the pixels with a Gaussian of ``blur_sigma`` after step 1, ``1 + blur_every``, ``1 + 2 * blur_every``...
        (0: never), the schedule of Yosinski et al.'s code and of cs231n's class visualisation.
    blur_sigma : float
        Width of that Gaussian in pixels.
    clip_norm : float
        Percent of pixels, those of smallest norm across channels, set to zero (mid-grey) every step.
    clip_contribution : float
        Percent of pixels, those whose ``|pixel * gradient|`` summed over channels is smallest, set to zero.
    """

    decay: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.5
    clip_norm: float = 0.0
    clip_contribution: float = 0.0

    @property
    def active(self) -> bool:
        """Whether any operation is switched on."""
        return bool(self.decay or self.blur_every or self.clip_norm or self.clip_contribution)

    @torch.no_grad()
    def apply(self, pixels: torch.Tensor, grad: torch.Tensor, step: int) -> None:
        """Update ``pixels`` in place after optimiser step number ``step`` (1-based); ``grad`` is the
        objective's ascent direction at the pixels before that step."""
        if self.decay:
            pixels.mul_(1 - self.decay)
        if self.blur_every and (step - 1) % self.blur_every == 0:
            pixels.copy_(gaussian_blur(pixels, self.blur_sigma))
        if self.clip_norm:
            pixels.masked_fill_(_below(pixels.norm(dim=1, keepdim=True), self.clip_norm), 0.0)
        if self.clip_contribution:
            contribution = (pixels * grad).sum(1, keepdim=True).abs()
            pixels.masked_fill_(_below(contribution, self.clip_contribution), 0.0)
