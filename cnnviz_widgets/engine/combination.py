"""A deeper convolution's unit seen in input space: the weighted sum of the filters below it (Erhan et al. 2009; Lee
et al. 2008), the way cs231n shows second-layer units.

Unit ``u`` of a convolution reads the channels of the convolution below it through its weights ``W2[u]``
``(C, k2, k2)``; ignoring the nonlinearity in between, it responds to the input like the composed kernel

    K[:, s*j + i] = sum over channels c and offsets j, i of  W2[u, c, j] * W1[c, :, i]

(``s``: the lower convolution's stride), which is a transposed convolution of ``W2[u]`` by ``W1``. Only the ``top``
channels the unit weighs most (largest L2 norm of ``W2[u, c]``) are summed, so a student can watch the picture
build up. Eval-mode batch norms after either convolution are folded in first (:func:`~.truncated.folded_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_bool, check_int
from .errors import LayerError
from .kernels import conv_weight, convolution
from .replica import on_replica


@dataclass(frozen=True)
class Combination:
    """Unit ``unit`` of ``layer`` in input space: ``kernel`` ``(in, kh, kw)`` (raw, signed), the ``channels`` of
    ``below`` that were summed (strongest first) and each one's ``strength`` (the L2 norm of its weights)."""

    layer: str
    unit: int
    below: str
    kernel: torch.Tensor
    channels: torch.Tensor
    strength: torch.Tensor


def _below(model: nn.Module, layer: str, conv: nn.Conv2d) -> str:
    """The nearest convolution before ``layer`` (in module order) whose output channels ``layer`` reads."""
    found = None
    for name, module in model.named_modules():
        if name == layer:
            break
        if isinstance(module, nn.Conv2d) and module.out_channels == conv.in_channels:
            found = name
    if found is None:
        raise LayerError(
            f"no convolution before {layer!r} makes its {conv.in_channels} input channels; name it (below=...)"
        )
    return found


@on_replica
def filter_combination(
    model: nn.Module,
    layer: str,
    unit: int,
    *,
    below: Optional[str] = None,
    top: Optional[int] = None,
    fold: bool = True,
) -> Combination:
    """Unit ``unit`` of convolution ``layer`` as a combination of the filters of convolution ``below``.

    Parameters
    ----------
    model : nn.Module or Net
        The network (never modified).
    layer : str
        The upper convolution (plain: no groups, no dilation).
    unit : int
        Its output channel.
    below : str, optional
        The convolution whose filters are combined; default: the nearest one before ``layer`` with as many
        output channels as ``layer`` reads.
    top : int, optional
        Sum only the ``top`` channels the unit weighs most; default: all.
    fold : bool
        Fold the eval-mode batch norms that follow the two convolutions into their weights first.
    """
    upper = convolution(model, layer)
    unit = check_int("unit", unit, 0, upper.out_channels - 1, error=LayerError)
    fold = check_bool("fold", fold, error=LayerError)
    below = below if below is not None else _below(model, layer, upper)
    lower = convolution(model, below)
    for name, conv in ((layer, upper), (below, lower)):
        if conv.groups != 1 or conv.dilation != (1, 1):
            raise LayerError(f"{name!r} has groups={conv.groups}, dilation={conv.dilation}; combinations need plain "
                             "convolutions (groups=1, dilation=1)")  # fmt: skip
    if lower.out_channels != upper.in_channels:
        raise LayerError(f"{below!r} makes {lower.out_channels} channels but {layer!r} reads {upper.in_channels}")
    top = check_int("top", top if top is not None else lower.out_channels, 1, lower.out_channels, error=LayerError)
    w2 = conv_weight(model, layer, fold)[0][unit]  # (C, k2, k2)
    w1 = conv_weight(model, below, fold)[0]  # (C, in, k1, k1)
    strength = w2.flatten(1).norm(dim=1)
    channels = strength.argsort(descending=True)[:top]
    kept = torch.zeros_like(w2)
    kept[channels] = w2[channels]
    kernel = F.conv_transpose2d(kept[None], w1, stride=lower.stride)[0]
    return Combination(layer, unit, below, kernel, channels, strength[channels])
