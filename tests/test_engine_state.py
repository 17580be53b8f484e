"""Engine calls leave the model exactly as they found it: no hooks, same flags, no .grad, also on errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnviz_widgets import engine
from cnnviz_widgets.engine import AttributionError, LayerError

from .conftest import flags, hook_count


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


def mixed_state(model: nn.Module) -> None:
    """Train mode on some modules, frozen weights on others: the engine must put back exactly this."""
    model.train()
    for m in list(model.modules())[::3]:
        m.training = False
    for p in list(model.parameters())[::2]:
        p.requires_grad_(False)


@pytest.mark.parametrize("method,layer", [("gradient", None), ("gradcam", "conv"), ("gradcam", None)])
def test_exception_in_forward_leaves_no_hooks_and_same_flags(method, layer):
    model = Exploding()
    mixed_state(model)
    before = flags(model)
    with pytest.raises(RuntimeError, match="boom"):
        engine.saliency(model, torch.rand(1, 3, 16, 16), 0, method=method, layer=layer)
    assert hook_count(model) == 0
    assert flags(model) == before


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"target": 10}, r"out of range.*0\.\.9"),
        ({"target": [1, 2]}, r"2 targets for a batch of 1"),
        ({"method": "guided"}, r"choose one of: gradient, gradcam"),
        ({"method": "gradcam", "layer": "conv2"}, r"unknown layer 'conv2'.*conv"),
        ({"method": "gradcam", "layer": "head"}, r"needs a layer with a \(C, H, W\) output"),
    ],
)
def test_bad_arguments_are_clear_and_leave_no_trace(kwargs, message):
    model = Exploding()
    model.explode = False
    mixed_state(model)
    before = flags(model)
    args = {"target": 0, "method": "gradcam", "layer": "conv", **kwargs}
    with pytest.raises((AttributionError, LayerError), match=message):
        engine.saliency(model, torch.rand(1, 3, 16, 16), **args)
    assert hook_count(model) == 0
    assert flags(model) == before


def test_successful_calls_touch_nothing_and_do_not_accumulate(resnet18):
    model = resnet18.model
    before = flags(model)
    x = torch.rand(1, 3, 64, 64)
    for method, layer in [("gradient", None), ("gradcam", "layer4"), ("gradcam", "layer1.0.bn1")] * 3:
        engine.saliency(model, x, 1, method=method, layer=layer)
        assert hook_count(model) == 0
    assert flags(model) == before
    assert all(p.grad is None for p in model.parameters())


def test_inputs_are_validated():
    model = Exploding()
    model.explode = False
    with pytest.raises(AttributionError, match=r"floating-point"):
        engine.saliency(model, torch.zeros(1, 3, 16, 16, dtype=torch.uint8), 0)
    with pytest.raises(AttributionError, match=r"\(N, C, H, W\)"):
        engine.saliency(model, torch.zeros(3, 16, 16), 0)


def test_non_differentiable_model_gets_a_plain_message():
    class ArgmaxNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 10, 3)

        def forward(self, x):
            scores = self.conv(x).mean(dim=(2, 3))
            return nn.functional.one_hot(scores.argmax(dim=1), 10).float()

    with pytest.raises(AttributionError, match="does not depend differentiably"):
        engine.saliency(ArgmaxNet(), torch.rand(1, 3, 16, 16), 0)


def test_nan_logits_are_reported():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))
    x = torch.rand(1, 3, 16, 16)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(AttributionError, match="NaN logits"):
        engine.saliency(model, x, 0)


def test_model_without_conv_layers_explains_why_gradcam_cannot_run():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    with pytest.raises(LayerError, match=r"no layer with a spatial \(C, H, W\) output"):
        engine.saliency(mlp, torch.rand(1, 3, 16, 16), 0, method="gradcam")
    assert engine.saliency(mlp, torch.rand(1, 3, 16, 16), 0, method="gradient").shape == (1, 16, 16)


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
