"""What an attribution explains: a class per batch or per image, a function of the logits, or a hidden unit.

References are computed here with plain autograd (and a forward hook for units), or from linearity.
"""

from __future__ import annotations

import pytest
import torch

from cnnviz_widgets import engine
from cnnviz_widgets.engine import AttributionError, LayerError, resolve_layer

from .conftest import Untouched, eval_mode, rel_err, seeded_image

TOL = 1e-5
PER_IMAGE = [3, 7]
SINGLE_PASS = [
    "gradient",
    "input_x_gradient",
    "guided_backprop",
    "deconvnet",
    "gradcam",
    "gradcam_pp",
    "guided_gradcam",
]


@pytest.fixture(scope="module")
def model(resnet18):
    return resnet18.model


@pytest.fixture(scope="module")
def x():
    """Two seeded 96x96 images: layer2 is 12x12 there, layer4 3x3."""
    return seeded_image(2, 3, 96, 96, seed=5)


def unit_gradient(model, x, layer, channel, y=None, x_=None):
    """d(unit)/d(input) by hand: the layer's output captured by a forward hook, reduced as the unit says."""
    seen = []
    handle = resolve_layer(model, layer).register_forward_hook(lambda m, i, out: seen.append(out))
    inputs = x.clone().requires_grad_()
    try:
        with eval_mode(model):
            model(inputs)
    finally:
        handle.remove()
    act = seen[-1][:, channel]
    score = act.flatten(1).mean(dim=1) if y is None else act[:, y, x_]
    (grad,) = torch.autograd.grad(score.sum(), inputs)  # images are independent in eval mode
    return grad


def logit_gradient(model, x, classes):
    inputs = x.clone().requires_grad_()
    with eval_mode(model):
        logits = model(inputs)
    (grad,) = torch.autograd.grad(logits.gather(1, torch.tensor(classes)[:, None]).sum(), inputs)
    return grad


def layer_for(method):
    return "layer3" if method in engine.attribution.LAYER_METHODS else None


@pytest.mark.parametrize(
    "method,spelled", [(m, "list") for m in SINGLE_PASS] + [("gradient", "tensor"), ("gradient", "tuple")]
)
def test_one_class_per_image_equals_single_calls(model, x, method, spelled):
    target = {"list": PER_IMAGE, "tensor": torch.tensor(PER_IMAGE), "tuple": tuple(PER_IMAGE)}[spelled]
    both = engine.explain(model, x, target, method, layer_for(method)).attribution
    for i, t in enumerate(PER_IMAGE):
        single = engine.explain(model, x[i : i + 1], t, method, layer_for(method)).attribution
        assert rel_err(both[i : i + 1], single) < TOL
    assert rel_err(both[0], both[1]) > 1e-3  # different images, different classes: not a copy


def test_one_int_applies_to_every_image_and_gradient_is_the_logit_gradient(model, x):
    ours = engine.gradient(model, x, 4)
    assert rel_err(ours, logit_gradient(model, x, [4, 4])) < TOL
    assert rel_err(engine.gradient(model, x, PER_IMAGE), logit_gradient(model, x, PER_IMAGE)) < TOL


def test_callable_target_is_linear_in_the_logits(model, x):
    contrast = engine.gradient(model, x, lambda z: z[:, 3] - z[:, 5])
    assert rel_err(contrast, engine.gradient(model, x, 3) - engine.gradient(model, x, 5)) < TOL
    ig = engine.integrated_gradients(model, x[:1], lambda z: 2 * z[:, 3] - z[:, 5], steps=4)
    by_parts = 2 * engine.integrated_gradients(model, x[:1], 3, steps=4) - engine.integrated_gradients(
        model, x[:1], 5, steps=4
    )
    assert rel_err(ig, by_parts) < TOL


@pytest.mark.parametrize("unit", ["layer4:12", "layer2:5", "layer2:5:3:7", "layer4:0:2:1", "layer2.1.conv2:9:11:0"])
def test_unit_targets_are_the_gradient_of_the_unit(model, x, unit):
    layer, *numbers = unit.split(":")
    ref = unit_gradient(model, x, layer, *map(int, numbers))
    assert ref.abs().max() > 0
    with Untouched(model):
        ours = engine.gradient(model, x, unit)
    assert rel_err(ours, ref) < TOL


def test_a_unit_of_the_logit_layer_is_that_class(model, x):
    assert rel_err(engine.gradient(model, x, "fc:3"), engine.gradient(model, x, 3)) < TOL


BAD_UNITS = [
    ("layer9:1", LayerError, r"unknown layer 'layer9'; did you mean 'layer4'.*\? valid layers: .*layer4"),
    (":1", LayerError, r"unknown layer ''"),
    ("layer4:512", AttributionError, r"channel 512 is out of range; 'layer4' has 512 channels \(0\.\.511\)"),
    ("layer4:-1", AttributionError, r"channel -1 is out of range.*0\.\.511"),
    ("layer4:3:3:0", AttributionError, r"position \(3, 0\) is outside 'layer4''s 3x3 map \(y 0\.\.2, x 0\.\.2\)"),
    ("layer4:3:0:-1", AttributionError, r"position \(0, -1\) is outside"),
    ("fc:3:0:0", AttributionError, r"'fc' has no spatial positions; use 'fc:3'"),
    ("layer4", AttributionError, r"'layer4' is not 'layer:channel' or 'layer:channel:y:x'"),
    ("layer4:", AttributionError, r"is not 'layer:channel' or 'layer:channel:y:x'"),
    ("layer4:a", AttributionError, r"is not 'layer:channel' or 'layer:channel:y:x'"),
    ("layer4:1:2", AttributionError, r"is not 'layer:channel' or 'layer:channel:y:x'"),
    ("layer4:1:2:3:4", AttributionError, r"is not 'layer:channel' or 'layer:channel:y:x'"),
    ("layer4:1.5", AttributionError, r"is not 'layer:channel' or 'layer:channel:y:x'"),
]
OPTIONS = {"smoothgrad": {"samples": 2}, "integrated_gradients": {"steps": 2}}


def bad_cases(cases, others):
    """Every case with the gradient; the first ``others`` cases also with a batched and a layer method."""
    return [("gradient", *c) for c in cases] + [
        (m, *c) for m in ("gradcam", "smoothgrad", "integrated_gradients") for c in cases[:others]
    ]


@pytest.mark.parametrize("method,unit,error,message", bad_cases(BAD_UNITS, 5))
def test_bad_units_are_clear_and_leave_no_trace(model, x, unit, error, message, method):
    with Untouched(model):
        with pytest.raises(error, match=message):
            engine.explain(model, x[:1], unit, method, layer_for(method), **OPTIONS.get(method, {}))


BAD_TARGETS = [
    (1000, r"class 1000 is out of range; this model has 1000 classes \(0\.\.999\)"),
    (-1, r"class -1 is out of range"),
    ([1, 2, 3], r"got 3 targets for a batch of 2; give one class or one per image"),
    (2.5, r"must be an integer class index"),
    (True, r"target must be a class index"),
    (None, r"target must be a class index"),
    (torch.tensor([0.5, 1.5]), r"must be an integer class index"),
    (lambda z: z[:, 3:5], r"a callable target must map logits \(\d, 1000\) to one score per image, shape \(\d,\)"),
    (lambda z: z.sum(), r"a callable target must map logits"),
]


@pytest.mark.parametrize(
    "method,target,error,message", bad_cases([(t, AttributionError, m) for t, m in BAD_TARGETS], 3)
)
def test_bad_class_targets_are_clear_and_leave_no_trace(model, x, target, error, message, method):
    with Untouched(model):
        with pytest.raises(error, match=message):
            engine.explain(model, x, target, method, layer_for(method), **OPTIONS.get(method, {}))
