"""Gradient saliency and Grad-CAM equal captum's Saliency and LayerGradCam (upsampled) to < 1e-5."""
from __future__ import annotations

import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam, Saliency

from cnnviz_widgets import engine
from cnnviz_widgets.engine import resolve_layer

from .conftest import rel_err

MODELS = ["efficientnet_lite0", "resnet18", "squeezenet1_1"]
# An inner layer per model besides the default "last conv block" (resnet's layer2.0.bn2 is followed by an
# in-place residual add, which must not corrupt the captured activation).
INNER = {"efficientnet_lite0": "_blocks.10", "resnet18": "layer2.0.bn2", "squeezenet1_1": "features.7"}
TOL = 1e-5


@pytest.fixture(scope="module")
def inputs(nets):
    return {name: net.tensor(engine.sample_image("cat")) for name, net in nets.items()}


@pytest.mark.parametrize("name", MODELS)
def test_gradient_equals_captum_saliency(nets, inputs, name):
    net, x = nets[name], inputs[name]
    target = net.predict(engine.sample_image("cat"))[0].index
    ref = Saliency(net.model).attribute(x.clone(), target=target, abs=False)
    ours = engine.gradient(net.model, x, target)
    assert rel_err(ours, ref) < TOL
    # The display map is max |grad| over colour channels: captum's abs=True reduced the same way.
    ref_map = Saliency(net.model).attribute(x.clone(), target=target, abs=True).amax(dim=1)
    assert rel_err(engine.saliency(net.model, x, target, method="gradient"), ref_map) < TOL


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("where", ["default", "inner"])
def test_gradcam_equals_captum_layer_gradcam(nets, inputs, name, where):
    net, x = nets[name], inputs[name]
    layer = engine.default_cam_layer(net.model, net.layers()) if where == "default" else INNER[name]
    target = net.predict(engine.sample_image("cat"))[1].index  # not the top class, for variety
    cam = LayerGradCam(net.model, resolve_layer(net.model, layer)).attribute(x.clone(), target=target, relu_attributions=True)
    ref = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0]
    assert ref.abs().max() > 0, "degenerate reference map"
    assert rel_err(engine.grad_cam(net.model, x, target, layer), cam) < TOL
    assert rel_err(engine.saliency(net.model, x, target, method="gradcam", layer=layer), ref) < TOL


def test_default_cam_layers_are_the_last_conv_blocks(nets):
    picked = {name: engine.default_cam_layer(net.model, net.layers()) for name, net in nets.items()}
    assert picked == {"efficientnet_lite0": "_blocks.15", "resnet18": "layer4", "squeezenet1_1": "features"}


def test_batch_with_one_target_per_image_equals_single_calls(resnet18):
    x = torch.cat([resnet18.tensor(engine.sample_image("cat")), resnet18.tensor(engine.sample_image("coffee"))])
    both = engine.saliency(resnet18.model, x, [3, 7], method="gradcam", layer="layer3")
    for i, t in enumerate([3, 7]):
        single = engine.saliency(resnet18.model, x[i : i + 1], t, method="gradcam", layer="layer3")
        assert rel_err(both[i : i + 1], single) < TOL
