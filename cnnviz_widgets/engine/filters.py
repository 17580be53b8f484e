"""Image filters the engine applies to tensors: the Gaussian blur of the "blur" baselines (integrated gradients,
occlusion, deletion/insertion) and of feature visualisation's pixel regulariser."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each channel of ``(N, C, H, W)`` blurred by a separable Gaussian of ``sigma`` pixels (reflected borders;
    the kernel is cut at 3 sigma and at the image's size, which reflection cannot exceed)."""
    radius = max(1, int(3 * sigma + 0.5))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    out = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def blurred(x: torch.Tensor) -> torch.Tensor:
    """``x`` blurred beyond recognition (sigma a twentieth of its size): the "blur" baseline of IG and occlusion."""
    return gaussian_blur(x, sigma=max(x.shape[-2:]) / 20)
