"""The method registry: every attribution method by name, with its options, and one entry point for all.

``explain(model, x, target, method=..., **options)`` validates the options against the method's own
table (so a widget can draw a control per option and a bad value gets a message naming the valid range),
runs the method and reduces its attribution to one display map per image. The noise tunnel (``smoothgrad``)
runs another pixel method, named by its ``over`` option, whose own options come in ``method_options``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, Iterator, List, Mapping, NamedTuple, Optional, Tuple

import torch
from torch import nn

from ..errors import AttributionError, CnnvizError, SettingError, collecting
from ..inputs import prepare_input
from ..layers import default_cam_layer, layers
from ..progress import Update, last
from ..replica import steps_on_replica
from ..schema import Option, check_settings
from .cam import grad_cam, grad_cam_pp, guided_grad_cam, upsample
from .gradients import gradient, input_x_gradient
from .guided import deconvnet, guided_backprop
from .integrated import BASELINES, RULES, integrated_gradients_steps
from .smoothgrad import BASES, KINDS, smoothgrad_steps
from .targets import Target

Steps = Callable[..., Generator[Update[Any], None, None]]
"""A method run as a long call: updates after each chunk, the last with its attribution (and IG's error)."""


def _channels_absmax(attr: torch.Tensor) -> torch.Tensor:
    return attr.abs().amax(dim=1)


def _channels_abssum(attr: torch.Tensor) -> torch.Tensor:
    return attr.abs().sum(dim=1)


def _spatial(attr: torch.Tensor) -> torch.Tensor:
    return attr[:, 0]


@dataclass(frozen=True)
class Method:
    """An attribution method: how to run it (a long call, see :mod:`..progress`), whether it needs a layer, its
    options and its display reduction.

    ``over``: the method runs another pixel method, named by its ``over`` option (the noise tunnel); it takes
    that method's options as ``method_options`` and shows its map the way that method does. ``quantity`` says
    what the display map measures (a colour bar's caption).
    """

    name: str
    title: str
    run: Steps
    reduce: Callable[[torch.Tensor], torch.Tensor]
    quantity: str
    layer: bool = False
    options: Tuple[Option, ...] = field(default_factory=tuple)
    over: bool = False

    def describe(self) -> Dict[str, Any]:
        """A JSON-ready description for front-ends: name, title, what its map measures, whether it takes a layer,
        its options."""
        return {
            "name": self.name,
            "title": self.title,
            "quantity": self.quantity,
            "layer": self.layer,
            "options": [o.describe() for o in self.options],
        }

    def check(self, options: Mapping[str, Any]) -> Dict[str, Any]:
        """Every option with its default filled in and its value checked; an :class:`AttributionError` naming
        the valid values otherwise."""
        try:
            return check_settings(self.options, options, self.name)
        except SettingError as exc:
            raise AttributionError(str(exc)) from None


def _once(fn: Callable[..., Any]) -> Steps:
    """A one-pass method as a long call of one update."""

    def steps(*args: Any, **kwargs: Any) -> Generator[Update[Any], None, None]:
        yield Update(1.0, fn(*args, **kwargs))

    return steps


def _ig(model, x, target, **options):
    return integrated_gradients_steps(model, x, target, return_error=True, **options)


def _sg(model, x, target, *, seed, **options):
    generator = torch.Generator(device=prepare_input(model, x).device).manual_seed(seed)
    return smoothgrad_steps(model, x, target, generator=generator, **options)


def _cam(fn: Callable[..., torch.Tensor]) -> Steps:
    def run(model, x, target, layer, **options):
        return upsample(fn(model, x, target, layer, **options), tuple(x.shape[-2:]))

    return _once(run)


RELU = Option(
    "relu", "ReLU", "bool", True, help="Keep only the evidence for the class (off: also show the evidence against it)"
)
"""Grad-CAM's final ReLU: off, the map also shows where the layer's evidence speaks against the class."""


OVER_CHANNELS = "over the colour channels"
CAM = "class evidence at the layer (ReLU of weighted activations)"
METHODS: Dict[str, Method] = {
    m.name: m
    for m in (
        Method("gradient", "Gradient", _once(gradient), _channels_absmax, f"largest |gradient| {OVER_CHANNELS}"),
        Method(
            "input_x_gradient",
            "Input × gradient",
            _once(input_x_gradient),
            _channels_abssum,
            f"sum of |input × gradient| {OVER_CHANNELS}",
        ),
        Method(
            "smoothgrad",
            "SmoothGrad",
            _sg,
            _channels_absmax,
            "the noise tunnel's average of its method's map",
            over=True,
            options=(
                Option(
                    "samples", "samples", "int", 25, 1, 500, help="Noisy copies of the image whose maps are combined"
                ),
                Option(
                    "noise", "noise", "float", 0.15, 0.0, 1.0, help="Noise sd as a share of the image's value range"
                ),
                Option("over", "over", "choice", "gradient", choices=BASES, help="The method run on each noisy copy"),
                Option(
                    "kind",
                    "kind",
                    "choice",
                    "smoothgrad",
                    choices=KINDS,
                    help="How the copies' maps are combined: mean, mean of squares or variance",
                ),
                Option("seed", "seed", "int", 0, 0, 2**31 - 1, help="Seed of the noise, so a map can be repeated"),
            ),
        ),
        Method(
            "integrated_gradients",
            "Integrated gradients",
            _ig,
            _channels_abssum,
            f"sum of |integrated gradient| {OVER_CHANNELS}",
            options=(
                Option("steps", "steps", "int", 50, 2, 1000, help="Points on the path from the baseline to the image"),
                Option(
                    "baseline",
                    "baseline",
                    "choice",
                    "zeros",
                    choices=BASELINES,
                    help="Where the path starts: the mean image (zeros) or the image blurred",
                ),
                Option("rule", "rule", "choice", "gausslegendre", choices=RULES, help="Quadrature rule of the path"),
            ),
        ),
        Method(
            "guided_backprop",
            "Guided backprop",
            _once(guided_backprop),
            _channels_absmax,
            f"largest |guided gradient| {OVER_CHANNELS}",
        ),
        Method(
            "deconvnet", "Deconvnet", _once(deconvnet), _channels_absmax, f"largest |deconvnet signal| {OVER_CHANNELS}"
        ),
        Method("gradcam", "Grad-CAM", _cam(grad_cam), _spatial, CAM, layer=True, options=(RELU,)),
        Method("gradcam_pp", "Grad-CAM++", _cam(grad_cam_pp), _spatial, CAM, layer=True, options=(RELU,)),
        Method(
            "guided_gradcam",
            "Guided Grad-CAM",
            _once(guided_grad_cam),
            _channels_absmax,
            f"largest |guided gradient × Grad-CAM| {OVER_CHANNELS}",
            layer=True,
        ),
    )
}
"""Every method by name, in the order a picker shows them."""

LAYER_METHODS = frozenset(name for name, m in METHODS.items() if m.layer)
"""Methods that take a ``layer`` argument."""


class Explanation(NamedTuple):
    """One method's result: the display map, the raw attribution, IG's completeness error (else None), and
    the notes the method made about its result (e.g. guided backprop on a model without rectifiers)."""

    map: torch.Tensor
    attribution: torch.Tensor
    error: Optional[torch.Tensor]
    notes: Tuple[str, ...] = ()


def get_method(name: str) -> Method:
    """The registered method ``name``; an error listing the valid names otherwise."""
    if name not in METHODS:
        raise AttributionError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[name]


def check_options(value: Any) -> Dict[str, Dict[str, Any]]:
    """``{method: {option: value}}`` for any subset of the methods, checked against each method's options, for
    every method with its defaults filled in; an :class:`AttributionError` naming the valid methods or the
    option's valid values otherwise."""
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise AttributionError(f"options must be a dict {{method: {{option: value}}}}, got {value!r}")
    unknown = sorted(set(value) - set(METHODS))
    if unknown:
        raise AttributionError(f"options for unknown method {unknown[0]!r}; choose one of: {', '.join(METHODS)}")
    checked = {}
    for name, method in METHODS.items():
        try:
            checked[name] = method.check(value.get(name, {}))
        except AttributionError as exc:
            raise AttributionError(f"{method.title}: {exc}") from None
    return checked


def base_options(method: str, options: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """The options of the method that ``method`` runs over (the noise tunnel's ``over``), taken from
    ``{method: {option: value}}`` settings of every method (a widget's); ``{}`` for other methods.

    :func:`explain` takes them as ``method_options``.
    """
    spec = METHODS.get(method)
    if spec is None or not spec.over:
        return {}
    over = options.get(method, {}).get("over", spec.check({})["over"])
    return dict(options.get(over, {}))


def _default_layer(model: nn.Module, x: torch.Tensor, forward_args: Tuple[Any, ...]) -> str:
    """The last convolutional block, found by probing the model with a zero image (and no extra arguments)."""
    try:
        return default_cam_layer(model, layers(model, tuple(x.shape[1:])))
    except CnnvizError:
        raise
    except (TypeError, RuntimeError, ValueError) as exc:
        if not forward_args:
            raise
        raise AttributionError(
            "the default layer is found by running the model on an image alone, without forward_args, which "
            f"failed ({exc}); name the layer instead, e.g. layer='layer4'"
        ) from exc


@steps_on_replica
def explain_steps(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    method: str = "gradient",
    layer: Optional[str] = None,
    *,
    forward_args: Tuple[Any, ...] = (),
    method_options: Optional[Mapping[str, Any]] = None,
    **options: Any,
) -> Iterator[Update[Explanation]]:
    """Run one attribution method as a long call: an :class:`~..progress.Update` after each chunk of a batched
    method (integrated gradients, the noise tunnel), the last with the :class:`Explanation`; stop iterating to
    stop within one chunk. The display map is ``(N, H, W)`` on the CPU, as is the attribution.

    Models that take several image inputs are out of scope: ``x`` is the one image batch attributed, and any
    other input of the model is passed whole or per image through ``forward_args``, never attributed.

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
    forward_args : tuple
        Extra arguments of the model's forward, passed after the image batch to every forward call
        (captum's ``additional_forward_args``). A tensor whose first dimension is the batch size goes with
        the batch: split into chunks and repeated for IG's path points and noise samples, one row per image;
        anything else is passed whole. A single value that is not a tuple is one argument. (Occlusion and
        feature visualisation do not take them.)
    method_options : dict, optional
        For the noise tunnel (``smoothgrad``): the options of the method it runs over (``over``), as that
        method's own options, e.g. ``{"steps": 16}`` with ``over="integrated_gradients"``; see
        :func:`base_options`.
    **options
        The method's options (``METHODS[method].options``), e.g. ``steps=50`` for integrated gradients.
    """
    spec = get_method(method)
    values = spec.check(options)
    base = get_method(values["over"]) if spec.over else None
    if base is not None:
        try:
            values["method_options"] = base.check(dict(method_options or {}))
        except AttributionError as exc:
            raise AttributionError(f"method_options for {base.name}: {exc}") from None
    elif method_options:
        tunnels = ", ".join(name for name, m in METHODS.items() if m.over)
        raise AttributionError(
            f"method {method!r} runs over no other method, so it takes no method_options "
            f"(the noise tunnel does: {tunnels})"
        )
    if spec.layer:
        if layer is None:
            layer = _default_layer(model, x, forward_args)
        values["layer"] = layer
    elif layer is not None:
        raise AttributionError(f"method {method!r} takes no layer; layer methods: {', '.join(sorted(LAYER_METHODS))}")
    notes: List[str] = []
    steps = spec.run(model, x, target, forward_args=forward_args, **values)
    try:
        while True:
            with collecting() as made:  # only while the method computes: the caller's own calls stay out
                update = next(steps, None)
            notes.extend(made)
            if update is None or update.result is not None:
                break
            yield update
    finally:
        steps.close()
    assert update is not None and update.result is not None, "a method's last update holds its result"
    attr, error = update.result if isinstance(update.result, tuple) else (update.result, None)
    attr = attr.detach()
    reduce = (base or spec).reduce
    explanation = Explanation(
        reduce(attr).cpu(), attr.cpu(), None if error is None else error.detach().cpu(), tuple(notes)
    )
    yield Update(1.0, explanation)


def explain(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    method: str = "gradient",
    layer: Optional[str] = None,
    *,
    forward_args: Tuple[Any, ...] = (),
    method_options: Optional[Mapping[str, Any]] = None,
    **options: Any,
) -> Explanation:
    """Run one attribution method; the display map is ``(N, H, W)`` on the CPU, as is the attribution.

    Parameters are as for :func:`explain_steps`, which this runs to the end.
    """
    steps = explain_steps(
        model, x, target, method, layer, forward_args=forward_args, method_options=method_options, **options
    )
    return last(steps)


def saliency(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    method: str = "gradient",
    layer: Optional[str] = None,
    *,
    forward_args: Tuple[Any, ...] = (),
    **options: Any,
) -> torch.Tensor:
    """A saliency map per image, ``(N, H, W)`` on the CPU; arguments as for :func:`explain`."""
    return explain(model, x, target, method, layer, forward_args=forward_args, **options).map
