"""The loop's knobs for the classic recipes (issue 16): update rules, pixel spaces, L2 on the raw values, constraints,
circular jitter, stopping at a goal, native sizes and tiles. Each against a step written out by hand."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine.featurevis import (
    OUTPUT,
    Ball,
    Box,
    FeatureVisError,
    Roll,
    Visualization,
    channel,
    class_logit,
    deepdream,
    guided,
)
from cnnviz_widgets.engine.featurevis.rules import descend
from cnnviz_widgets.engine.progress import last

from .conftest import Untouched, small_cnn

MEAN = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)


def start(height: int = 32, width: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed)) * 0.8 + 0.1


def raw_net() -> nn.Module:
    return small_cnn(3).eval()


@pytest.mark.parametrize("rule", ["ascent", "l2", "mean_abs", "sign"])
def test_each_rule_is_its_formula(rule):
    grad = torch.randn(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    x = torch.zeros_like(grad)
    descend(x, grad, rule, 0.5)
    ascent = -grad  # the loss's gradient points down the objective
    per_image = {
        "ascent": torch.ones(2),
        "l2": torch.stack([g.norm() for g in grad]),
        "mean_abs": torch.stack([g.abs().mean() for g in grad]),
    }
    expected = 0.5 * ascent.sign() if rule == "sign" else 0.5 * ascent / per_image[rule].reshape(2, 1, 1, 1)
    torch.testing.assert_close(x, expected)
    still = torch.ones(1, 3, 2, 2)
    descend(still, torch.zeros_like(still), rule, 0.5)  # a zero gradient takes no step (no division by zero)
    assert torch.equal(still, torch.ones(1, 3, 2, 2))


def test_cs231n_class_step_in_normalised_space_matches_the_hand_written_step():
    """space='normalized', rule='ascent', l2_sum and Box: x += lr * (d score / dx - 2 * l2 * x), then clamped to the
    normalised image of [0, 1], exactly cs231n's class_visualization_update_step and clamp."""
    model = raw_net()
    image = start()
    vis = Visualization(model, class_logit(3), 32, param="pixel", decorrelate=False, squash="clamp",
                        transforms=False, native=True, rule="ascent", space="normalized", lr=25.0, l2_sum=1e-3,
                        constraint=Box(), init=image)  # fmt: skip
    with Untouched(model):
        last(vis.steps(2, every=0))
    x = ((image - MEAN) / STD).clone()
    for _ in range(2):
        x.requires_grad_(True)
        score = model(x)[0, 3] - 1e-3 * x.pow(2).sum()
        (g,) = torch.autograd.grad(score, x)
        with torch.no_grad():
            x = x + 25.0 * g
            x = torch.maximum(torch.minimum(x, (1 - MEAN) / STD), -MEAN / STD)
    torch.testing.assert_close(vis.image(), x * STD + MEAN, atol=2e-5, rtol=1e-4)
    assert vis.curve[0] == pytest.approx(float(model((image - MEAN) / STD)[0, 3].detach()), rel=1e-4)


def test_roll_jitter_is_a_step_on_the_rolled_picture_rolled_back():
    model = raw_net()
    image = start(24, 40)
    vis = Visualization(model, deepdream("conv2"), (24, 40), param="pixel", decorrelate=False, squash="clamp",
                        transforms=Roll(5), native=True, rule="mean_abs", space="byte", lr=1.5, seed=7,
                        init=image)  # fmt: skip
    last(vis.steps(1, every=0))
    dx, dy = Roll(5).shifts(random.Random(7))
    x = torch.roll(image, (dy, dx), (-2, -1)).requires_grad_(True)
    acts = {}
    handle = model.conv2.register_forward_hook(lambda m, i, o: acts.setdefault("a", o))
    try:
        model((x - MEAN) / STD)
    finally:
        handle.remove()
    (g,) = torch.autograd.grad(acts["a"].pow(2).mean(), x)
    step = torch.roll(g / g.abs().mean() * 1.5 / 255, (-dy, -dx), (-2, -1))
    torch.testing.assert_close(vis.image(), (image + step).clamp(0, 1), atol=1e-5, rtol=1e-4)
    assert vis.image().shape == (1, 3, 24, 40)


def test_until_stops_before_the_step_that_would_pass_the_goal():
    model = raw_net()
    with torch.no_grad():
        top, target = model((start() - MEAN) / STD)[0].argsort()[[-1, -2]].tolist()  # the top class, the runner-up
    seen = []

    def predicts_target(acts):
        seen.append(int(acts[OUTPUT].argmax()))
        return seen[-1] == target

    margin = class_logit(target) - class_logit(top)
    vis = Visualization(model, margin, 32, param="pixel", decorrelate=False, squash="clamp", transforms=False,
                        native=True, rule="l2", space="normalized", lr=2.0, init=start(), constraint=Box(),
                        until=predicts_target)  # fmt: skip
    updates = list(vis.steps(200, every=0))
    assert vis.reached and seen[-1] == target and target not in seen[:-1] and len(seen) > 2
    assert vis.step == len(seen) - 1 == len(vis.curve)  # the last look takes no step
    assert updates[-1].fraction == 1.0 and updates[-1].result is not None
    x = (vis.image() - MEAN) / STD
    assert int(model(x).argmax()) == target
    again = list(vis.steps(5, every=0))  # Resume at the goal: looks once, takes no step
    assert vis.step == len(seen) - 2 and len(again) == 1


def test_ball_holds_every_pixel_within_its_radius_and_in_range():
    model = raw_net()
    image = start()
    image[..., :4, :4] = 1.0  # saturated corner: the ball is cut by [0, 1]
    radius = 4 / 255
    vis = Visualization(model, class_logit(5), 32, param="pixel", decorrelate=False, squash="clamp",
                        transforms=False, native=True, rule="sign", lr=1 / 255, init=image,
                        constraint=Ball(image, radius))  # fmt: skip
    last(vis.steps(12, every=0))
    change = vis.image() - image
    assert change.abs().max() <= radius + 1e-6
    assert change.abs().max() >= radius - 1e-6  # twelve steps of 1/255 reach the edge
    assert vis.image().min() >= 0 and vis.image().max() <= 1


class Pointwise(nn.Module):
    """Only 1x1 convolutions: no position sees another, so tiles cannot interact."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 8, 1)
        self.b = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x))).mean((2, 3))


@pytest.mark.parametrize("objective", [deepdream("b"), channel("b", 1)])
def test_tiles_give_the_untiled_step_where_tiles_cannot_interact(objective):
    image = start(50, 70)
    common = dict(param="pixel", decorrelate=False, squash="clamp", transforms=Roll(6), native=True,
                  rule="mean_abs", space="byte", lr=1.5, init=image, seed=3)  # fmt: skip
    whole = Visualization(Pointwise(), objective, (50, 70), **common)
    tiled = Visualization(Pointwise(), objective, (50, 70), tile=16, **common)
    last(whole.steps(3, every=0))
    last(tiled.steps(3, every=0))
    torch.testing.assert_close(tiled.image(), whole.image(), atol=1e-5, rtol=1e-4)
    assert tiled.curve == pytest.approx(whole.curve, rel=1e-4)


def test_a_large_picture_is_dreamt_in_tiles():
    net = cw.Net(raw_net())
    vis = Visualization(net, deepdream("conv2"), (640, 1024), param="pixel", decorrelate=False, squash="clamp",
                        transforms=Roll(32), native=True, rule="mean_abs", space="byte", lr=1.5, tile=256,
                        init=start(640, 1024))  # fmt: skip
    last(vis.steps(1, every=0))
    assert vis.out == (256, 256) and vis.image().shape == (1, 3, 640, 1024)
    assert vis.curve[0] > 0


def test_guided_is_the_mean_best_match_with_the_guide():
    acts = torch.randn(2, 4, 3, 5, generator=torch.Generator().manual_seed(0))
    guide = torch.randn(4, 7, generator=torch.Generator().manual_seed(1))
    positions = [(b, y, x) for b in range(2) for y in range(3) for x in range(5)]
    brute = sum(max(float(acts[b, :, y, x] @ guide[:, j]) for j in range(7)) for b, y, x in positions) / 30
    assert float(guided("l", guide)({"l": acts})) == pytest.approx(brute, rel=1e-5)
    with pytest.raises(FeatureVisError, match="guide has 4 channels but layer 'conv2' has 8"):
        Visualization(raw_net(), guided("conv2", guide), 32)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(space="normalized"), "space and constraint act on raw pixels"),
        (dict(param="pixel", decorrelate=False, squash="clamp", space="float"), "space must be one of"),
        (dict(constraint=Box()), "space and constraint act on raw pixels"),
        (dict(rule="momentum"), "rule must be one of: adam, lbfgs, ascent, l2, mean_abs, sign"),
        (dict(tile=64), "tile needs native=True"),
        (dict(native=True, tile=16, transforms=False, objective=class_logit(1)), "tiles of 16 px, which needs"),
        (dict(size=(40, 60)), "size must be one side, or \\(height, width\\) with native=True"),
        (dict(size=(40, 60), native=True), "jittered with transforms=Roll"),
        (dict(until=3), "until must be a function"),
        (dict(native=True, tile=16, transforms=False, until=lambda acts: False), "until reads the activations of the"),
        (dict(l2_sum=-1.0), "l2_sum must be a number >= 0"),
        (dict(init=torch.rand(2, 3, 8, 8)), "init must be \\(3, H, W\\) or \\(1 or 1, 3, H, W\\)"),
    ],
)
def test_bad_knobs_are_refused(kwargs, message):
    """Each misused knob names what it needs (a picture that fits one tile needs no tileable objective)."""
    kwargs = dict(kwargs)
    objective = kwargs.pop("objective", channel("conv2", 0))
    size = kwargs.pop("size", 32)
    with pytest.raises(FeatureVisError, match=message):
        Visualization(raw_net(), objective, size, **kwargs)
    Visualization(raw_net(), class_logit(1), 32, native=True, tile=32, transforms=False)
