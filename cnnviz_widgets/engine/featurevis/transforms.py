"""Transformation robustness: every step shows the model a randomly padded, jittered, scaled and rotated copy
of the image, so the optimiser cannot win with patterns that only work at one exact pixel position.

The whole chain is one affine map per image, sampled with a single ``grid_sample`` (bilinear, grey outside
the image): one interpolation instead of lucent's four resamplings, the same shape every step (no
reallocation in the model), and each image of a batch gets its own draw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F

GREY = 0.5
"""What the model sees outside the image (lucent pads with constant 0.5 too)."""


@dataclass(frozen=True)
class Robustness:
    """The random transforms of one run, in the order they apply (the numbers are lucent's standard set).

    Parameters
    ----------
    pad : int
        Grey border added on each side, in image pixels.
    jitter : int
        Largest shift (in pixels, each axis) before scaling and rotation.
    scales : sequence of float
        Zoom factors drawn uniformly.
    angles : sequence of float
        Rotations in degrees drawn uniformly (repeated zeros make "no rotation" more likely).
    jitter_after : int
        Largest shift after scaling and rotation.
    """

    pad: int = 12
    jitter: int = 8
    scales: Tuple[float, ...] = tuple(1 + (i - 5) / 50 for i in range(11))
    angles: Tuple[float, ...] = tuple(range(-10, 11)) + (0,) * 5
    jitter_after: int = 4

    def output_size(self, size: int, input_size: int) -> int:
        """Side of what the model sees: the padded image, upsampled to the model's input size if smaller."""
        return max(size + 2 * self.pad, input_size)

    def matrices(self, batch: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """``(batch, 2, 3)`` maps from output to image coordinates (``affine_grid``'s normalised units).

        Output coordinates span the padded canvas (``size + 2 * pad`` pixels, whatever the output's size);
        image coordinates span the image itself, so the canvas is ``(size + 2 * pad) / size`` times wider.
        """
        canvas = size + 2 * self.pad

        def draw(choices: Sequence[float]) -> torch.Tensor:
            return torch.tensor(choices, dtype=torch.float64)[torch.randint(len(choices), (batch,), generator=generator)]

        def shift(most: int) -> torch.Tensor:  # integer shifts, centred, in normalised canvas units
            if most <= 1:
                return torch.zeros(batch, 2, dtype=torch.float64)
            steps = torch.randint(most, (batch, 2), generator=generator).double() - (most - 1) / 2
            return steps * 2 / canvas

        scale, angle = draw(self.scales), draw(self.angles) * math.pi / 180
        t1, t2 = shift(self.jitter), shift(self.jitter_after)
        cos, sin = angle.cos(), angle.sin()
        # image = (canvas / size) * (R(-angle) (v - t2) / scale - t1), with v the output point.
        rot = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2) / scale[:, None, None]
        offset = -(rot @ t2[..., None])[..., 0] - t1
        theta = torch.cat([rot, offset[..., None]], -1) * (canvas / size)
        return theta.float()

    def __call__(self, images: torch.Tensor, out: int, generator: torch.Generator) -> torch.Tensor:
        """A transformed copy of ``images`` (``(B, 3, size, size)`` in [0, 1]) at ``out`` x ``out`` pixels."""
        batch, channels, size, _ = images.shape
        theta = self.matrices(batch, size, generator).to(images.device, images.dtype)
        grid = F.affine_grid(theta, [batch, channels, out, out], align_corners=False)
        return F.grid_sample(images - GREY, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + GREY


def upsampled(images: torch.Tensor, out: int) -> torch.Tensor:
    """``images`` resized to ``out`` pixels when smaller (what the model sees without transforms)."""
    if images.shape[-1] >= out:
        return images
    return F.interpolate(images, size=(out, out), mode="bilinear", align_corners=False)

