"""Guided backpropagation (Springenberg et al. 2015) and deconvnet (Zeiler & Fergus 2014).

Both are the input gradient with a modified rule at every rectifier: guided backprop passes only positive
gradient where the rectifier was active; deconvnet passes the positive gradient wherever it arrives,
ignoring the forward pass. Module hooks miss rectifiers written as functions (``F.relu``, ``x.clamp(min=0)``)
and trip over in-place or reused modules, so the rule is applied one level lower: a ``TorchFunctionMode``
sees every call of a rectifying torch function, whatever module or line of ``forward`` makes it.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..hooks import model_state
from .core import input_grad, leaf, prepare_input
from .targets import Target, scoring


class _Rectify(torch.autograd.Function):
    """``clamp(x, lo, hi)`` forward; the guided or deconvnet rule backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lo: float, hi: Optional[float], deconv: bool) -> torch.Tensor:
        ctx.deconv = deconv
        if not deconv:  # strict bounds: the same mask as torch's own relu/hardtanh backward
            active = x > lo if hi is None else (x > lo) & (x < hi)
            ctx.save_for_backward(active)
        return x.clamp(min=lo, max=hi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[Optional[torch.Tensor], None, None, None]:
        positive = grad.clamp(min=0)
        if ctx.deconv:
            return positive, None, None, None
        (active,) = ctx.saved_tensors
        return positive * active, None, None, None


def _arg(args: tuple, kwargs: Dict[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _rectifier(func: Any, args: tuple, kwargs: Dict[str, Any]) -> Optional[Tuple[float, Optional[float], bool]]:
    """``(lo, hi, inplace)`` when ``func(*args, **kwargs)`` is a rectifier (lower bound 0), else ``None``."""
    name = getattr(func, "__name__", "")
    inplace = name.endswith("_")
    base = name.rstrip("_")
    if base == "relu":
        return 0.0, None, inplace or bool(_arg(args, kwargs, 1, "inplace", False))
    if base == "relu6":
        return 0.0, 6.0, inplace or bool(_arg(args, kwargs, 1, "inplace", False))
    if base == "hardtanh":
        lo, hi = _arg(args, kwargs, 1, "min_val", -1.0), _arg(args, kwargs, 2, "max_val", 1.0)
        inplace = inplace or bool(_arg(args, kwargs, 3, "inplace", False))
    elif base in ("clamp", "clip"):
        lo, hi = _arg(args, kwargs, 1, "min", None), _arg(args, kwargs, 2, "max", None)
    elif base == "clamp_min":
        lo, hi = _arg(args, kwargs, 1, "min", None), None
    else:
        return None
    if isinstance(lo, torch.Tensor) or isinstance(hi, torch.Tensor) or lo is None or float(lo) != 0.0:
        return None  # not a rectifier: a clamp to another range, or to tensor bounds
    return 0.0, None if hi is None else float(hi), inplace


class RectifierRule(TorchFunctionMode):
    """While active, every rectifier call in the forward pass back-propagates with the guided or deconv rule."""

    def __init__(self, deconv: bool):
        super().__init__()
        self.deconv = deconv
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rule = _rectifier(func, args, kwargs)
        x = args[0] if args else kwargs.get("input", kwargs.get("self"))
        if rule is None or not isinstance(x, torch.Tensor) or not (x.requires_grad and torch.is_grad_enabled()):
            return func(*args, **kwargs)
        self.calls += 1
        lo, hi, inplace = rule
        out = _Rectify.apply(x, lo, hi, self.deconv)
        return x.copy_(out) if inplace else out


def _rectified_gradient(model: nn.Module, x: torch.Tensor, target: Target, deconv: bool) -> torch.Tensor:
    with model_state(model), scoring(model, target) as (score, _):
        inputs = leaf(prepare_input(model, x))
        with RectifierRule(deconv):
            scores = score(inputs)
        return input_grad(scores, inputs).detach()


def guided_backprop(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Guided backpropagation: the input gradient with only positive signal through active rectifiers.

    Parameters
    ----------
    model : nn.Module
        Any CNN; rectifiers may be modules (also in-place or reused) or functions inside ``forward``.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class per image, a function of the logits, or a unit ``"layer:channel[:y:x]"``.
    """
    return _rectified_gradient(model, x, target, deconv=False)


def deconvnet(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Deconvnet: the input gradient with every rectifier passing only the positive part of the signal back.

    Parameters are as for :func:`guided_backprop`.
    """
    return _rectified_gradient(model, x, target, deconv=True)
