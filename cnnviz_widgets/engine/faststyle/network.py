"""Johnson et al.'s image transformation network (2016), with Ulyanov et al.'s instance normalisation: the network that
learns one style and then stylises any photo in a single forward pass.

The picture goes down twice (stride-2 convolutions), through residual blocks at a quarter of its size, and up twice
(nearest-neighbour upsampling, then a convolution: no checkerboard artefacts of transposed convolutions). Every
convolution pads by reflection, so the borders see picture, not black. Instance normalisation subtracts each
channel's mean over the picture, so the result does not depend on the photo's overall brightness or contrast, only on
its structure. The last convolution's output goes through a sigmoid, so the picture is in [0, 1] without clamping.

A picture whose sides are not multiples of 4 is padded by reflection to the next one and cropped back, so the output
has the input's size whatever it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int
from ..errors import ImageError

MULTIPLE = 4
"""The network halves the picture twice, so sides are padded to a multiple of this."""
MIN_SIDE = 5
"""The 9x9 convolution pads 4 pixels by reflection, which needs more than 4 (after padding to :data:`MULTIPLE`)."""


class ConvLayer(nn.Sequential):
    """Reflection padding, a ``kernel`` x ``kernel`` convolution (``stride``), and, unless ``last``, instance
    normalisation (with a learnt scale and shift) and a ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, last: bool = False):
        layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(c_in, c_out, kernel, stride)]
        if not last:
            layers += [nn.InstanceNorm2d(c_out, affine=True), nn.ReLU()]
        super().__init__(*layers)


class Residual(nn.Module):
    """Two 3x3 convolutions with instance normalisation, the ReLU between them only, added to the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Upsample(nn.Sequential):
    """Nearest-neighbour upsampling by 2, then a 3x3 convolution with instance normalisation and a ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvLayer(c_in, c_out, 3))


class TransformNet(nn.Module):
    """Johnson et al.'s transformation network: pictures ``(B, 3, H, W)`` in [0, 1] to pictures of the same size in
    [0, 1].

    Parameters
    ----------
    width : int
        Channels of the first convolution (Johnson's: 32); the downsampling convolutions double it twice.
    blocks : int
        Residual blocks at a quarter of the size (Johnson's: 5).
    """

    def __init__(self, width: int = 32, blocks: int = 5):
        super().__init__()
        self.width = check_int("width", width, 1, 256)
        self.blocks = check_int("blocks", blocks, 0, 32)
        w = self.width
        self.down = nn.Sequential(ConvLayer(3, w, 9), ConvLayer(w, 2 * w, 3, 2), ConvLayer(2 * w, 4 * w, 3, 2))
        self.residual = nn.Sequential(*(Residual(4 * w) for _ in range(self.blocks)))
        self.up = nn.Sequential(Upsample(4 * w, 2 * w), Upsample(2 * w, w), ConvLayer(w, 3, 9, last=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ImageError(f"the transformation network takes RGB pictures (B, 3, H, W), got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        bottom, right = -height % MULTIPLE, -width % MULTIPLE
        if min(height, width) < MIN_SIDE:
            raise ImageError(f"the picture is {width}x{height} px; the network needs at least {MIN_SIDE} px a side")
        padded = F.pad(x, (0, right, 0, bottom), mode="reflect") if bottom or right else x
        out = self.up(self.residual(self.down(padded)))
        return torch.sigmoid(out[..., :height, :width])
