"""What a convolution's filters look like: its weights as pictures, the way cs231n and Zeiler & Fergus show them.

The kind of picture follows the convolution:

- ``"rgb"``: a layer that reads the 3-channel image; one colour tile per filter;
- ``"grey"``: a deeper layer; one grey tile per (filter, input channel), in pages for big layers;
- ``"depthwise"``: one input channel per filter (``groups`` equals the input channels); one grey kernel each;
- ``"matrix"``: a 1x1 (pointwise) convolution, whose kernel mixes channels and is no image: its ``(out, in)``
  weights, signed and not rescaled.

Tiles are rescaled to [0, 1] per filter (each filter from its own lowest to its highest weight) or with one scale
shared by the whole layer. An eval-mode batch norm that alone reads the convolution can be folded in first, as the
engine's truncated copies fold it (:func:`~.truncated.folded_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from .checks import check_bool, check_choice, check_int
from .errors import LayerError
from .names import list_choices, resolve_layer
from .replica import on_replica
from .tracing import traced
from .truncated import batch_norm_after, folded_weights

KINDS = ("rgb", "grey", "depthwise", "matrix")
CONTRASTS = ("filter", "shared")
"""``filter``: each filter rescaled from its own lowest to its highest weight; ``shared``: one scale per layer."""
PER_PAGE = 64


@dataclass(frozen=True)
class Filters:
    """One page of a convolution's filters as pictures.

    ``tiles`` is ``(F, C, kh, kw)`` in [0, 1] (``C`` = 3 for ``"rgb"``, 1 for ``"depthwise"``, the input channels
    of a group for ``"grey"``), or the ``(F, in)`` signed weights for ``"matrix"``; ``weights`` are the page's raw
    (folded) weights ``(F, in/groups, kh, kw)``; ``first`` is the page's first filter of ``total``; ``folded`` says
    whether a batch norm was folded in.
    """

    layer: str
    kind: str
    tiles: torch.Tensor
    weights: torch.Tensor
    first: int
    total: int
    folded: bool


def kind_of(conv: nn.Conv2d) -> str:
    """How the filters of ``conv`` are best shown: one of :data:`KINDS`."""
    per_group = conv.in_channels // conv.groups
    if conv.kernel_size == (1, 1) and conv.groups == 1:
        return "matrix"
    if conv.groups == conv.in_channels and per_group == 1 and conv.in_channels > 1:
        return "depthwise"
    return "rgb" if per_group == 3 and conv.groups == 1 else "grey"


def rescaled(weights: torch.Tensor, contrast: str, whole: torch.Tensor) -> torch.Tensor:
    """``weights`` ``(F, C, kh, kw)`` mapped to [0, 1]: per filter, or by the range of ``whole`` (the layer); a
    filter (or layer) whose weights are all equal is mid grey."""
    if contrast == "shared":
        low, high = whole.min().expand(len(weights), 1, 1, 1), whole.max().expand(len(weights), 1, 1, 1)
    else:
        flat = weights.flatten(1)
        low, high = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
    span = high - low
    out = (weights - low) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, out, torch.full_like(out, 0.5))


def _page(total: int, page: int, per_page: int, layer: str) -> Tuple[int, int]:
    pages = -(-total // per_page)
    if page >= pages:
        raise LayerError(
            f"{layer!r} has {total} filters: {pages} page(s) of {per_page}, 0..{pages - 1}; got page {page}"
        )
    return page * per_page, min(total, (page + 1) * per_page)


def _batch_norm_after(model: nn.Module, layer: str) -> Optional[nn.BatchNorm2d]:
    """The batch norm that folds into convolution ``layer``, found in the model's graph."""
    modules = dict(model.named_modules())
    try:
        graph = traced(model, modules)
    except Exception as exc:  # noqa: BLE001 - tracing raises anything the model's forward does
        raise LayerError(
            f"cannot find the batch norm after {layer!r}: the model cannot be traced ({type(exc).__name__}: {exc}); "
            "show the filters unfolded (fold=False)"
        ) from None
    return batch_norm_after(graph, modules, layer)


@on_replica
def conv_filters(
    model: nn.Module,
    layer: str,
    *,
    fold: bool = False,
    contrast: str = "filter",
    page: int = 0,
    per_page: int = PER_PAGE,
) -> Filters:
    """One page of the filters of convolution ``layer`` as pictures (see the module's docstring).

    Parameters
    ----------
    model : nn.Module or Net
        The network (never modified).
    layer : str
        Dotted name of an ``nn.Conv2d``; another layer raises naming the convolutions.
    fold : bool
        Fold in the eval-mode batch norm that alone reads the convolution, if there is one (``folded`` says).
    contrast : {"filter", "shared"}
        Rescale each filter by its own range, or all by the layer's.
    page, per_page : int
        Which ``per_page`` filters (``page`` from 0).
    """
    fold = check_bool("fold", fold, error=LayerError)
    contrast = check_choice("contrast", contrast, CONTRASTS, error=LayerError)
    page = check_int("page", page, 0, None, error=LayerError)
    per_page = check_int("per_page", per_page, 1, 4096, error=LayerError)
    weight, folded = conv_weight(model, layer, fold)
    kind = kind_of(convolution(model, layer))
    start, stop = _page(len(weight), page, per_page, layer)
    shown = weight[start:stop]
    tiles = shown[:, :, 0, 0].clone() if kind == "matrix" else rescaled(shown, contrast, weight)
    return Filters(layer, kind, tiles, shown.clone(), start, len(weight), folded)


def convolution(model: nn.Module, layer: str) -> nn.Conv2d:
    """The ``nn.Conv2d`` called ``layer``; another layer raises naming the convolutions."""
    conv = resolve_layer(model, layer)
    if not isinstance(conv, nn.Conv2d):
        convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        raise LayerError(
            f"{layer!r} is a {type(conv).__name__}, not a convolution (nn.Conv2d); the convolutions are: "
            f"{list_choices(convs, layer) or 'none (this model has no nn.Conv2d)'}"
        )
    return conv


def conv_weight(model: nn.Module, layer: str, fold: bool) -> Tuple[torch.Tensor, bool]:
    """Convolution ``layer``'s weights as float32 on the CPU, with the eval-mode batch norm that alone reads it
    folded in when ``fold`` and there is one; and whether there was. ``model`` is the replica (the caller holds it)."""
    conv = convolution(model, layer)
    weight = conv.weight.detach()
    bn = _batch_norm_after(model, layer) if fold else None
    if bn is not None:
        weight = folded_weights(weight, None if conv.bias is None else conv.bias.detach(), bn)[0].detach()
    return weight.float().cpu(), bn is not None
