"""Engine calls leave the model exactly as they found it: no hooks, same flags, no .grad, also on errors;
and every attribution method turns bad input into a clear AttributionError/LayerError."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from cnnviz_widgets import engine
from cnnviz_widgets.engine import METHODS, AttributionError, LayerError
from cnnviz_widgets.engine.attribution import LAYER_METHODS

from .conftest import METHOD_NAMES, SmallCNN, Untouched, hook_count, mixed_state, small_cnn

QUICK = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 2}}  # cheap settings of the batched methods


def call(model, x, target=0, method="gradient", layer="conv2", **options):
    """``engine.explain`` with a layer only for the methods that take one and cheap defaults for batched ones."""
    layer = layer if method in LAYER_METHODS else None
    return engine.explain(model, x, target, method, layer, **{**QUICK.get(method, {}), **options})


class Exploding(nn.Module):
    """A small CNN whose forward raises after its conv layers ran (and their hooks fired)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 10)
        self.explode = True

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x)))
        if self.explode:
            raise RuntimeError("boom inside forward")
        return self.head(y.mean(dim=(2, 3)))


class ArgmaxNet(SmallCNN):
    """Returns one-hot predictions: no gradient reaches the input."""

    def forward(self, x):
        return nn.functional.one_hot(super().forward(x).argmax(dim=1), 10).float()


class NaNLogits(SmallCNN):
    """Finite input, NaN output (a log of a negative number in the head)."""

    def forward(self, x):
        return super().forward(x) + torch.log(-torch.ones(()))


def test_the_registry_holds_the_methods_of_issue_3():
    assert list(METHODS) == list(METHOD_NAMES)
    assert {"gradcam", "gradcam_pp", "guided_gradcam"} == LAYER_METHODS
    for name, method in METHODS.items():
        description = method.describe()
        assert description["name"] == name and description["layer"] == (name in LAYER_METHODS)
        for option in method.options:
            assert option.check(option.default) == option.default  # every default is a valid value


@pytest.mark.parametrize(
    "method,layer", [(m, "conv") for m in METHOD_NAMES] + [(m, None) for m in METHOD_NAMES if m in LAYER_METHODS]
)
def test_exception_in_forward_leaves_no_hooks_and_same_flags(method, layer):
    """``layer=None``: the default layer is found by a probing forward pass, which raises too."""
    model = mixed_state(Exploding())
    with Untouched(model):
        with pytest.raises(RuntimeError, match="boom"):
            call(model, torch.rand(1, 3, 16, 16), 0, method, layer)


ALL_METHODS = ", ".join(METHOD_NAMES)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"target": 10}, r"out of range.*0\.\.9"),
        ({"target": [1, 2]}, r"2 targets for a batch of 1"),
        ({"method": "guided"}, rf"unknown method 'guided'; choose one of: {ALL_METHODS}$"),
        ({"method": "gradcam", "layer": "conv2"}, r"unknown layer 'conv2'.*conv"),
        ({"method": "gradcam", "layer": "head"}, r"needs a layer with a \(C, H, W\) output"),
        (
            {"method": "gradient", "layer": "conv"},
            r"method 'gradient' takes no layer; layer methods: gradcam, gradcam_pp, guided_gradcam",
        ),
    ],
)
def test_bad_arguments_are_clear_and_leave_no_trace(kwargs, message):
    model = Exploding()
    model.explode = False
    mixed_state(model)
    args = {"target": 0, "method": "gradcam", "layer": "conv", **kwargs}
    with Untouched(model):
        with pytest.raises((AttributionError, LayerError), match=message):
            engine.saliency(model, torch.rand(1, 3, 16, 16), **args)


def test_successful_calls_touch_nothing_and_do_not_accumulate(resnet18):
    model = resnet18.model
    x = torch.rand(1, 3, 64, 64)
    with Untouched(model):
        for _ in range(2):
            for method in METHOD_NAMES:
                call(model, x, 1, method, "layer4")
                assert hook_count(model) == 0
            engine.saliency(model, x, 1, method="gradcam", layer="layer1.0.bn1")
    assert all(p.grad is None for p in model.parameters())


def test_inputs_are_validated():
    model = Exploding()
    model.explode = False
    with pytest.raises(AttributionError, match=r"floating-point"):
        engine.saliency(model, torch.zeros(1, 3, 16, 16, dtype=torch.uint8), 0)
    with pytest.raises(AttributionError, match=r"\(N, C, H, W\)"):
        engine.saliency(model, torch.zeros(3, 16, 16), 0)
    with pytest.raises(AttributionError, match=r"expected a tensor of shape \(N, C, H, W\), got ndarray"):
        engine.saliency(model, np.zeros((1, 3, 16, 16), dtype=np.float32), 0)


def test_model_without_conv_layers_explains_why_gradcam_cannot_run():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    with pytest.raises(LayerError, match=r"no layer with a spatial \(C, H, W\) output"):
        engine.saliency(mlp, torch.rand(1, 3, 16, 16), 0, method="gradcam")
    assert engine.saliency(mlp, torch.rand(1, 3, 16, 16), 0, method="gradient").shape == (1, 16, 16)


# --- bad input, for every method --------------------------------------------------------------------


def _nan_image():
    x = torch.rand(1, 3, 16, 16)
    x[0, 1, 2, 3] = float("nan")
    return x


def _inf_image():
    x = torch.rand(1, 3, 16, 16)
    x[0, 0, 0, 0] = float("inf")
    return x


BAD_INPUT = {
    "non-differentiable model": (
        ArgmaxNet,
        lambda: torch.rand(1, 3, 16, 16),
        r"does not depend differentiably on its input",
    ),
    "integer input": (
        SmallCNN,
        lambda: torch.zeros(1, 3, 16, 16, dtype=torch.int64),
        r"expected a floating-point input, got torch\.int64",
    ),
    "NaN in the input": (SmallCNN, _nan_image, r"the input contains NaN or infinite values"),
    "inf in the input": (SmallCNN, _inf_image, r"the input contains NaN or infinite values"),
    "NaN logits": (NaNLogits, lambda: torch.rand(1, 3, 16, 16), r"the model returned NaN logits for this input"),
    "3-D input": (
        SmallCNN,
        lambda: torch.rand(3, 16, 16),
        r"expected a tensor of shape \(N, C, H, W\), got shape \(3, 16, 16\)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
@pytest.mark.parametrize("method", METHOD_NAMES)
def test_bad_input_is_reported_clearly_by_every_method(method, case):
    cls, image, message = BAD_INPUT[case]
    torch.manual_seed(0)
    model = mixed_state(cls())
    with Untouched(model):
        with pytest.raises(AttributionError, match=message):
            call(model, image(), 0, method)


@pytest.mark.parametrize("method", sorted(LAYER_METHODS))
@pytest.mark.parametrize("layer", ["head", "bn"])
def test_layer_methods_need_a_spatial_layer(method, layer):
    model = mixed_state(small_cnn())
    if layer == "bn":  # a (C, H, W) layer works: the check is about the output, not the module type
        assert call(model, torch.rand(1, 3, 16, 16), 0, method, layer).map.shape == (1, 16, 16)
        return
    with Untouched(model):
        with pytest.raises(AttributionError, match=r"needs a layer with a \(C, H, W\) output.*'head' gives \(10,\)"):
            call(model, torch.rand(1, 3, 16, 16), 0, method, layer)


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_unknown_options_list_the_methods_options(method):
    model = mixed_state(small_cnn())
    expected = {
        "smoothgrad": "samples, noise, over, kind, seed",
        "integrated_gradients": "steps, baseline, rule",
        "gradcam": "relu",
        "gradcam_pp": "relu",
    }.get(method, "none")
    with Untouched(model):
        with pytest.raises(AttributionError, match=rf"{method} has no option 'stepz'; its options: {expected}$"):
            call(model, torch.rand(1, 3, 16, 16), 0, method, stepz=3)


BAD_VALUES = (
    [
        ("smoothgrad", "samples", value, r"samples must be a (whole )?number in 1\.\.500")
        for value in (0, 501, 2.5, True, "8", None, math.nan, math.inf)
    ]
    + [
        ("smoothgrad", "noise", value, r"noise must be a number in 0\.\.1\b")
        for value in (-0.1, 1.5, math.nan, -math.inf, "0.1", False)
    ]
    + [
        ("smoothgrad", "seed", value, r"seed must be a (whole )?number in 0\.\.2147483647")
        for value in (-1, 2**31, 0.5, "1")
    ]
    + [
        ("integrated_gradients", "steps", value, r"steps must be a (whole )?number in 2\.\.1000")
        for value in (1, 1001, 10.5, math.nan, math.inf)
    ]
    + [
        ("integrated_gradients", "baseline", "ones", r"baseline must be one of: zeros, blur; got 'ones'"),
        ("integrated_gradients", "baseline", 0.0, r"baseline must be one of: zeros, blur; got 0\.0"),
        (
            "integrated_gradients",
            "rule",
            "simpson",
            r"rule must be one of: gausslegendre, riemann_trapezoid, riemann_left, riemann_right, riemann_middle; "
            r"got 'simpson'",
        ),
    ]
)


@pytest.mark.parametrize("method,option,value,message", BAD_VALUES)
def test_bad_option_values_name_the_valid_range(method, option, value, message):
    model = mixed_state(small_cnn())
    with Untouched(model):
        with pytest.raises(AttributionError, match=message):
            call(model, torch.rand(1, 3, 16, 16), 0, method, **{option: value})


@pytest.mark.parametrize(
    "method,options",
    [
        ("smoothgrad", {"samples": np.int64(2), "noise": np.float32(0.25)}),
        ("integrated_gradients", {"steps": np.int32(3)}),
        ("integrated_gradients", {"steps": 3.0}),
    ],
)
def test_numpy_and_integral_float_option_values_are_accepted(method, options):
    """Values from numpy (a slider's array, np.arange) are numbers too; 3.0 is a whole number."""
    model = small_cnn()
    assert call(model, torch.rand(1, 3, 16, 16), 0, method, **options).map.shape == (1, 16, 16)


def test_unknown_method_lists_the_methods():
    model = mixed_state(small_cnn())
    with Untouched(model):
        with pytest.raises(AttributionError, match=rf"unknown method 'smoothgrad_pp'; choose one of: {ALL_METHODS}$"):
            engine.explain(model, torch.rand(1, 3, 16, 16), 0, "smoothgrad_pp")


def test_concurrent_calls_on_one_model_do_not_see_each_others_hooks(resnet18):
    """A widget job and a notebook cell may run engine calls on the same model at once (two threads)."""
    import threading

    model = resnet18.model
    x = torch.rand(1, 3, 96, 96)
    cam_ref = engine.saliency(model, x, 1, method="gradcam", layer="layer3")
    n_layers = len(engine.layers(model, (3, 96, 96)))
    failures = []

    def worker(kind):
        try:
            for _ in range(8):
                if kind == "cam":
                    torch.testing.assert_close(engine.saliency(model, x, 1, method="gradcam", layer="layer3"), cam_ref)
                else:
                    assert len(engine.layers(model, (3, 96, 96))) == n_layers
                    engine.saliency(model, x, 2, method="gradient")
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failures.append(f"{kind}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in ("cam", "other", "cam")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert hook_count(model) == 0
