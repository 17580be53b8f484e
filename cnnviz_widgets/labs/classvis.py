"""Class visualisation as the cs231n assignment runs it: the given outer loop around a student's update step.

Simonyan et al. (2013) start from noise and climb the score of one class. The step (``score - l2_reg * ||img||²``,
one gradient step) is the student's; this module is the rest, which the assignment hands out: before each step the
image is rolled by a random offset (jitter, so the picture cannot rely on exact pixel positions) and rolled back
after it, its pixels are clamped to what a picture can hold, and every ``blur_every`` iterations it is blurred a
little (a Gaussian of ``sigma`` 0.5 pixels), which keeps high-frequency noise down.
"""

from __future__ import annotations

from typing import Callable, Generator

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.checks import check_float, check_int
from ..engine.progress import Update, last
from .pictures import default_net

Step = Callable[[torch.Tensor, nn.Module, int, float, float], None]
"""A student's update step: ``step(img, model, target_y, l2_reg, learning_rate)``, changing ``img`` in place."""


def jitter(x: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """``x`` ``(N, C, H, W)`` rolled ``ox`` pixels right and ``oy`` pixels down; what leaves one edge comes back at
    the other, so ``jitter(jitter(x, ox, oy), -ox, -oy)`` is ``x``.

    Parameters
    ----------
    x : torch.Tensor
        Image batch.
    ox, oy : int
        Shift along the width and the height (negative: left, up).
    """
    return torch.roll(x, shifts=(oy, ox), dims=(2, 3))


def blur_image(x: torch.Tensor, sigma: float = 0.5) -> torch.Tensor:
    """``x`` ``(N, C, H, W)`` blurred by a Gaussian of ``sigma`` pixels along the height and the width.

    The kernel reaches ``round(4 * sigma)`` pixels each way, and the edges are mirrored (the edge pixel repeated),
    as ``scipy.ndimage.gaussian_filter1d`` does, which the assignment used.

    Parameters
    ----------
    x : torch.Tensor
        Image batch.
    sigma : float
        Standard deviation of the Gaussian in pixels.
    """
    sigma = check_float("sigma", sigma, 0.01, 100)
    radius = int(4 * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(x.shape[1], 1, 1, 1)  # one (1, 1, 1, k) kernel per channel
    for dim in (3, 2):
        edge = min(radius, x.shape[dim])
        x = torch.cat([x.narrow(dim, 0, edge).flip(dim), x, x.narrow(dim, x.shape[dim] - edge, edge).flip(dim)], dim)
        along = kernel if dim == 3 else kernel.transpose(2, 3)
        x = F.conv2d(x, along, groups=x.shape[1])
    return x


def valid_range() -> torch.Tensor:
    """``(2, 3)``: the lowest and highest normalised value of each colour channel that a picture can hold
    (pixel 0 and 255) for the default network."""
    prep = default_net().preprocess
    mean, std = torch.tensor(prep.mean), torch.tensor(prep.std)
    return torch.stack([-mean / std, (1 - mean) / std])


def class_visualization_steps(
    step_fn: Step,
    model: nn.Module,
    target_y: int,
    *,
    l2_reg: float = 1e-3,
    learning_rate: float = 25,
    num_iterations: int = 100,
    blur_every: int = 10,
    max_jitter: int = 16,
    seed: int = 0,
    size: int = 224,
) -> Generator[Update[torch.Tensor], None, None]:
    """The assignment's class visualisation as a long call: an update after every iteration with a copy of the
    image so far ``(1, 3, size, size)``, normalised for the default network.

    Parameters
    ----------
    step_fn : callable
        The update step, ``step_fn(img, model, target_y, l2_reg, learning_rate)``, which changes ``img`` in place.
    model : nn.Module
        The classifier handed to ``step_fn`` as it is.
    target_y : int
        The class whose score the image climbs.
    l2_reg, learning_rate : float
        Passed to ``step_fn``.
    num_iterations : int
        Steps taken.
    blur_every : int
        Blur after iteration 0, ``blur_every``, ``2 * blur_every``...
    max_jitter : int
        Largest random roll in pixels, each axis, before each step.
    seed : int
        Seeds the starting noise and the rolls.
    size : int
        Side of the image in pixels.
    """
    num_iterations = check_int("num_iterations", num_iterations, 1)
    blur_every = check_int("blur_every", blur_every, 1)
    max_jitter = check_int("max_jitter", max_jitter, 0)
    size = check_int("size", size, 16)
    l2_reg = check_float("l2_reg", l2_reg, 0)
    learning_rate = check_float("learning_rate", learning_rate, 0)
    generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
    device = next(model.parameters()).device
    low, high = (bound.view(1, 3, 1, 1).to(device) for bound in valid_range())
    img = torch.randn(1, 3, size, size, generator=generator).to(device).requires_grad_(True)
    for t in range(num_iterations):
        ox, oy = (int(v) for v in torch.randint(0, max_jitter + 1, (2,), generator=generator))
        img.data.copy_(jitter(img.data, ox, oy))
        step_fn(img, model, target_y, l2_reg, learning_rate)
        img.data.copy_(jitter(img.data, -ox, -oy))
        img.data.copy_(torch.maximum(torch.minimum(img.data, high), low))
        if t % blur_every == 0:
            img.data.copy_(blur_image(img.data, sigma=0.5))
        yield Update((t + 1) / num_iterations, img.detach().clone())


def create_class_visualization(
    step_fn: Step,
    model: nn.Module,
    target_y: int,
    *,
    l2_reg: float = 1e-3,
    learning_rate: float = 25,
    num_iterations: int = 100,
    blur_every: int = 10,
    max_jitter: int = 16,
    seed: int = 0,
    size: int = 224,
) -> torch.Tensor:
    """The image the assignment's class visualisation ends with, ``(1, 3, size, size)`` normalised for the default
    network. Parameters are as for :func:`class_visualization_steps`, which this runs to the end."""
    steps = class_visualization_steps(
        step_fn,
        model,
        target_y,
        l2_reg=l2_reg,
        learning_rate=learning_rate,
        num_iterations=num_iterations,
        blur_every=blur_every,
        max_jitter=max_jitter,
        seed=seed,
        size=size,
    )
    return last(steps)
