"""Every attribution method equals its captum 0.9 counterpart to < 1e-5 (max relative error) on the trained
default EfficientNet-Lite0 and on torchvision's resnet18 and squeezenet1_1 (seeded random weights).

Both sides run in the same memory layout. The two layouts run different conv kernels, and Lite0's float32
gradient jumps at ReLU6 kinks, so with different layouts a handful of IG path points differ by ~1% and IG by
~1e-4..1e-3. Inputs are NCHW-contiguous; our batched methods run their chunks channels-last on the CPU (the
faster kernels there), so captum's IntegratedGradients and NoiseTunnel are given the model behind a wrapper
that lays its input out channels-last too.

Where captum is wrong, the tests below document it (``test_peer_*``) instead of matching it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Saliency,
)
from torch import nn

from cnnviz_widgets import engine
from cnnviz_widgets.engine import resolve_layer

from .conftest import HookableReLU6, eval_mode, rel_err, relu6_as_relu

MODELS = ["efficientnet_lite0", "resnet18", "squeezenet1_1"]
# An inner layer per model besides the default "last conv block" (resnet's layer2.0.bn2 is followed by an
# in-place residual add, which must not corrupt the captured activation).
INNER = {"efficientnet_lite0": "_blocks.10", "resnet18": "layer2.0.bn2", "squeezenet1_1": "features.7"}
TOL = 1e-5


@pytest.fixture(scope="module")
def inputs(nets, cat):
    """One image per model: the cat at 224 px for the trained default; the cat at 112 px for the random-weight
    models (their maps mean nothing anyway, and IG's many passes cost a quarter)."""
    out = {}
    for name, net in nets.items():
        x = net.tensor(cat)
        if name != "efficientnet_lite0":
            x = F.interpolate(x, size=(112, 112), mode="bilinear", antialias=True, align_corners=False)
        out[name] = x.contiguous()
    return out


@pytest.fixture(scope="module")
def top_class(nets, inputs):
    """Each model's predicted class for its input (the class a user would explain first)."""
    out = {}
    for name, net in nets.items():
        with eval_mode(net.model), torch.no_grad():
            out[name] = int(net.model(inputs[name]).argmax())
    return out


@pytest.fixture(scope="module")
def cam_layer(nets):
    return {name: engine.default_cam_layer(net.model, net.layers()) for name, net in nets.items()}


@pytest.fixture(scope="module")
def plain(nets, inputs, top_class):
    """captum's plain gradient of each model's top class: what the rectifier rules must change."""
    return {
        name: Saliency(net.model).attribute(inputs[name].clone(), target=top_class[name], abs=False)
        for name, net in nets.items()
    }


@pytest.fixture(scope="module")
def hookable(nets):
    """The models as captum's GuidedBackprop/Deconvolution must see them: nn.ReLU6 swapped for an nn.ReLU subclass."""
    out = {name: relu6_as_relu(net.model) for name, net in nets.items()}
    assert any(isinstance(m, HookableReLU6) for m in out["efficientnet_lite0"].modules()), "Lite0 has no ReLU6 to swap"
    return out


class ChannelsLast(nn.Module):
    """``model`` on a channels-last copy of its input: captum's batches in the layout of our chunks."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last))


def captum_stdev(x: torch.Tensor, noise: float) -> float:
    """Our SmoothGrad sigma, noise * (max - min), taken in float64 and rounded to float32 (what captum is given)."""
    return float(torch.tensor(noise * float(x.max() - x.min()), dtype=torch.float32))


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
def test_input_x_gradient_equals_captum(nets, inputs, top_class, name):
    model, x, t = nets[name].model, inputs[name], top_class[name]
    ref = InputXGradient(model).attribute(x.clone(), target=t)
    assert rel_err(engine.input_x_gradient(model, x, t), ref) < TOL
    assert rel_err(engine.explain(model, x, t, "input_x_gradient").attribution, ref) < TOL


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("where", ["default", "inner"])
def test_gradcam_equals_captum_layer_gradcam(nets, inputs, cam_layer, name, where):
    net, x = nets[name], inputs[name]
    layer = cam_layer[name] if where == "default" else INNER[name]
    target = net.predict(engine.sample_image("cat"))[1].index  # not the top class, for variety
    cam = LayerGradCam(net.model, resolve_layer(net.model, layer)).attribute(
        x.clone(), target=target, relu_attributions=True
    )
    ref = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")[:, 0]
    assert ref.abs().max() > 0, "degenerate reference map"
    assert rel_err(engine.grad_cam(net.model, x, target, layer), cam) < TOL
    assert rel_err(engine.saliency(net.model, x, target, method="gradcam", layer=layer), ref) < TOL


def _captum_rectified(method: str, model: nn.Module, x: torch.Tensor, target: int, layer: str) -> torch.Tensor:
    if method == "guided_backprop":
        return GuidedBackprop(model).attribute(x.clone(), target=target)
    if method == "deconvnet":
        return Deconvolution(model).attribute(x.clone(), target=target)
    # captum's default interpolation is nearest; ours upsamples bilinearly (align_corners=False)
    return GuidedGradCam(model, resolve_layer(model, layer)).attribute(
        x.clone(), target=target, interpolate_mode="bilinear"
    )


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "guided_gradcam"])
def test_rectified_methods_equal_captum(nets, inputs, top_class, cam_layer, hookable, plain, name, method):
    net, x, t = nets[name], inputs[name], top_class[name]
    layer = cam_layer[name]
    ref = _captum_rectified(method, hookable[name], x, t, layer)
    ours = engine.explain(net.model, x, t, method, layer if method == "guided_gradcam" else None).attribution
    assert rel_err(ours, ref) < TOL
    if method != "guided_gradcam":  # the rule changed something: the reference is not just the plain gradient
        assert rel_err(ref, plain[name]) > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize(
    "rule,steps",
    # Riemann points with 8 steps are dyadic fractions, exact in float32 both in captum's torch.linspace and in
    # ours, so both evaluate the model at bit-identical points (Gauss-Legendre: both use numpy's leggauss).
    [("gausslegendre", 24), ("riemann_middle", 8)],
)
def test_integrated_gradients_equals_captum(nets, inputs, top_class, name, rule, steps):
    model, x, t = nets[name].model, inputs[name], top_class[name]
    ref, delta = IntegratedGradients(ChannelsLast(model)).attribute(
        x.clone(), target=t, n_steps=steps, method=rule, return_convergence_delta=True
    )
    ours = engine.explain(model, x, t, "integrated_gradients", steps=steps, rule=rule)
    assert rel_err(ours.attribution, ref) < TOL
    # the completeness error is captum's convergence delta (both: sum(attr) - (f(x) - f(baseline)))
    assert ours.error.shape == delta.shape == (1,)
    assert abs(float(ours.error[0]) - float(delta[0])) <= TOL * float(ref.abs().sum())


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_smoothgrad_equals_captum_noise_tunnel(nets, inputs, top_class, plain, name):
    model, x, t = nets[name].model, inputs[name], top_class[name]
    samples, noise = 8, 0.15
    torch.manual_seed(123)  # captum draws from the global generator; ours from a fresh one with the same seed
    ref = NoiseTunnel(Saliency(ChannelsLast(model))).attribute(
        x.clone(), nt_type="smoothgrad", nt_samples=samples, stdevs=captum_stdev(x, noise), target=t, abs=False
    )
    ours = engine.explain(model, x, t, "smoothgrad", samples=samples, noise=noise, seed=123).attribution
    assert rel_err(ours, ref) < TOL
    # the noise mattered: SmoothGrad is not the plain gradient here
    assert rel_err(ref, plain[name]) > 0.05


def test_default_cam_layers_are_the_last_conv_blocks(nets):
    picked = {name: engine.default_cam_layer(net.model, net.layers()) for name, net in nets.items()}
    assert picked == {"efficientnet_lite0": "_blocks.15", "resnet18": "layer4", "squeezenet1_1": "features"}


def test_batch_with_one_target_per_image_equals_single_calls(resnet18):
    x = torch.cat([resnet18.tensor(engine.sample_image("cat")), resnet18.tensor(engine.sample_image("coffee"))])
    both = engine.saliency(resnet18.model, x, [3, 7], method="gradcam", layer="layer3")
    for i, t in enumerate([3, 7]):
        single = engine.saliency(resnet18.model, x[i : i + 1], t, method="gradcam", layer="layer3")
        assert rel_err(both[i : i + 1], single) < TOL


# --- where the peer is wrong ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet"])
def test_peer_captum_ignores_relu6_modules_but_we_do_not(nets, inputs, top_class, plain, method):
    """captum 0.9 hooks only nn.ReLU modules: on Lite0 (nn.ReLU6 throughout) its GuidedBackprop and
    Deconvolution silently return the plain gradient. Ours apply the rule at every ReLU6 (and equal captum
    on the ReLU6-as-nn.ReLU twin: test_rectified_methods_equal_captum)."""
    name = "efficientnet_lite0"
    model, x, t = nets[name].model, inputs[name], top_class[name]
    peer = (GuidedBackprop if method == "guided_backprop" else Deconvolution)(model).attribute(x.clone(), target=t)
    assert torch.equal(peer, plain[name])
    ours = engine.explain(model, x, t, method).attribution
    assert rel_err(ours, plain[name]) > 0.5


class Linear2(nn.Module):
    """f(x) = w . x: integrated gradients are exact with any rule whose weights sum to 1."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.mark.parametrize("steps", [5, 9])
def test_peer_captum_trapezoid_weights_sum_to_1_minus_1_over_n(squeezenet, inputs, steps):
    """captum's riemann_trapezoid uses step 1/n on n points (weights sum to (n-1)/n, a biased integral);
    ours use 1/(n-1), so ours = captum's * n/(n-1), and on a linear model ours are exact while captum's
    leave 1/n of f(x) - f(0) unexplained."""
    model, x = squeezenet.model, inputs["squeezenet1_1"]
    ref = IntegratedGradients(model).attribute(x.clone(), target=4, n_steps=steps, method="riemann_trapezoid")
    ours = engine.integrated_gradients(model, x, 4, steps=steps, rule="riemann_trapezoid")
    assert rel_err(ours, ref * steps / (steps - 1)) < TOL

    torch.manual_seed(0)
    linear, z = Linear2(), torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        gap = float(linear(z)[0, 1] - linear(torch.zeros_like(z))[0, 1])
    attr, err = engine.integrated_gradients(linear, z, 1, steps=steps, rule="riemann_trapezoid", return_error=True)
    assert abs(float(err[0])) < 1e-5 * abs(gap)
    _, peer_delta = IntegratedGradients(linear).attribute(
        z, target=1, n_steps=steps, method="riemann_trapezoid", return_convergence_delta=True
    )
    assert float(peer_delta[0]) == pytest.approx(-gap / steps, rel=1e-4)
