"""Transformation robustness: every step shows the model a randomly padded, jittered, scaled and rotated copy
of the image, so the optimiser cannot win with patterns that only work at one exact pixel position.

The whole chain is one affine map per image, sampled with a single ``grid_sample`` (bilinear, grey outside
the image): one interpolation instead of lucent's four resamplings, the same shape every step (no
reallocation in the model), and each image of a batch gets its own draw.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Tuple

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

    def matrices(self, batch: int, size: int, rng: random.Random) -> torch.Tensor:
        """``(batch, 2, 3)`` maps from output to image coordinates (``affine_grid``'s normalised units).

        Output coordinates span the padded canvas (``size + 2 * pad`` pixels, whatever the output's size);
        image coordinates span the image itself, so the canvas is ``(size + 2 * pad) / size`` times wider.
        Drawn with Python's generator: a few numbers per step, which torch's generator would make slower.
        """
        canvas = size + 2 * self.pad

        def shift(most: int) -> Tuple[float, float]:  # whole-pixel shifts, centred, in normalised canvas units
            if most <= 1:
                return 0.0, 0.0
            first, second = ((rng.randrange(most) - (most - 1) / 2) * 2 / canvas for _ in range(2))
            return first, second

        rows = []
        for _ in range(batch):
            scale, angle = rng.choice(self.scales), math.radians(rng.choice(self.angles))
            (t1x, t1y), (t2x, t2y) = shift(self.jitter), shift(self.jitter_after)
            cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
            # image = (canvas / size) * (R(-angle) (v - t2) / scale - t1), with v the output point.
            k = canvas / size
            rows.append(
                [
                    [k * cos, k * sin, k * (-(cos * t2x + sin * t2y) - t1x)],
                    [-k * sin, k * cos, k * (-(-sin * t2x + cos * t2y) - t1y)],
                ]
            )
        return torch.tensor(rows, dtype=torch.float32)

    def __call__(self, images: torch.Tensor, out: int, rng: random.Random) -> torch.Tensor:
        """A transformed copy of ``images`` (``(B, C, size, size)`` in [0, 1], any number of channels) at
        ``out`` x ``out`` pixels."""
        batch, _, size, _ = images.shape
        theta = self.matrices(batch, size, rng).to(images.device, images.dtype)
        # affine_grid's batched matmul, as two broadcast multiply-adds (3x faster on the CPU).
        axis = torch.linspace(-1 + 1 / out, 1 - 1 / out, out, device=images.device, dtype=images.dtype)
        xs, ys = axis[None, None, :], axis[None, :, None]
        grid = torch.stack(
            [
                theta[:, i, 0, None, None] * xs + theta[:, i, 1, None, None] * ys + theta[:, i, 2, None, None]
                for i in range(2)
            ],
            -1,
        )
        return F.grid_sample(images - GREY, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + GREY


def upsampled(images: torch.Tensor, out: int) -> torch.Tensor:
    """``images`` (``(B, C, size, size)``) resized to ``out`` pixels when smaller (what the model sees without
    transforms)."""
    if images.shape[-1] >= out:
        return images
    return F.interpolate(images, size=(out, out), mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class Roll:
    """A random circular shift of up to ``jitter`` pixels on each axis every step: the jitter of DeepDream and of
    cs231n's class images. Nothing is padded or resampled, so the model sees the image at its own size (any
    height and width) and a step on the shifted image is the same step on the image.

    Parameters
    ----------
    jitter : int
        Largest shift, in pixels, drawn uniformly from ``-jitter..jitter`` for x, then for y.
    """

    jitter: int = 16
    pad = 0
    """No border: :class:`Robustness`'s border, which the model's input size accounts for."""

    def shifts(self, rng: random.Random) -> Tuple[int, int]:
        """``(x, y)``: this step's shift."""
        return rng.randint(-self.jitter, self.jitter), rng.randint(-self.jitter, self.jitter)

    def __call__(self, images: torch.Tensor, out: int, rng: random.Random) -> torch.Tensor:
        """``images`` shifted by this step's draw (``out`` is ignored: the size stays)."""
        dx, dy = self.shifts(rng)
        return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
