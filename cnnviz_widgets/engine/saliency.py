"""Which pixels matter for a class: gradient saliency (Simonyan et al. 2013) and Grad-CAM (Selvaraju et al.).

``saliency(model, x, target, method=...)`` is the one entry point; each method is a small function
registered in ``METHODS`` so later methods slot in without touching callers. Every call runs the model in
eval mode with frozen weights and asks autograd only for the gradients it needs, so the user's model
(flags, hooks, ``.grad`` fields) comes back exactly as it was.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import capture, model_state
from .layers import default_cam_layer, layers, resolve_layer

Target = Union[int, Sequence[int], torch.Tensor]


class AttributionError(ValueError):
    """The input, target or model cannot be attributed; the message says what was expected."""


def prepare_input(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A fresh leaf copy of ``x`` on the model's device and dtype, requiring grad."""
    if not isinstance(x, torch.Tensor):
        raise AttributionError(f"expected a tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise AttributionError(f"expected a tensor of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise AttributionError(f"expected a floating-point input, got {x.dtype}; convert and normalise it first")
    param = next(model.parameters(), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None and param.is_floating_point() else x.dtype
    return x.detach().to(device=device, dtype=dtype).requires_grad_(True)


def class_scores(logits: torch.Tensor, target: Target) -> torch.Tensor:
    """The logit of each image's target class, shape ``(N,)``; a clear error for bad targets or NaN logits."""
    if logits.dim() != 2:
        raise AttributionError(f"expected the model to return logits of shape (N, classes), got {tuple(logits.shape)}")
    n, k = logits.shape
    if isinstance(target, bool) or target is None:
        raise AttributionError(f"target must be a class index in 0..{k - 1}, got {target!r}")
    idx = torch.as_tensor(target, device=logits.device).long().reshape(-1)
    if idx.numel() == 1:
        idx = idx.expand(n)
    if idx.numel() != n:
        raise AttributionError(f"got {idx.numel()} targets for a batch of {n}; give one class or one per image")
    bad = idx[(idx < 0) | (idx >= k)]
    if bad.numel():
        raise AttributionError(f"class {bad[0].item()} is out of range; this model has {k} classes (0..{k - 1})")
    if torch.isnan(logits).any():
        raise AttributionError("the model returned NaN logits for this input; check the input's normalisation")
    return logits.gather(1, idx[:, None])[:, 0]


def _grad(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """d(sum of outputs)/d(inputs), with a plain-language error when the graph is broken."""
    if not outputs.requires_grad:
        raise AttributionError(
            "the model's output does not depend differentiably on its input (an argmax, .detach() or "
            "torch.no_grad inside forward?); gradient methods need a differentiable model"
        )
    (grad,) = torch.autograd.grad(outputs.sum(), inputs)
    return grad


def gradient(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """The gradient of the target logit with respect to the input, same shape as ``x``.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits ``(N, classes)``.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int or sequence of int
        One class for every image, or one per image.
    """
    with model_state(model):
        inputs = prepare_input(model, x)
        return _grad(class_scores(model(inputs), target), inputs).detach()


def grad_cam(model: nn.Module, x: torch.Tensor, target: Target, layer: str) -> torch.Tensor:
    """Grad-CAM at ``layer``: ReLU of the activation weighted by its spatially averaged gradient.

    Returns the map at the layer's resolution, shape ``(N, 1, h, w)``; :func:`saliency` upsamples it.
    """
    resolve_layer(model, layer)
    with model_state(model), capture(model, [layer]) as record:
        inputs = prepare_input(model, x)
        scores = class_scores(model(inputs), target)
        act = record[layer]
        if act.dim() != 4:
            raise AttributionError(
                f"Grad-CAM needs a layer with a (C, H, W) output; {layer!r} gives {tuple(act.shape[1:])}"
            )
        grad = _grad(scores, act)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * act.detach()).sum(dim=1, keepdim=True))


def _gradient_map(model: nn.Module, x: torch.Tensor, target: Target, layer: Optional[str]) -> torch.Tensor:
    return gradient(model, x, target).abs().amax(dim=1)


def _gradcam_map(model: nn.Module, x: torch.Tensor, target: Target, layer: Optional[str]) -> torch.Tensor:
    if layer is None:
        layer = default_cam_layer(model, layers(model, tuple(x.shape[1:])))
    cam = grad_cam(model, x, target, layer)
    return F.interpolate(cam, size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]


METHODS: Dict[str, Callable[..., torch.Tensor]] = {
    "gradient": _gradient_map,
    "gradcam": _gradcam_map,
}
"""Display-map functions by name; each returns ``(N, H, W)`` at the input's resolution."""

LAYER_METHODS = frozenset({"gradcam"})
"""Methods that take a ``layer`` argument."""


def saliency(
    model: nn.Module, x: torch.Tensor, target: Target, method: str = "gradient", layer: Optional[str] = None
) -> torch.Tensor:
    """A saliency map per image, shape ``(N, H, W)`` on the CPU, for display or further analysis.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits; left exactly as it was (modes, ``requires_grad``, hooks).
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int or sequence of int
        Class to explain, one for all images or one per image.
    method : str
        One of ``METHODS``: ``"gradient"`` (max |gradient| over colour channels) or ``"gradcam"``.
    layer : str, optional
        Dotted layer name for layer methods (Grad-CAM); defaults to the last convolutional block.
    """
    if method not in METHODS:
        raise AttributionError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
    if layer is not None and method not in LAYER_METHODS:
        raise AttributionError(f"method {method!r} takes no layer; layer methods: {', '.join(sorted(LAYER_METHODS))}")
    return METHODS[method](model, x, target, layer).detach().cpu()
