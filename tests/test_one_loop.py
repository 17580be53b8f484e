"""Issues 16 and 17 share the feature-visualisation loop, and the engine's recipes take the cs231n lab's own steps.

DeepDream, class visualisation (both recipes), fooling images (both modes), style transfer (Adam and L-BFGS), texture
synthesis and feature inversion each go through
``Visualization._step`` for every step they take (patched here to count); the cs231n class-visualisation recipe takes
exactly the lab's reference step (``cw.labs.reference``) and the unconstrained fooling image is the lab's reference
fooling image.
"""

from __future__ import annotations

import random

import pytest
import torch

import cnnviz_widgets as cw
from cnnviz_widgets.engine.classvis import ClassVisualization
from cnnviz_widgets.engine.dream import Dream
from cnnviz_widgets.engine.featurevis import Roll, Visualization
from cnnviz_widgets.engine.fooling import Fooling
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.style import Inversion, Preset, Transfer
from cnnviz_widgets.labs import reference
from cnnviz_widgets.labs.classvis import blur_image, jitter

from .conftest import small_cnn


def test_every_method_steps_through_the_one_loop(monkeypatch):
    calls = []
    original = Visualization._step

    def counted(vis):
        calls.append(type(vis).__name__)
        return original(vis)

    monkeypatch.setattr(Visualization, "_step", counted)
    net = cw.Net(small_cnn(4))
    photo = torch.rand(3, 48, 64, generator=torch.Generator().manual_seed(0))
    taken = {}
    runner_up = int(net.predict(photo, k=2)[1].index)
    recipe = Preset("test", content=("conv2", 1.0), style=(("conv", 1.0), ("conv2", 1.0)), tv=1e-3, size=32)
    for name, (method, steps) in {
        "dream": (Dream(net, photo, "conv2", octaves=2, steps=3), 6),
        "cs231n": (ClassVisualization(net, 3, "cs231n", steps=4), 4),
        "distill": (ClassVisualization(net, 3, "distill", steps=4), 4),
        "fooling": (Fooling(net, photo, runner_up, steps=5), 5),
        "bounded": (Fooling(net, photo, runner_up, mode="bounded", steps=5), 5),
        "style": (Transfer(net, photo, [photo.flip(-1)], preset=recipe), 3),
        "lbfgs": (Transfer(net, photo, [photo.flip(-1)], preset=recipe, optimizer="lbfgs"), 3),
        "texture": (Transfer(net, None, [photo], preset=recipe, init="noise"), 3),
        "inversion": (Inversion(net, photo, ["conv", "conv2"], size=32), 3),
    }.items():
        before = len(calls)
        last(method.steps(steps))
        taken[name] = (len(calls) - before, method.step)
    assert taken["dream"] == (6, 6) and taken["cs231n"] == (4, 4) and taken["distill"] == (4, 4)
    assert taken["style"] == taken["lbfgs"] == taken["texture"] == (3, 3)
    assert taken["inversion"] == (6, 3)  # one step of each layer's picture per step
    for mode in ("fooling", "bounded"):  # a run that reaches its class looks once more, without a step
        looks, steps = taken[mode]
        assert 1 <= steps <= 5 and looks in (steps, steps + 1)


def test_the_cs231n_recipe_takes_the_labs_reference_step():
    model = small_cnn(2).eval()
    net = cw.Net(model)
    vis = ClassVisualization(net, 7, "cs231n", seed=5)
    mean = torch.tensor(net.preprocess.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(net.preprocess.std).reshape(1, 3, 1, 1)
    img = vis.vis.image_param.tensor.detach().clone()  # the recipe's noise, in normalised space (not clamped yet)
    last(vis.steps(1, every=0))
    ox, oy = Roll(16).shifts(random.Random(5))
    rolled = jitter(img.detach(), ox, oy).requires_grad_(True)
    reference.class_visualization_update_step(rolled, model, 7, 1e-3, 25.0)
    ours = jitter(rolled.detach(), -ox, -oy)
    ours = torch.maximum(torch.minimum(ours, (1 - mean) / std), -mean / std)
    ours = blur_image(ours, 0.5)  # cs231n blurs after iteration 0, 10, 20...
    inside = (..., slice(2, -2), slice(2, -2))  # the lab mirrors the border as scipy does, the engine reflects it
    torch.testing.assert_close(vis.image()[inside], (ours * std + mean)[inside], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("photo, target", [("cat", 6), ("coffee", 76)])
def test_the_unconstrained_fooling_image_is_the_labs_reference(default_net, photo, target):
    image = cw.sample_image(photo)
    ours = Fooling(default_net, image, target)
    last(ours.steps())
    x = default_net.tensor(image)
    fooled = reference.make_fooling_image(x, target, cw.labs.student_model(default_net))
    std = torch.tensor(default_net.preprocess.std).reshape(1, 3, 1, 1)
    mean = torch.tensor(default_net.preprocess.mean).reshape(1, 3, 1, 1)
    theirs = (fooled * std + mean).clamp(0, 1)
    assert ours.frame().reached and int(default_net.predict(theirs, k=1)[0].index) == target
    # The first step agrees to 0.1 grey levels; later steps drift apart where a tiny difference between the engine's
    # folded copy of the model and the model flips a ReLU6, so the pictures agree on average, not pixel for pixel.
    assert (ours.frame().image - theirs[0]).abs().mean() < 0.5 / 255
