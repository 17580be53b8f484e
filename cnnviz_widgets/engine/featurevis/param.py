"""How the optimised image is parameterised: raw pixels or a 1/f-scaled Fourier spectrum, with ImageNet's
colour correlation taken out (colour images only) and a squash into [0, 1] (Olah et al., "Feature
Visualization", Distill 2017).

Gradient ascent on raw pixels piles up high-frequency noise; optimising a spectrum whose frequencies are
scaled by 1/f, in a colour space whose channels are decorrelated, gives every frequency and colour
direction a step of similar size, which is what makes the pictures readable.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

from ..images import LUMA

PARAMS = ("fft", "pixel")
"""Parameterisations: a 1/f-scaled Fourier spectrum, or the pixels themselves."""
SQUASHES = ("sigmoid", "clamp")
"""How values are mapped into [0, 1]."""
SPACES = ("unit", "normalized", "byte")
"""What the clamped pixels hold: the image minus its mean colour in [0, 1] units, the model's normalised input
``(image - mean) / std`` (where cs231n's step sizes are stated), or the image minus its mean colour in 0..255 units
(where DeepDream's are)."""

# Square root of ImageNet's colour covariance (its SVD's U * sqrt(S)), as published with lucid.
COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MEAN = torch.tensor([0.48, 0.46, 0.41])
GRAY_MEAN = float(torch.tensor(LUMA) @ COLOR_MEAN)
"""The dataset's mean colour in grey: where the clamp squash centres one-channel images."""
FFT_SCALE = 4.0
"""Lucid's divisor of the inverse FFT: with spectra initialised at sd 0.01 it keeps early images unsaturated."""


def _color_matrix() -> torch.Tensor:
    """The colour correlation matrix with its largest column norm scaled to 1 (lucid's normalisation)."""
    return COLOR_CORRELATION_SQRT / COLOR_CORRELATION_SQRT.norm(dim=0).max()


def _affine(
    space: str, mean: torch.Tensor, norm: Optional[Tuple[Sequence[float], Sequence[float]]]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(gain, offset)``, each ``(C, 1, 1)``, that turn raw clamped values in ``space`` into the image."""
    if space == "normalized":
        if norm is None:
            raise ValueError("space='normalized' needs the model's normalisation (mean, std)")
        return (torch.tensor(norm[1], dtype=torch.float32, device=mean.device).reshape(mean.shape),
                torch.tensor(norm[0], dtype=torch.float32, device=mean.device).reshape(mean.shape))  # fmt: skip
    return torch.full_like(mean, 1 / 255 if space == "byte" else 1.0), mean


def frequencies(height: int, width: int) -> torch.Tensor:
    """``(height, width // 2 + 1)`` spatial frequencies (cycles per pixel) of an ``rfft2`` spectrum."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    return (fx * fx + fy * fy).sqrt()


class ImageParam:
    """A batch of images as a function of trainable tensors: ``params`` go to the optimiser, ``self()``
    returns the ``(B, C, H, W)`` image in [0, 1].

    Parameters
    ----------
    shape : (int, int, int, int)
        ``(batch, channels, height, width)`` of the images: 3 channels for RGB, 1 for grey.
    param : str
        ``"fft"``: a 1/f-scaled spectrum; ``"pixel"``: the pixels themselves (before decorrelation/squash).
    decorrelate : bool
        Optimise in ImageNet's decorrelated colour space. Only colour images have one: with one channel
        there is nothing to decorrelate and this is ignored (``self.decorrelate`` is then False).
    squash : str
        ``"sigmoid"`` maps to (0, 1) smoothly; ``"clamp"`` adds the dataset's mean colour (its grey,
        :data:`GRAY_MEAN`, for one channel) and clips with a straight-through gradient (the value is clipped,
        the gradient passes as if it were not).
    sd : float
        Standard deviation of the random start.
    decay_power : float
        Exponent of the 1/f frequency scaling of the ``"fft"`` parameterisation.
    generator : torch.Generator, optional
        Seeded CPU generator for the random start (the same start on every device).
    device : torch.device, optional
        Where the trainable tensors live (the model's device).
    space : str
        What the ``"clamp"`` squash's raw values hold, one of :data:`SPACES`; the image is ``raw * gain + offset``.
    norm : (sequence of float, sequence of float), optional
        The model's normalisation ``(mean, std)``, which ``space="normalized"`` needs.
    """

    def __init__(
        self,
        shape: tuple,
        param: str = "fft",
        decorrelate: bool = True,
        squash: str = "sigmoid",
        sd: float = 0.01,
        decay_power: float = 1.0,
        generator: Optional[torch.Generator] = None,
        device: Optional[torch.device] = None,
        space: str = "unit",
        norm: Optional[Tuple[Sequence[float], Sequence[float]]] = None,
    ):
        batch, channels, height, width = shape
        self.shape, self.param, self.squash = tuple(shape), param, squash
        self.decorrelate = decorrelate and channels == 3
        self.size = (height, width)
        self.color = _color_matrix().to(device)
        self.mean = (COLOR_MEAN if channels == 3 else torch.full((channels,), GRAY_MEAN)).to(device)[:, None, None]
        self.gain, self.offset = _affine(space, self.mean, norm)
        if param == "fft":
            freqs = frequencies(height, width)
            self.scale: Optional[torch.Tensor] = (
                (1.0 / freqs.clamp_min(1.0 / max(height, width)) ** decay_power).float().to(device)
            )
            start = torch.randn(batch, channels, *freqs.shape, 2, generator=generator) * sd
        else:
            self.scale = None
            start = torch.randn(batch, channels, height, width, generator=generator) * sd
        self.tensor = start.to(device).requires_grad_()

    @property
    def params(self) -> List[torch.Tensor]:
        """The trainable tensors (one)."""
        return [self.tensor]

    def raw(self) -> torch.Tensor:
        """The image before decorrelation and squash: what the pixel regularisers act on."""
        if self.scale is None:
            return self.tensor
        spectrum = torch.view_as_complex(self.tensor) * self.scale
        return torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / FFT_SCALE

    def __call__(self) -> torch.Tensor:
        x = self.raw()
        if self.decorrelate:
            x = torch.einsum("bchw,dc->bdhw", x, self.color)
        if self.squash == "sigmoid":
            return torch.sigmoid(x)
        x = x * self.gain + self.offset
        return x + (x.clamp(0, 1) - x).detach()

    @torch.no_grad()
    def set_image(self, image: torch.Tensor) -> None:
        """Make ``self()`` return ``image`` (``(B, C, H, W)`` in [0, 1]): start from a photo, or round-trip.

        Values are kept a hair inside (0, 1) under the sigmoid, whose inverse is infinite at the ends.
        """
        x = image.to(self.tensor.device, torch.float32)
        if self.squash == "sigmoid":
            x = torch.logit(x.clamp(1e-4, 1 - 1e-4))
        else:
            x = (x - self.offset) / self.gain
        if self.decorrelate:
            x = torch.einsum("bdhw,cd->bchw", x, torch.linalg.inv(self.color))
        if self.scale is not None:
            x = torch.view_as_real(torch.fft.rfft2(x * FFT_SCALE, norm="ortho") / self.scale)
        self.tensor.copy_(x.expand_as(self.tensor))
