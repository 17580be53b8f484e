"""The checks every engine call makes on what it is given: an image batch on the model's device, class
targets and the logits they pick, in plain-language errors of the caller's domain (``error``)."""

from __future__ import annotations

from typing import Any, Type

import torch
from torch import nn

from .errors import AttributionError, CnnvizError

Error = Type[CnnvizError]


def prepare_input(model: nn.Module, x: torch.Tensor, error: Error = AttributionError) -> torch.Tensor:
    """A detached, contiguous copy of ``x`` on the model's device and dtype, checked to be a float image batch
    (call it inside :func:`~cnnviz_widgets.engine.replica.private`, so a tensor made under ``inference_mode`` is
    copied into a normal one).

    Contiguity matters: a channels-last view (from a ``permute``) runs other conv kernels, whose rounding
    differs, so the same image would give slightly different maps depending on how it was built.
    """
    if not isinstance(x, torch.Tensor):
        raise error(f"expected a tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise error(f"expected a tensor of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise error(f"expected a floating-point input, got {x.dtype}; convert and normalise it first")
    if not torch.isfinite(x.sum(dtype=torch.float64)):  # NaN and inf survive a sum; one pass, no mask
        raise error("the input contains NaN or infinite values")
    param = next(model.parameters(), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None and param.is_floating_point() else x.dtype
    x = x.detach().to(device=device, dtype=dtype).contiguous()
    return x.clone() if x.is_inference() else x  # made under inference_mode: autograd cannot save it


def class_indices(target: Any, error: Error = AttributionError) -> torch.Tensor:
    """A class target as a 1-D long tensor (one class, or one per image)."""
    if isinstance(target, bool) or target is None:
        raise error(f"target must be a class index, a list of them, a callable or 'layer:channel'; got {target!r}")
    try:
        idx = torch.as_tensor(target)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise error(
            f"target must be a class index, a list of them, a callable or 'layer:channel'; got {target!r}"
        ) from exc
    if idx.dtype == torch.bool or idx.is_floating_point() or idx.is_complex():
        raise error(f"target must be an integer class index, got {target!r}")
    return idx.long().reshape(-1).cpu()


def class_scores(logits: torch.Tensor, idx: torch.Tensor, error: Error = AttributionError) -> torch.Tensor:
    """The logit of each image's target class, shape ``(N,)``."""
    if logits.dim() != 2:
        raise error(f"expected the model to return logits of shape (N, classes), got {tuple(logits.shape)}")
    n, k = logits.shape
    if idx.numel() == 1:
        idx = idx.expand(n)
    if idx.numel() != n:
        raise error(f"got {idx.numel()} targets for a batch of {n}; give one class or one per image")
    lo, hi = (int(idx[0]),) * 2 if idx.numel() == 1 else (int(idx.min()), int(idx.max()))
    if lo < 0 or hi >= k:
        raise error(f"class {lo if lo < 0 else hi} is out of range; this model has {k} classes (0..{k - 1})")
    return logits.gather(1, idx.to(logits.device)[:, None])[:, 0]


def check_finite(values: torch.Tensor, what: str = "logits", error: Error = AttributionError) -> None:
    """Raise a plain-language error when the model produced NaN."""
    if torch.isnan(values).any():
        raise error(f"the model returned NaN {what} for this input; check the input's normalisation")
