"""Regression tests for the defects a new user hit (issue 12, section 2), one or more per defect; each failed on
the code before its fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ipywidgets.widgets.widget import _instances as widget_instances
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine import (
    AttributionError,
    CnnvizError,
    FeatureVisError,
    ImageError,
    LayerError,
    ModelError,
    OcclusionError,
    Preprocess,
)
from cnnviz_widgets.engine.errors import CnnvizWarning
from cnnviz_widgets.engine.featurevis import OUTPUT, Visualization, class_logit
from cnnviz_widgets.engine.progress import last

from .conftest import eval_mode, small_cnn

REPO = Path(__file__).resolve().parents[1]

SMALL = Preprocess(size=32)


def small_net(model: nn.Module = None) -> cw.Net:
    return cw.Net(model if model is not None else small_cnn().eval(), SMALL)


# -- pixel feature visualisation: every optimiser step uses a gradient laid out like its parameter ----------
def test_a_pixel_step_is_the_adam_step_computed_by_hand():
    """With raw pixels, no decorrelation and no transforms the gradient reached the parameter channels-last
    while the parameter is contiguous, and the fused CPU Adam applied it in memory order (scrambled steps)."""
    net = small_net()
    lr = 0.05
    vis = Visualization(net, class_logit(3), 32, param="pixel", decorrelate=False, transforms=False, lr=lr, seed=4)
    start = vis.image_param.tensor.detach().clone()
    # The reference gradient: the model's own forward in the default layout, autograd by hand.
    p = start.clone().requires_grad_()
    images = torch.sigmoid(p)
    x = (images - torch.tensor(SMALL.mean).view(1, 3, 1, 1)) / torch.tensor(SMALL.std).view(1, 3, 1, 1)
    with eval_mode(net.model):
        value = class_logit(3)({OUTPUT: net.model(x)})
    (grad,) = torch.autograd.grad(-value, p)
    last(vis.steps(1))
    step = vis.image_param.tensor.detach() - start
    # Adam's first step: m = (1 - b1) g, v = (1 - b2) g^2, bias-corrected to g and g^2: lr * g / (|g| + eps).
    expected = -lr * grad / (grad.abs() + 1e-8)
    clear = grad.abs() > 1e-5  # where |g| is near eps the float rounding of g decides
    assert clear.float().mean() > 0.5  # (behind the max pool some pixels get no gradient at all)
    assert torch.equal(step[grad == 0], torch.zeros_like(step[grad == 0]))
    agree = (torch.sign(step) == torch.sign(expected))[clear].float().mean()
    assert agree == 1.0, f"only {agree:.0%} of the steps go the ascent direction"
    torch.testing.assert_close(step[clear], expected[clear], rtol=1e-3, atol=1e-6)


# -- the explorer's layer argument -------------------------------------------------------------------------
def test_a_layer_given_to_the_explorer_is_used_and_the_picker_is_filled(resnet18, cat):
    w = cw.SaliencyExplorer(resnet18, cat, method="gradcam", layer="layer4")
    w.wait()
    assert w.error == "" and w.layer == "layer4"
    assert "layer4" in [row["name"] for row in w.layers] and len(w.layers) > 10
    cam = engine.saliency(resnet18.model, resnet18.tensor(cat), w.target, "gradcam", "layer4")[0]
    np.testing.assert_allclose(w.heatmap.values, cam.numpy(), rtol=1e-5, atol=1e-6)
    w.close()


@pytest.mark.parametrize(
    "layer,error,message",
    [
        ("nope", LayerError, r"unknown layer 'nope'; valid layers: "),
        ("layer5", LayerError, r"unknown layer 'layer5'; did you mean 'layer4'.*\? valid layers: "),
        ("fc", LayerError, r"'fc' is not a layer with a spatial \(C, H, W\) output.*choose one of: "),
    ],
)
def test_a_bad_layer_given_to_the_explorer_raises_naming_the_choices(resnet18, cat, layer, error, message):
    views = len(widget_instances)
    with pytest.raises(error, match=message):
        cw.SaliencyExplorer(resnet18, cat, method="gradcam", layer=layer)
    assert len(widget_instances) == views


# -- the top-5 list comes from the image the model sees, preprocessed once --------------------------------
def test_the_top5_of_a_torchvision_model_is_that_of_net_predict(resnet18):
    photo = cw.sample_image("coffee").resize((300, 200))  # not square: crop and resize both matter
    w = cw.OcclusionExplorer(resnet18, photo, start=False)
    expected = resnet18.predict(photo)
    assert [row["index"] for row in w.predictions] == [p.index for p in expected]
    np.testing.assert_allclose([row["prob"] for row in w.predictions], [p.prob for p in expected], rtol=1e-6)
    w.close()


# -- float64 models -----------------------------------------------------------------------------------------
def test_float64_models_work_in_every_view(cat):
    net = small_net(small_cnn().double().eval())
    s = cw.SaliencyExplorer(net, cat, method="gradient")
    s.wait()
    o = cw.OcclusionExplorer(net, cat, window=8, stride=8)
    o.wait()
    f = cw.FeatureVisualizer(net, "conv2:1", steps=2, size=32)
    f.wait()
    for w in (s, o, f):
        assert w.error == "", w.error
    x = net.tensor(cat)
    assert x.dtype == torch.float64
    ref = engine.saliency(net.model, x, s.target, "gradient")[0]
    np.testing.assert_allclose(s.heatmap.values, ref.numpy(), rtol=1e-5)
    assert o.done == o.total > 0 and f.step == 2
    for w in (s, o, f):
        w.close()


# -- models that return tuples or dicts ---------------------------------------------------------------------
class Detector(nn.Module):
    """Returns a dict (Hugging Face style) or a tuple (detection style) around the logits."""

    def __init__(self, kind: str):
        super().__init__()
        self.body, self.kind = small_cnn(), kind

    def forward(self, x):
        logits = self.body(x)
        return {"logits": logits, "boxes": x.mean()} if self.kind == "dict" else (logits, x.mean())


@pytest.mark.parametrize("kind,select", [("dict", lambda out: out["logits"]), ("tuple", lambda out: out[0])])
def test_tuple_and_dict_outputs_work_with_a_selector_and_say_so_without(kind, select, cat):
    model = Detector(kind).eval()
    with pytest.raises(
        CnnvizError, match=rf"got a {kind}; say which part holds the logits with cw.Net\(model, output="
    ):
        cw.SaliencyExplorer(cw.Net(model, SMALL), cat)
    with pytest.raises(AttributionError, match=rf"got (a )?{kind}"):
        engine.gradient(model, torch.rand(1, 3, 32, 32), 1)
    net = cw.Net(model, SMALL, output=select)
    x = net.tensor(cat)
    ref = engine.gradient(model.body, x, 2)
    torch.testing.assert_close(engine.gradient(net, x, 2), ref)
    assert net.predict(cat)[0].index == cw.Net(model.body, SMALL).predict(cat)[0].index
    s = cw.SaliencyExplorer(net, cat, method="gradient")
    o = cw.OcclusionExplorer(net, cat, window=16, stride=16)
    f = cw.FeatureVisualizer(net, class_logit(2), steps=2, size=32)
    for w in (s, o, f):
        w.wait()
        assert w.error == "", w.error
        w.close()
    with pytest.raises(TypeError, match="output must be a function"):
        cw.Net(model, output="logits")


# -- deletion / insertion targets ---------------------------------------------------------------------------
@pytest.mark.parametrize("target", [-1, 10])
def test_deletion_insertion_refuses_a_class_out_of_range(target):
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(
        AttributionError, match=rf"class {target} is out of range; this model has 10 classes \(0\.\.9\)"
    ):
        engine.deletion_insertion(small_cnn(), x, torch.rand(32, 32), target, steps=4)


# -- arguments given in Python raise in Python ----------------------------------------------------------------
@pytest.mark.parametrize("view", ["saliency", "occlusion", "featurevis"])
def test_bad_constructor_arguments_raise_and_leave_no_view_behind(view, cat):
    net = small_net()
    make = {
        "saliency": lambda **kw: cw.SaliencyExplorer(net, kw.pop("image", cat), **kw),
        "occlusion": lambda **kw: cw.OcclusionExplorer(net, kw.pop("image", cat), **kw),
        "featurevis": lambda **kw: cw.FeatureVisualizer(net, image=kw.pop("image", cat), **kw),
    }[view]
    views = len(widget_instances)
    with pytest.raises(ImageError, match="no image file at 'does_not_exist.jpg'"):
        make(image="does_not_exist.jpg")
    with pytest.raises(CnnvizError, match=r"target must be a class index in 0\.\.9, got 12"):
        make(target=12)
    with pytest.raises(CnnvizError, match="unknown colormap 'rainbow'; choose one of: inferno, viridis, jet, gray"):
        make(colormap="rainbow")
    assert len(widget_instances) == views, "a half-made view (an open comm) was left behind"


def test_a_script_that_exits_while_a_job_runs_exits_cleanly():
    script = textwrap.dedent(
        """
        import cnnviz_widgets as cw
        from cnnviz_widgets.engine import Preprocess
        import torchvision
        net = cw.Net(torchvision.models.resnet18(), Preprocess(size=160))
        w = cw.OcclusionExplorer(net, cw.sample_image("cat"), window=8, stride=2)  # thousands of windows
        assert w.busy
        print("exiting while the job runs", flush=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "exiting while the job runs" in done.stdout, done.stderr[-2000:]
    assert done.returncode == 0 and "terminate called" not in done.stderr, (done.returncode, done.stderr[-2000:])


# -- guided backprop and deconvnet without rectifiers ---------------------------------------------------------
class Smooth(nn.Module):
    """A CNN with GELU and SiLU only: no rectifier for the guided rule to act on."""

    def __init__(self):
        super().__init__()
        self.conv, self.conv2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 8, 3, padding=1)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(nn.functional.silu(self.conv2(nn.functional.gelu(self.conv(x)))).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet"])
def test_guided_methods_say_when_there_is_no_rectifier(method, cat):
    model = Smooth().eval()
    x = torch.rand(1, 3, 32, 32)
    with pytest.warns(CnnvizWarning, match=r"found no rectifier .* so its map is the plain gradient"):
        result = engine.explain(model, x, 1, method)
    assert len(result.notes) == 1 and "no rectifier" in result.notes[0]
    torch.testing.assert_close(result.attribution, engine.gradient(model, x, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a model with rectifiers: no note
        assert engine.explain(small_cnn(), x, 1, method).notes == ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CnnvizWarning)
        w = cw.SaliencyExplorer(small_net(model), cat, method=method)
        w.wait()
    assert "found no rectifier" in w.status and w.error == ""
    w.close()


# -- one error base; foreign errors are shown with their type -------------------------------------------------
def test_every_error_of_ours_has_one_base_and_stays_a_value_error():
    for error in (AttributionError, FeatureVisError, ImageError, LayerError, ModelError, OcclusionError):
        assert issubclass(error, CnnvizError) and issubclass(error, ValueError), error


class Fussy(nn.Module):
    """Fails only in a gradient pass, with a ValueError of its own (not one of ours)."""

    def __init__(self):
        super().__init__()
        self.inner = small_cnn()

    def forward(self, x):
        if torch.is_grad_enabled():
            raise ValueError("shapes do not match deep inside the user's model")
        return self.inner(x)


def test_a_foreign_value_error_is_shown_with_its_type_and_ours_without(cat):
    w = cw.SaliencyExplorer(small_net(Fussy().eval()), cat, method="gradient")
    w.wait()
    assert w.error == "ValueError: shapes do not match deep inside the user's model"
    w.options = {"smoothgrad": {"samples": 0}}  # ours: the message as it is
    assert "samples must be a number in 1..500, got 0" in w.error and "Error" not in w.error
    w.close()


# -- devices and predictions as a user reads them --------------------------------------------------------------
def test_an_unreachable_device_names_the_ones_there_are():
    missing = f"cuda:{torch.cuda.device_count() + 3}"
    with pytest.raises(ModelError, match=rf"device '{missing}' is not available on this machine; available here: cpu"):
        cw.load_model(small_cnn(), device=missing)
    with pytest.raises(ModelError, match=r"unknown device 'tpu'; available here: cpu"):
        cw.load_model(small_cnn(), device="tpu")


def test_predictions_print_rounded():
    row = engine.Prediction(285, "Egyptian cat", 0.770912)
    assert repr(row) == "Prediction(index=285, label='Egyptian cat', prob=0.771)" and row.prob == 0.770912
