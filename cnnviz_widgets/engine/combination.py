"""A deeper convolution's unit seen in input space: the filters below it combined by its weights (Erhan et al.
2009; Lee et al. 2008), the way cs231n shows second-layer units, through a chain of any length.

Unit ``u`` of a convolution reads the channels below it through its weights ``W[u]``; ignoring the
nonlinearities in between, the convolutions from the input up to it make one linear map, and the unit responds
to an input patch ``x`` like ``<K, x>`` for one kernel ``K`` (``f(x) - f(0)``: the biases drop out). For two
convolutions that is the transposed convolution of ``W2[u]`` by ``W1``,

    K[:, s*j + i] = sum over channels c and offsets j, i of  W2[u, c, j] * W1[c, :, i]

(``s``: the lower convolution's stride), and for a longer chain the same step repeated downwards: ``K`` is the
gradient of the linear chain's unit with respect to its input, computed here as a one-hot map at ``u`` carried
back through each convolution by ``F.conv_transpose2d`` with its stride, dilation and groups (depthwise
convolutions included), and through each eval-mode batch norm by its per-channel scale.

The chain (see :mod:`.chain`) is every convolution on the main path from the input to the unit, in the order
they run (a residual block's convolutions, not its skip connection, which the kernel leaves out), or from
``below`` up when it is given, and then ``K`` is in ``below``'s input space. A max pool, concatenation or
reshape on the way ends the chain: the error names it and the convolutions after it that ``below`` can be.
``K`` is the kernel of units away from the border (padding changes only the others); neighbouring units see the
input through the same ``K`` shifted by the product of the chain's strides. Only the ``top`` input channels
the unit weighs most (largest L2 norm of ``W[u, c]``) are summed, so a student can watch the picture build up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .chain import Path, Step, path_to
from .checks import check_bool, check_int
from .errors import LayerError
from .kernels import convolution
from .model import Net, input_channels
from .names import list_choices
from .replica import ModelLike, on_replica, replica


@dataclass(frozen=True)
class Combination:
    """Unit ``unit`` of ``layer`` in input space: ``kernel`` ``(in, kh, kw)`` (raw, signed) in the input space
    of ``below``, the first convolution of the ``chain`` composed (input side first, ``layer`` last); the
    ``channels`` of ``layer``'s input that were summed (strongest first) and each one's ``strength`` (the L2
    norm of the unit's weights on it)."""

    layer: str
    unit: int
    below: str
    kernel: torch.Tensor
    channels: torch.Tensor
    strength: torch.Tensor
    chain: Tuple[str, ...]
    barrier: Optional[str] = None
    """The call (a max pool) below the chain that made it start after it (``furthest=True``); ``None``: it did not."""


def _segment(path: Path, layer: str, below: Optional[str], furthest: bool) -> Tuple[Path, Optional[str]]:
    """The steps of ``path`` from convolution ``below`` (default: the input) up, and the barrier the chain starts
    after (``furthest``: the first convolution after the last barrier, if there is one); an error naming a barrier
    on them, or a ``below`` that is not a convolution on the path."""
    convs = [i for i, step in enumerate(path) if step.op == "conv2d"]
    start = 0
    if below is not None:
        found = [i for i in convs if path[i].name == below]
        if not found:
            names = list(dict.fromkeys(path[i].name for i in convs))
            raise LayerError(
                f"{below!r} is not a convolution on the path from the input to {layer!r}; those are: "
                f"{list_choices(names, below)}"
            )
        start = found[-1]
    barriers = [i for i in range(start, len(path)) if path[i].barrier]
    if barriers:
        at = barriers[-1]
        before = [path[i].name for i in convs if i < at]
        after = list(dict.fromkeys(path[i].name for i in convs if i > at))
        if furthest:
            return path[min(i for i in convs if i > at) :], path[at].op
        raise LayerError(
            f"the path to {layer!r} passes {path[at].op} "
            f"({f'after {before[-1]!r}' if before else 'before any convolution'}), which no chain of kernels "
            f"crosses; start the chain after it with below= one of: {', '.join(after)}"
        )
    return path[start:], None


def _weight(step: Step) -> torch.Tensor:
    """A convolution's filters or a batch norm's scales, as float32 on the CPU."""
    if step.weight is None:
        raise ValueError(f"{step.op} has no weights")  # _segment keeps barriers out
    return step.weight.detach().float().cpu()


@on_replica
def _combination(
    model: nn.Module,
    layer: str,
    unit: int,
    below: Optional[str],
    top: Optional[int],
    fold: bool,
    furthest: bool,
    input_shape: Sequence[int],
) -> Combination:
    own = convolution(model, layer)
    unit = check_int("unit", unit, 0, own.out_channels - 1, error=LayerError)
    fold = check_bool("fold", fold, error=LayerError)
    segment, barrier = _segment(path_to(model, layer, input_shape, fold), layer, below, furthest)
    convs = [step for step in segment if step.op == "conv2d"]
    last = convs[-1]
    weight = _weight(last)
    per_group = weight.shape[1]
    top = check_int("top", top if top is not None else per_group, 1, per_group, error=LayerError)
    after = segment[-1] if segment[-1].op == "batch_norm" else None
    scale = 1.0 if after is None else float(_weight(after)[unit])
    strength = (scale * weight[unit]).flatten(1).norm(dim=1)
    order = strength.argsort(descending=True)[:top]
    kept = torch.zeros_like(weight)
    kept[unit, order] = weight[unit, order]
    kernel = torch.zeros(1, weight.shape[0], 1, 1)
    kernel[0, unit] = 1.0
    for step in reversed(segment):
        w = kept if step is last else _weight(step)
        if step.op == "batch_norm":
            kernel = kernel * w.view(1, -1, 1, 1)
        else:
            kernel = F.conv_transpose2d(kernel, w, stride=step.stride, dilation=step.dilation, groups=step.groups)
    first = unit // (weight.shape[0] // last.groups) * per_group  # the unit's group's first input channel
    chain = tuple(step.name for step in convs)
    return Combination(layer, unit, chain[0], kernel[0], order + first, strength[order], chain, barrier)


def filter_combination(
    model: ModelLike,
    layer: str,
    unit: int,
    *,
    below: Optional[str] = None,
    top: Optional[int] = None,
    fold: bool = True,
    furthest: bool = False,
    input_shape: Optional[Sequence[int]] = None,
) -> Combination:
    """Unit ``unit`` of convolution ``layer`` in input space, as the chain of convolutions below it composes its
    filters (see the module's docstring).

    Parameters
    ----------
    model : nn.Module or Net
        The network (never modified).
    layer : str
        The unit's convolution (any stride, dilation and groups).
    unit : int
        Its output channel.
    below : str, optional
        The chain's first convolution, whose input space the kernel is in; default: the first one from the
        input on the main path (``layer`` itself: the unit's own filter).
    top : int, optional
        Sum only the ``top`` input channels the unit weighs most; default: all it reads.
    fold : bool
        Scale by the eval-mode batch norms on the chain and the one that next reads ``layer``; else the raw
        convolutions alone.
    furthest : bool
        Where a call no chain of kernels crosses (a max pool) lies on the way, start at the first convolution
        after it (``Combination.barrier`` names the call) instead of refusing; what a view wants on any network.
    input_shape : sequence of int, optional
        ``(C, H, W)`` of the probing pass that finds the chain; default: a ``Net``'s input, else 224 px in 1
        or 3 channels as :func:`~.model.input_channels` guesses.
    """
    if input_shape is None:
        prep = model.preprocess if isinstance(model, Net) else None
        input_shape = (prep.channels, prep.size, prep.size) if prep else (input_channels(replica(model)), 224, 224)
    furthest = check_bool("furthest", furthest, error=LayerError)
    return _combination(model, layer, unit, below, top, fold, furthest, input_shape)
