"""The method registry: every attribution method by name, with its options, and one entry point for all.

``explain(model, x, target, method=..., **options)`` validates the options against the method's own
table (so a widget can draw a control per option and a bad value gets a message naming the valid range),
runs the method and reduces its attribution to one display map per image.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..layers import default_cam_layer, layers
from .cam import grad_cam, grad_cam_pp, guided_grad_cam, upsample
from .core import Progress, prepare_input
from .gradients import gradient, input_x_gradient
from .guided import deconvnet, guided_backprop
from .integrated import BASELINES, RULES, integrated_gradients
from .smoothgrad import smoothgrad
from .targets import AttributionError, Target


@dataclass(frozen=True)
class Option:
    """One tunable setting of a method: its kind, default and valid values (drawn as a control)."""

    name: str
    label: str
    kind: str  # "int", "float" or "choice"
    default: Any
    low: Optional[float] = None
    high: Optional[float] = None
    choices: Tuple[str, ...] = ()

    def check(self, value: Any) -> Any:
        """``value`` converted to this option's type; an error naming the valid values otherwise."""
        if self.kind == "choice":
            if value not in self.choices:
                raise AttributionError(f"{self.name} must be one of: {', '.join(self.choices)}; got {value!r}")
            return value
        number_ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
        span = f"{int(self.low)}..{int(self.high)}" if self.kind == "int" else f"{self.low:g}..{self.high:g}"
        if self.kind == "int" and (not number_ok or float(value) != int(value)):
            raise AttributionError(f"{self.name} must be a whole number in {span}, got {value!r}")
        if not number_ok or not self.low <= value <= self.high:
            raise AttributionError(f"{self.name} must be a number in {span}, got {value!r}")
        return int(value) if self.kind == "int" else float(value)

    def describe(self) -> Dict[str, Any]:
        """A JSON-ready description for front-ends."""
        return {k: v for k, v in self.__dict__.items() if v is not None and v != ()} | {"choices": list(self.choices)}


def _channels_absmax(attr: torch.Tensor) -> torch.Tensor:
    return attr.abs().amax(dim=1)


def _channels_abssum(attr: torch.Tensor) -> torch.Tensor:
    return attr.abs().sum(dim=1)


def _spatial(attr: torch.Tensor) -> torch.Tensor:
    return attr[:, 0]


@dataclass(frozen=True)
class Method:
    """An attribution method: how to run it, whether it needs a layer, its options and its display reduction."""

    name: str
    title: str
    run: Callable[..., Any]
    reduce: Callable[[torch.Tensor], torch.Tensor]
    layer: bool = False
    batched: bool = False
    options: Tuple[Option, ...] = field(default_factory=tuple)

    def describe(self) -> Dict[str, Any]:
        """A JSON-ready description for front-ends: name, title, whether it takes a layer, its options."""
        return {"name": self.name, "title": self.title, "layer": self.layer, "options": [o.describe() for o in self.options]}

    def check(self, options: Dict[str, Any]) -> Dict[str, Any]:
        """Every option with its default filled in and its value checked."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            valid = ", ".join(known) or "none"
            raise AttributionError(f"{self.name} has no option {unknown[0]!r}; its options: {valid}")
        return {name: o.check(options[name]) if name in options else o.default for name, o in known.items()}


def _ig(model, x, target, *, progress=None, **options):
    return integrated_gradients(model, x, target, progress=progress, return_error=True, **options)


def _sg(model, x, target, *, seed, progress=None, **options):
    generator = torch.Generator(device=prepare_input(model, x).device).manual_seed(seed)
    return smoothgrad(model, x, target, progress=progress, generator=generator, **options)


def _cam(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def run(model, x, target, layer):
        return upsample(fn(model, x, target, layer), tuple(x.shape[-2:]))

    return run


METHODS: Dict[str, Method] = {
    m.name: m
    for m in (
        Method("gradient", "Gradient", gradient, _channels_absmax),
        Method("input_x_gradient", "Input × gradient", input_x_gradient, _channels_abssum),
        Method(
            "smoothgrad", "SmoothGrad", _sg, _channels_absmax, batched=True,
            options=(
                Option("samples", "samples", "int", 25, 1, 500),
                Option("noise", "noise", "float", 0.15, 0.0, 1.0),
                Option("seed", "seed", "int", 0, 0, 2**31 - 1),
            ),
        ),
        Method(
            "integrated_gradients", "Integrated gradients", _ig, _channels_abssum, batched=True,
            options=(
                Option("steps", "steps", "int", 50, 2, 1000),
                Option("baseline", "baseline", "choice", "zeros", choices=BASELINES),
                Option("rule", "rule", "choice", "gausslegendre", choices=RULES),
            ),
        ),
        Method("guided_backprop", "Guided backprop", guided_backprop, _channels_absmax),
        Method("deconvnet", "Deconvnet", deconvnet, _channels_absmax),
        Method("gradcam", "Grad-CAM", _cam(grad_cam), _spatial, layer=True),
        Method("gradcam_pp", "Grad-CAM++", _cam(grad_cam_pp), _spatial, layer=True),
        Method("guided_gradcam", "Guided Grad-CAM", guided_grad_cam, _channels_absmax, layer=True),
    )
}
"""Every method by name, in the order a picker shows them."""

LAYER_METHODS = frozenset(name for name, m in METHODS.items() if m.layer)
"""Methods that take a ``layer`` argument."""


class Explanation(NamedTuple):
    """One method's result: the display map, the raw attribution, and IG's completeness error (else None)."""

    map: torch.Tensor
    attribution: torch.Tensor
    error: Optional[torch.Tensor]


def get_method(name: str) -> Method:
    """The registered method ``name``; an error listing the valid names otherwise."""
    if name not in METHODS:
        raise AttributionError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def explain(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    method: str = "gradient",
    layer: Optional[str] = None,
    *,
    progress: Progress = None,
    **options: Any,
) -> Explanation:
    """Run one attribution method; the display map is ``(N, H, W)`` on the CPU, as is the attribution.

    Parameters
    ----------
    model : nn.Module
        Classifier returning logits; left exactly as it was (modes, ``requires_grad``, hooks).
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class to explain (one for all images or one per image), a function of the logits returning one
        score per image, or a hidden unit ``"layer:channel"`` / ``"layer:channel:y:x"``.
    method : str
        One of ``METHODS``.
    layer : str, optional
        Dotted layer name for layer methods (Grad-CAM family); defaults to the last convolutional block.
    progress : callable, optional
        For batched methods: called with the fraction done after each chunk; raising from it cancels.
    **options
        The method's options (``METHODS[method].options``), e.g. ``steps=50`` for integrated gradients.
    """
    spec = get_method(method)
    values = spec.check(options)
    if spec.layer:
        if layer is None:
            layer = default_cam_layer(model, layers(model, tuple(x.shape[1:])))
        values["layer"] = layer
    elif layer is not None:
        raise AttributionError(f"method {method!r} takes no layer; layer methods: {', '.join(sorted(LAYER_METHODS))}")
    if spec.batched:
        values["progress"] = progress
    result = spec.run(model, x, target, **values)
    attr, error = result if isinstance(result, tuple) else (result, None)
    attr = attr.detach()
    return Explanation(spec.reduce(attr).cpu(), attr.cpu(), None if error is None else error.detach().cpu())


def saliency(
    model: nn.Module, x: torch.Tensor, target: Target, method: str = "gradient", layer: Optional[str] = None, **options: Any
) -> torch.Tensor:
    """A saliency map per image, ``(N, H, W)`` on the CPU; arguments as for :func:`explain`."""
    return explain(model, x, target, method, layer, **options).map
