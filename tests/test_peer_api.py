"""captum's API where ours could not express it before: noise tunnels other than SmoothGrad over the gradient,
Grad-CAM without its final ReLU, and extra forward arguments for the model (``additional_forward_args``).

Every result is compared with captum 0.9 as an independent reference, in float64 on small models so the
tolerances can be tight. Noise tunnels are checked two ways: by brute force (the noisy copies built from the
same seed the engine uses, captum's base method run on each, aggregated by hand) and against captum's own
``NoiseTunnel``, whose global-generator draws equal ours for one float32 image.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Saliency,
)
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine import AttributionError
from cnnviz_widgets.engine.attribution import METHODS
from cnnviz_widgets.engine.errors import CnnvizWarning

from .conftest import drain, rel_err, seeded_image

TOL = 1e-10  # float64
TOL_IG = 1e-7  # float64 against captum's integrated gradients, whose quadrature weights are rounded to float32
TOL32 = 1e-5  # float32, captum's NoiseTunnel
BASES = ["gradient", "input_x_gradient", "integrated_gradients", "guided_backprop", "deconvnet"]
KINDS = ["smoothgrad", "smoothgrad_sq", "vargrad"]
IG_STEPS = 6


def captum_method(over: str, model: nn.Module):
    """captum's counterpart of the engine's pixel method ``over`` (Saliency without abs: the signed gradient)."""
    return {
        "gradient": Saliency,
        "input_x_gradient": InputXGradient,
        "integrated_gradients": IntegratedGradients,
        "guided_backprop": GuidedBackprop,
        "deconvnet": Deconvolution,
    }[over](model)


def captum_attribute(over: str, model: nn.Module, x: torch.Tensor, target, **kwargs) -> torch.Tensor:
    extra = {"abs": False} if over == "gradient" else {"n_steps": IG_STEPS} if over == "integrated_gradients" else {}
    return captum_method(over, model).attribute(x, target=target, **extra, **kwargs)


def noisy_copies(x: torch.Tensor, samples: int, noise: float, seed: int) -> torch.Tensor:
    """The engine's noisy copies, built independently: image-major, each image's noise sd = noise * its value
    range, drawn by one ``randn`` of a fresh generator seeded with ``seed``."""
    n = x.shape[0]
    flat = x.reshape(n, -1)
    sigma = noise * (flat.amax(dim=1) - flat.amin(dim=1))
    draws = torch.randn((n * samples, *x.shape[1:]), generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    return x.repeat_interleave(samples, dim=0) + draws * sigma.repeat_interleave(samples).view(-1, 1, 1, 1)


def aggregate(attr: torch.Tensor, kind: str) -> torch.Tensor:
    """Attributions ``(N, samples, ...)`` aggregated by hand: mean, mean of squares, population variance."""
    if kind == "smoothgrad":
        return attr.mean(dim=1)
    if kind == "smoothgrad_sq":
        return (attr * attr).mean(dim=1)
    return attr.var(dim=1, unbiased=False)


class ReLUNet(nn.Module):
    """A small CNN whose rectifiers are nn.ReLU modules (captum's guided backprop and deconvnet hook only those)."""

    def __init__(self, classes: int = 6):
        super().__init__()
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)  # its switches make deconvnet depend on the input
        self.conv2 = nn.Conv2d(5, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.head = nn.Linear(6, classes)

    def forward(self, x):
        return self.head(self.relu2(self.conv2(self.pool(self.relu(self.conv(x))))).mean(dim=(2, 3)))


class ExtraArgs(nn.Module):
    """captum's BasicModel style with additional forward arguments: a tensor with one row per image that shifts
    the first layer's channels, and an int that scales the features. ``extra`` defaults to none, so the model
    also runs on the image alone (as the explorer's predictions and layer table do)."""

    def __init__(self, classes: int = 6):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.head = nn.Linear(5, classes)

    def forward(self, x, extra=None, scale=1):
        y = self.conv(x)
        if extra is not None:
            y = y + extra[:, :, None, None]
        y = self.relu2(self.conv2(self.relu(y))) * scale
        return self.head(y.mean(dim=(2, 3)))


class Bound(nn.Module):
    """``model`` with one image's forward arguments bound: the reference for a single image."""

    def __init__(self, model: nn.Module, extra: torch.Tensor, scale: int):
        super().__init__()
        self.model, self.extra, self.scale = model, extra, scale

    def forward(self, x):
        return self.model(x, self.extra.expand(x.shape[0], -1), self.scale)


def seeded(module: nn.Module, seed: int = 0, double: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    for p in module.parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape) * 0.5)
    return (module.double() if double else module).eval()


@pytest.fixture(scope="module")
def relu_net():
    return seeded(ReLUNet())


@pytest.fixture(scope="module")
def extras_net():
    return seeded(ExtraArgs(), seed=1)


@pytest.fixture(scope="module")
def images():
    return seeded_image(2, 3, 10, 10, seed=5).double()


# --- noise tunnels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("over", BASES)
@pytest.mark.parametrize("kind", KINDS)
def test_noise_tunnel_equals_captum_base_method_on_each_noisy_copy(relu_net, images, over, kind):
    samples, noise, seed = 4, 0.2, 7
    targets = [1, 4]
    noisy = noisy_copies(images, samples, noise, seed)
    per_copy = torch.cat(
        [captum_attribute(over, relu_net, noisy[i : i + 1].clone(), targets[i // samples]) for i in range(len(noisy))]
    )
    ref = aggregate(per_copy.view(2, samples, *images.shape[1:]), kind)
    options = {"steps": IG_STEPS} if over == "integrated_gradients" else {}  # Gauss-Legendre on both sides
    result = engine.explain(
        relu_net,
        images,
        targets,
        "smoothgrad",
        samples=samples,
        noise=noise,
        seed=seed,
        over=over,
        kind=kind,
        method_options=options,
    )
    assert rel_err(result.attribution, ref) < (TOL_IG if over == "integrated_gradients" else TOL)
    # the display map reduces the way the base method's does (IG and input x gradient: |sum| over colours)
    assert torch.equal(result.map, METHODS[over].reduce(result.attribution))
    assert rel_err(ref, captum_attribute(over, relu_net, images.clone(), targets)) > 0.05, "the noise did nothing"


@pytest.mark.parametrize("over", ["gradient", "integrated_gradients", "guided_backprop", "input_x_gradient"])
@pytest.mark.parametrize("kind", KINDS)
def test_noise_tunnel_equals_captum_noise_tunnel(over, kind):
    """One float32 image: captum's NoiseTunnel draws its noise from the global generator with the same calls
    ours makes on a generator of its own, so both see the same noisy copies."""
    model = seeded(ReLUNet(), double=False)
    x = seeded_image(1, 3, 12, 12, seed=2)
    samples, noise, seed = 5, 0.15, 3
    stdev = float(torch.tensor(noise * float(x.max() - x.min()), dtype=torch.float32))
    torch.manual_seed(seed)
    extra = {"abs": False} if over == "gradient" else {"n_steps": IG_STEPS} if over == "integrated_gradients" else {}
    ref = NoiseTunnel(captum_method(over, model)).attribute(
        x.clone(), nt_type=kind, nt_samples=samples, stdevs=stdev, target=3, **extra
    )
    options = {"steps": IG_STEPS} if over == "integrated_gradients" else {}
    ours = engine.smoothgrad(
        model,
        x,
        3,
        samples,
        noise,
        over=over,
        kind=kind,
        method_options=options,
        generator=torch.Generator().manual_seed(seed),
    )
    assert rel_err(ours, ref) < TOL32


def test_default_noise_tunnel_is_smoothgrad_over_the_gradient(relu_net, images):
    plain = engine.explain(relu_net, images, [1, 4], "smoothgrad", samples=3, seed=2)
    explicit = engine.explain(
        relu_net, images, [1, 4], "smoothgrad", samples=3, seed=2, over="gradient", kind="smoothgrad", method_options={}
    )
    assert torch.equal(plain.attribution, explicit.attribution) and torch.equal(plain.map, explicit.map)
    assert METHODS["smoothgrad"].check({}) == {
        "samples": 25,
        "noise": 0.15,
        "over": "gradient",
        "kind": "smoothgrad",
        "seed": 0,
    }


@pytest.mark.parametrize("over", ["guided_backprop", "integrated_gradients"])
@pytest.mark.parametrize("kind", ["smoothgrad", "vargrad"])
def test_noise_tunnel_chunks_do_not_change_the_result_and_progress_reaches_1(relu_net, images, over, kind):
    seen = {}
    for budget in (1, 1 << 50):
        fractions = []
        seen[budget] = drain(
            engine.smoothgrad_steps(
                relu_net,
                images,
                [1, 4],
                5,
                0.2,
                over=over,
                kind=kind,
                method_options={"steps": 3} if over == "integrated_gradients" else {},
                generator=torch.Generator().manual_seed(0),
                budget=budget,
            ),
            fractions,
        )
        assert fractions[-1] == pytest.approx(1.0) and all(b > a for a, b in zip(fractions, fractions[1:]))
        if budget == 1:
            assert len(fractions) == 10 * (3 if over == "integrated_gradients" else 1), "one row per chunk"
    assert rel_err(seen[1], seen[1 << 50]) < TOL


def test_noise_tunnel_takes_its_seed_not_the_global_generator(relu_net, images):
    state = torch.get_rng_state()
    options = {"samples": 3, "seed": 5, "over": "deconvnet", "kind": "smoothgrad_sq"}
    first = engine.saliency(relu_net, images, 1, "smoothgrad", **options)
    assert torch.equal(torch.get_rng_state(), state), "the global generator was drawn from"
    torch.manual_seed(99)
    assert torch.equal(first, engine.saliency(relu_net, images, 1, "smoothgrad", **options))


def test_noise_tunnel_over_integrated_gradients_uses_the_given_ig_options(relu_net, images):
    def tunnel(**ig):
        return engine.explain(
            relu_net, images, 2, "smoothgrad", samples=2, over="integrated_gradients", method_options=ig
        )

    few, more, blur = tunnel(steps=2), tunnel(steps=9), tunnel(steps=9, baseline="blur")
    assert rel_err(few.attribution, more.attribution) > 1e-3 and rel_err(blur.attribution, more.attribution) > 1e-3
    # "blur" blurs each noisy copy: the noise tunnel explains every copy as an image of its own
    noisy = noisy_copies(images, 2, 0.15, 0)
    by_hand = engine.integrated_gradients(relu_net, noisy, 2, steps=9, baseline="blur")
    by_hand = by_hand.view(2, 2, *images.shape[1:]).mean(dim=1)
    assert rel_err(blur.attribution, by_hand) < TOL


def test_noise_tunnel_over_guided_backprop_notes_a_model_without_rectifiers(images):
    smooth = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).double()
    with pytest.warns(CnnvizWarning, match="guided backprop found no rectifier"):
        result = engine.explain(smooth, images, 0, "smoothgrad", samples=4, over="guided_backprop")
    assert len(result.notes) == 1 and "guided backprop found no rectifier" in result.notes[0]
    assert torch.equal(result.attribution, engine.explain(smooth, images, 0, "smoothgrad", samples=4).attribution)


# --- Grad-CAM without the final ReLU ----------------------------------------------------------------


@pytest.mark.parametrize("layer", ["conv", "relu2"])
def test_gradcam_without_relu_equals_captum_layer_gradcam(relu_net, images, layer):
    module = dict(relu_net.named_modules())[layer]
    ref = LayerGradCam(relu_net, module).attribute(images.clone(), target=[1, 4], relu_attributions=False)
    assert (ref < 0).any() and (ref > 0).any(), "the reference map has no negative part: the test could not fail"
    assert rel_err(engine.grad_cam(relu_net, images, [1, 4], layer, relu=False), ref) < TOL
    up = LayerAttribution.interpolate(ref, tuple(images.shape[-2:]), interpolate_mode="bilinear")[:, 0]
    assert rel_err(engine.saliency(relu_net, images, [1, 4], "gradcam", layer, relu=False), up) < TOL
    signed = engine.grad_cam(relu_net, images, [1, 4], layer, relu=False)
    assert torch.equal(engine.grad_cam(relu_net, images, [1, 4], layer), F.relu(signed))


def test_gradcam_without_relu_on_a_real_model(resnet18):
    x = seeded_image(1, 3, 64, 64, seed=9)
    ref = LayerGradCam(resnet18.model, resnet18.model.layer3).attribute(x.clone(), target=7, relu_attributions=False)
    assert (ref < 0).any()
    assert rel_err(engine.grad_cam(resnet18.model, x, 7, "layer3", relu=False), ref) < TOL32


def test_gradcam_pp_without_relu_is_the_map_before_its_relu(relu_net, images):
    signed = engine.grad_cam_pp(relu_net, images, [1, 4], "conv", relu=False)
    assert (signed < 0).any()
    assert torch.equal(engine.grad_cam_pp(relu_net, images, [1, 4], "conv"), F.relu(signed))
    shown = engine.explain(relu_net, images, [1, 4], "gradcam_pp", "conv", relu=False).map
    assert rel_err(shown, F.interpolate(signed, size=(10, 10), mode="bilinear", align_corners=False)[:, 0]) < TOL


def test_bool_option_is_described_for_front_ends_and_checked():
    relu = {
        "name": "relu",
        "label": "ReLU",
        "kind": "bool",
        "default": True,
        "choices": [],
        "group": "",
        "help": "Keep only the evidence for the class (off: also show the evidence against it)",
        "unit": "",
        "optional": False,
        "when": {},
    }
    assert METHODS["gradcam"].describe()["options"] == [relu]
    assert METHODS["gradcam_pp"].describe()["options"] == [relu]
    assert METHODS["gradcam"].check({"relu": np.bool_(False)}) == {"relu": False}
    for bad in (1, 0, "false", None):
        with pytest.raises(AttributionError, match=rf"^relu must be True or False, got {re.escape(repr(bad))}$"):
            METHODS["gradcam"].check({"relu": bad})
    options = {o["name"]: o for o in METHODS["smoothgrad"].describe()["options"]}
    assert options["over"]["choices"] == BASES and options["over"]["default"] == "gradient"
    assert options["kind"]["choices"] == KINDS and options["kind"]["default"] == "smoothgrad"
    assert all(choice in METHODS and not METHODS[choice].layer for choice in options["over"]["choices"])


# --- extra forward arguments ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extras():
    """A row per image for the model's ``extra`` argument, and an int."""
    return torch.randn(2, 4, generator=torch.Generator().manual_seed(11), dtype=torch.float64), 3


@pytest.mark.parametrize("method", ["gradient", "input_x_gradient", "guided_backprop", "deconvnet"])
def test_forward_args_equal_captum_additional_forward_args(extras_net, images, extras, method):
    ref = captum_attribute(method, extras_net, images.clone(), [1, 4], additional_forward_args=extras)
    ours = engine.explain(extras_net, images, [1, 4], method, forward_args=extras).attribution
    assert rel_err(ours, ref) < TOL
    assert rel_err(ours, engine.explain(extras_net, images, [1, 4], method).attribution) > 0.05, (
        "the arguments did nothing"
    )


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_middle"])
def test_forward_args_go_with_their_images_through_chunked_integrated_gradients(extras_net, images, extras, rule):
    ref, delta = IntegratedGradients(extras_net).attribute(
        images.clone(),
        target=[1, 4],
        additional_forward_args=extras,
        n_steps=7,
        method=rule,
        return_convergence_delta=True,
    )
    fractions = []
    ours, error = drain(
        engine.integrated_gradients_steps(
            extras_net, images, [1, 4], steps=7, rule=rule, forward_args=extras, budget=1, return_error=True
        ),
        fractions,
    )
    assert len(fractions) == 14, "one path point per chunk: chunks straddle the two images"
    assert rel_err(ours, ref) < TOL_IG
    assert torch.allclose(error, delta, atol=TOL_IG * float(ref.abs().sum()))


@pytest.mark.parametrize("samples,kind", [(1, "smoothgrad_sq"), (4, "vargrad")])  # 1: chunks of the images themselves
def test_forward_args_go_with_their_images_through_chunked_smoothgrad(extras_net, images, extras, samples, kind):
    noise, seed = 0.1, 1
    noisy = noisy_copies(images, samples, noise, seed)
    rows = (extras[0].repeat_interleave(samples, dim=0), extras[1])
    ref = (
        Saliency(extras_net)
        .attribute(noisy.clone(), target=[1] * samples + [4] * samples, abs=False, additional_forward_args=rows)
        .view(2, samples, *images.shape[1:])
    )
    for budget in (1, 1 << 50):
        ours = engine.smoothgrad(
            extras_net,
            images,
            [1, 4],
            samples,
            noise,
            kind=kind,
            forward_args=extras,
            budget=budget,
            generator=torch.Generator().manual_seed(seed),
        )
        assert rel_err(ours, aggregate(ref, kind)) < TOL


def test_forward_args_in_gradcam_equal_captum(extras_net, images, extras):
    ref = LayerGradCam(extras_net, extras_net.conv2).attribute(
        images.clone(), target=[1, 4], additional_forward_args=extras, relu_attributions=False
    )
    assert rel_err(engine.grad_cam(extras_net, images, [1, 4], "conv2", relu=False, forward_args=extras), ref) < TOL


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_with_forward_args_equals_it_on_the_model_with_them_bound(extras_net, images, extras, method):
    """One image: forward_args must reach every forward pass of every method, chunked or not."""
    x, extra = images[:1], extras[0][:1]
    layer = "conv2" if METHODS[method].layer else None
    options = {
        "smoothgrad": {"samples": 3, "over": "integrated_gradients", "method_options": {"steps": 4}},
        "integrated_gradients": {"steps": 5},
    }.get(method, {})
    ours = engine.explain(extras_net, x, 2, method, layer, forward_args=(extra, 3), **options)
    ref = engine.explain(Bound(extras_net, extra, 3), x, 2, method, layer and f"model.{layer}", **options)
    assert rel_err(ours.attribution, ref.attribution) < TOL
    if ours.error is not None:
        assert float(ours.error[0]) == pytest.approx(float(ref.error[0]), abs=1e-9)


def test_checks_take_forward_args(extras_net, images, extras):
    x, extra = images[:1], extras[0][:1]
    bound = Bound(extras_net, extra, 3)
    check = engine.sanity_check(extras_net, x, 2, "gradient", forward_args=(extra, 3), steps=3)
    assert torch.equal(check.maps, engine.sanity_check(bound, x, 2, "gradient", steps=3).maps)
    attribution = engine.saliency(extras_net, x, 2, forward_args=(extra, 3))
    curves = engine.deletion_insertion(extras_net, x, attribution, 2, 8, forward_args=(extra, 3), batch_size=5)
    ref = engine.deletion_insertion(bound, x, attribution, 2, 8, batch_size=5)
    assert torch.allclose(curves.deletion, ref.deletion, atol=1e-12)
    assert torch.allclose(curves.insertion, ref.insertion, atol=1e-12)
    unbound = engine.deletion_insertion(extras_net, x, attribution, 2, 8, batch_size=5)
    assert not torch.allclose(curves.deletion, unbound.deletion)


def test_forward_args_shared_values_are_passed_whole(images):
    seen = []

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1).double()

        def forward(self, x, weights, name):
            seen.append((x.shape[0], tuple(weights.shape), name))
            return self.conv(x).mean(dim=(2, 3)) * weights

    weights = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)  # first dimension 3, not the batch size 2
    engine.integrated_gradients(Shared(), images, 1, steps=3, forward_args=(weights, "tag"), return_error=True)
    assert {shape for _, shape, _ in seen} == {(3,)} and {name for _, _, name in seen} == {"tag"}
    assert sum(rows for rows, _, _ in seen[:-1]) == 6 and seen[-1][0] == 4  # path points, then the two ends


def test_forward_args_of_the_wrong_batch_size_get_a_clear_message(extras_net, images):
    wrong = torch.zeros(3, 4, dtype=torch.float64)
    message = (
        r"the model failed on its forward_args: forward_args\[0\] has shape \(3, 4\), "
        r"but the input's batch size is 2\. "
        r"A tensor whose first dimension is the batch size is split with the batch"
    )
    for method in ("gradient", "smoothgrad", "integrated_gradients"):
        with pytest.raises(AttributionError, match=message):
            engine.explain(extras_net, images, 1, method, forward_args=(wrong, 2))


def test_a_single_forward_arg_need_not_be_a_tuple(extras_net, images, extras):
    assert torch.equal(
        engine.gradient(extras_net, images, [1, 4], forward_args=extras[0]),
        engine.gradient(extras_net, images, [1, 4], forward_args=(extras[0],)),
    )


def test_default_layer_with_forward_args_the_model_needs(images, extras):
    class Needs(ExtraArgs):
        def forward(self, x, extra, scale):
            return super().forward(x, extra, scale)

    model = seeded(Needs())
    with pytest.raises(
        AttributionError, match=r"the default layer is found by running the model on an image alone.*name the"
    ):
        engine.explain(model, images, 1, "gradcam", forward_args=extras)
    assert engine.explain(model, images, 1, "gradcam", "conv2", forward_args=extras).map.shape == (2, 10, 10)


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options,message",
    [
        ({"over": "lime"}, rf"^over must be one of: {', '.join(BASES)}; got 'lime'$"),
        ({"kind": "var"}, r"^kind must be one of: smoothgrad, smoothgrad_sq, vargrad; got 'var'$"),
        ({"over": "gradcam"}, r"^over must be one of: gradient, input_x_gradient"),
        (
            {"over": "integrated_gradients", "method_options": {"samples": 3}},
            r"^method_options for integrated_gradients: integrated_gradients has no option 'samples'; "
            r"its options: steps, baseline, rule$",
        ),
        (
            {"over": "integrated_gradients", "method_options": {"steps": 1}},
            r"^method_options for integrated_gradients: steps must be a number in 2\.\.1000, got 1$",
        ),
        (
            {"method_options": {"steps": 4}},
            r"^method_options for gradient: gradient has no option 'steps'; its options: none$",
        ),
    ],
)
def test_bad_noise_tunnel_options_name_the_valid_ones(relu_net, images, options, message):
    with pytest.raises(AttributionError, match=message):
        engine.explain(relu_net, images, 1, "smoothgrad", samples=2, **options)


def test_bad_noise_tunnel_arguments_of_the_engine_function(relu_net, images):
    with pytest.raises(
        AttributionError, match=rf"^the noise tunnel runs over one of: {', '.join(BASES)}; got over='lime'$"
    ):
        engine.smoothgrad(relu_net, images, 1, over="lime")
    with pytest.raises(AttributionError, match=r"^kind must be one of: smoothgrad, smoothgrad_sq, vargrad; got 'var'$"):
        engine.smoothgrad(relu_net, images, 1, kind="var")
    with pytest.raises(AttributionError, match=r"^guided_backprop has no option 'steps'; its options: none$"):
        engine.smoothgrad(relu_net, images, 1, over="guided_backprop", method_options={"steps": 3})


def test_method_options_belong_to_the_noise_tunnel_only(relu_net, images):
    message = (
        r"method 'gradient' runs over no other method, so it takes no method_options "
        r"\(the noise tunnel does: smoothgrad\)"
    )
    with pytest.raises(AttributionError, match=message):
        engine.explain(relu_net, images, 1, "gradient", method_options={"steps": 3})
    assert engine.explain(relu_net, images, 1, "gradient", method_options={}).map.shape == (2, 10, 10)


# --- the explorer -----------------------------------------------------------------------------------


def test_base_options_come_from_the_settings_of_the_base_method():
    from cnnviz_widgets.engine.attribution.methods import base_options

    settings = {"smoothgrad": {"over": "integrated_gradients"}, "integrated_gradients": {"steps": 8}}
    assert base_options("smoothgrad", settings) == {"steps": 8}
    assert base_options("smoothgrad", {"integrated_gradients": {"steps": 8}}) == {}  # over defaults to the gradient
    assert base_options("integrated_gradients", settings) == {}
    assert base_options("lime", settings) == {}


def test_explorer_passes_forward_args_and_base_options_to_the_engine():
    torch.manual_seed(3)
    model = ExtraArgs(classes=10).eval()
    extra = torch.randn(1, 4)
    options = {"smoothgrad": {"samples": 2, "over": "integrated_gradients"}, "integrated_gradients": {"steps": 3}}
    w = cw.SaliencyExplorer(
        model, cw.sample_image("cat"), method="smoothgrad", options=options, forward_args=(extra, 2)
    )
    try:
        w.wait()
        assert w.error == ""
        x = w.net.tensor(cw.sample_image("cat"))

        def want(**ig):
            return (
                engine.explain(
                    model,
                    x,
                    w.target,
                    "smoothgrad",
                    samples=2,
                    over="integrated_gradients",
                    method_options={"steps": 3, **ig},
                    forward_args=(extra, 2),
                )
                .map[0]
                .numpy()
            )

        def shown():
            return w.heatmap.values

        np.testing.assert_allclose(shown(), want(), rtol=1e-5, atol=1e-7 * float(np.abs(want()).max()))
        w.options = {**w.options, "integrated_gradients": {"steps": 5}}  # the base method's options recompute it
        w.wait()
        np.testing.assert_allclose(shown(), want(steps=5), rtol=1e-5, atol=1e-7 * float(np.abs(want(steps=5)).max()))
        w.method, w.layer = "gradcam", "conv"
        w.options = {**w.options, "gradcam": {"relu": False}}
        w.wait()
        ref = engine.explain(model, x, w.target, "gradcam", w.layer, relu=False, forward_args=(extra, 2)).map[0].numpy()
        assert ref.min() < 0
        np.testing.assert_allclose(shown(), ref, rtol=1e-5, atol=1e-7 * float(np.abs(ref).max()))
    finally:
        w.close()
