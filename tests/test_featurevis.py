"""Feature visualisation engine: the optimisation works, the parameterisation matches lucent's published
recipe, transforms and objectives match hand-built references, and the model comes back untouched."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine.featurevis import (
    FeatureVisError,
    ImageParam,
    Objective,
    Robustness,
    Visualization,
    as_objective,
    channel,
    channels,
    class_logit,
    deepdream,
    direction,
    diversity,
    feature_visualization,
    neuron,
    visualize,
)
from cnnviz_widgets.engine.featurevis.param import COLOR_CORRELATION_SQRT, FFT_SCALE, frequencies
from cnnviz_widgets.engine.featurevis.regularizers import PixelRegularizers, gaussian_blur, total_variation
from cnnviz_widgets.engine.featurevis.transforms import upsampled
from cnnviz_widgets.engine.hooks import capture
from cnnviz_widgets.engine.progress import last

from .conftest import Untouched, eval_mode, hook_count, mixed_state, shown_frames, small_cnn
from .test_occlusion_replay import Untraceable

LAYER = "_blocks.9"  # a mid-level block of the default model (80 channels at 14x14)


def plain_score(net, layer: str, unit: int, images: torch.Tensor) -> torch.Tensor:
    """Per-image mean activation of ``layer:unit``, seen plainly (upsampled, normalised) by the model's forward."""
    mean = torch.tensor(net.preprocess.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(net.preprocess.std).reshape(1, 3, 1, 1)
    x = (upsampled(images.float(), net.preprocess.size) - mean) / std
    with eval_mode(net.model), torch.no_grad(), capture(net.model, [layer]) as record:
        net.model(x)
    return record[layer][:, unit].flatten(1).mean(1)


# -- the optimisation ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lite_run(default_net):
    vis = Visualization(default_net, channel(LAYER, 7), 128, seed=1)
    frames = shown_frames(vis, 96, 8)
    return vis, frames


def test_the_objective_rises_on_average_over_a_run(lite_run):
    vis, frames = lite_run
    curve = np.array(vis.curve)
    assert len(curve) == 96 and vis.step == 96
    quarters = [q.mean() for q in np.array_split(curve, 4)]
    assert all(a < b for a, b in zip(quarters, quarters[1:])), quarters
    assert [f.step for f in frames] == list(range(8, 97, 8))
    assert [f.value for f in frames] == [vis.curve[f.step - 1] for f in frames]


def test_the_image_excites_its_channel_far_more_than_noise_and_photos(default_net, lite_run):
    vis, _ = lite_run
    image = vis.image()
    assert image.shape == (1, 3, 128, 128) and image.min() >= 0 and image.max() <= 1
    ours = float(plain_score(default_net, LAYER, 7, image)[0])
    noise = plain_score(default_net, LAYER, 7, torch.rand(8, 3, 128, 128, generator=torch.Generator().manual_seed(0)))
    photos = [default_net.preprocess.normalise(default_net.view(cw.sample_image(n))) for n in ("cat", "coffee")]
    with eval_mode(default_net.model), torch.no_grad(), capture(default_net.model, [LAYER]) as record:
        default_net.model(torch.cat(photos))
    natural = record[LAYER][:, 7].flatten(1).mean(1)
    others = max(float(noise.max()), float(natural.max()))
    assert ours > 3 * others and ours > others + 1, (ours, noise.tolist(), natural.tolist())


def test_a_resumed_run_equals_one_long_run(resnet18):
    one = Visualization(resnet18, "layer2:3", 64, seed=5)
    last(one.steps(6, every=3))
    two = Visualization(resnet18, "layer2:3", 64, seed=5)
    last(two.steps(2))
    frames = shown_frames(two, 4, 3)
    assert [f.step for f in frames] == [3, 6]
    assert torch.equal(one.image(), two.image()) and one.curve == two.curve


def test_stopping_the_iteration_stops_between_steps_and_a_later_call_goes_on(resnet18):
    vis = Visualization(resnet18, "layer2:3", 64)
    updates = vis.steps(50, every=2)
    seen = [next(updates) for _ in range(3)]
    updates.close()
    assert vis.step == 3 and [u.fraction for u in seen] == [1 / 50, 2 / 50, 3 / 50]
    assert [u.result.step if u.result else None for u in seen] == [None, 2, None]
    rest = list(vis.steps(2))
    assert vis.step == 5 and rest[-1].fraction == 1.0 and rest[-1].result.step == 5
    assert torch.equal(rest[-1].result.image, vis.image())
    with pytest.raises(FeatureVisError, match=r"^every must be a number in 0\.\.1000000, got -1$"):
        vis.steps(3, every=-1)  # checked at the call, before any step


def test_every_zero_carries_a_frame_only_at_the_end(resnet18):
    vis = Visualization(resnet18, "layer2:3", 48)
    updates = list(vis.steps(4, every=0))  # a caller that paces its own frames renders them with image()
    assert [u.result is None for u in updates] == [True, True, True, False]
    assert updates[-1].result.step == 4 and torch.equal(updates[-1].result.image, vis.image())


def test_convenience_functions(resnet18):
    frames = list(feature_visualization(resnet18, "layer2:3", 48, steps=4, every=2))
    assert [f.step for f in frames] == [2, 4]
    images = visualize(resnet18, channels("layer2", [1, 2, 3]), 48, steps=2, batch=3)
    assert images.shape == (3, 3, 48, 48)
    with pytest.raises(FeatureVisError, match="unit 999"):
        feature_visualization(resnet18, "layer2:999", 48)  # checked before the first frame is asked for


# -- the fast copy and the model's state ---------------------------------------------------------------
CASES = [
    ("resnet18", "layer3:5"),
    ("resnet18", "layer2.1:7:3:4"),
    ("resnet18", "layer1"),
    ("resnet18", class_logit(3)),
    ("squeezenet1_1", "features.9:320"),  # a Fire module: the channel lies in one branch of a concatenation
    ("efficientnet_lite0", channels("_blocks.9", [3, 96]) + 0.1 * deepdream("_blocks.5")),  # functional convolutions
]


@pytest.mark.parametrize("name,objective", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_the_fast_copy_gives_the_models_own_values_and_gradients(nets, name, objective):
    net = nets[name]
    batch = 2 if "channels" in str(objective) or "+" in repr(objective) else 1
    fast = Visualization(net, objective, 96, seed=2, batch=batch)
    assert fast.fast is not None and fast.fast.folded > 0
    plain = Visualization(net, objective, 96, seed=2, batch=batch)
    plain.fast = None  # the hooked forward of the model itself
    # A random picture: the start image is flat grey, whose max-pool ties any layout may break its own way.
    x = fast._input(torch.rand(batch, 3, 96, 96, generator=torch.Generator().manual_seed(0))).requires_grad_()
    grads, values = [], []
    for vis in (fast, plain):
        with eval_mode(net.model, requires_grad=False):
            acts = vis.fast(x) if vis.fast is not None else vis._hooked(net.model, x)
            value = vis.objective(acts)
            grads.append(torch.autograd.grad(value, x)[0])
        values.append(float(value.detach()))
    assert math.isclose(values[0], values[1], rel_tol=1e-4, abs_tol=1e-5)
    assert float((grads[0] - grads[1]).abs().max()) <= 1e-3 * float(grads[1].abs().max())


@pytest.mark.parametrize(
    "name,layer,unit,narrowed",
    [
        ("resnet18", "layer3", 5, ["layer3.1.conv2", "layer3.0.conv2", "layer3.0.downsample.0"]),
        ("squeezenet1_1", "features.9", 320, ["features.9.expand3x3"]),
    ],
)
def test_a_channel_objective_computes_only_its_channel(nets, name, layer, unit, narrowed):
    vis = Visualization(nets[name], channel(layer, unit), 96)
    gm = vis.fast.gm
    convs = [gm.get_submodule(n.target) for n in gm.graph.nodes if n.op == "call_module"]
    convs = [m for m in convs if isinstance(m, nn.Conv2d)]
    single = [m for m in convs if m.out_channels == 1]
    assert len(single) == len(narrowed), [m.out_channels for m in convs]
    originals = dict(nets[name].model.named_modules())
    for name_ in narrowed:
        w = originals[name_].weight
        assert any(m.in_channels == w.shape[1] and m.kernel_size == tuple(w.shape[2:]) for m in single), name_
    if name == "squeezenet1_1":  # the other branch of the concatenation is not computed at all
        other = originals["features.9.expand1x1"]
        assert not [
            m
            for m in convs
            if (m.in_channels, m.out_channels, m.kernel_size) == (other.in_channels, other.out_channels, (1, 1))
        ]


def test_the_fast_copy_folds_the_default_models_batch_norms_and_paddings(default_net):
    vis = Visualization(default_net, channel(LAYER, 3), 128)
    assert vis.fast is not None
    gm = vis.fast.gm
    called = [gm.get_submodule(n.target) for n in gm.graph.nodes if n.op == "call_module"]
    assert not [m for m in called if isinstance(m, nn.BatchNorm2d)]
    pads = [tuple(m.padding) for m in called if isinstance(m, nn.ZeroPad2d)]
    assert all(p[0] != p[1] for p in pads), pads  # only TF-"SAME" paddings no convolution can do stay
    batch_norms = [
        n
        for n, m in default_net.model.named_modules()
        if isinstance(m, nn.BatchNorm2d) and (n == "_bn0" or n.startswith("_blocks.") and int(n.split(".")[1]) <= 9)
    ]
    assert vis.fast.folded > len(batch_norms), (vis.fast.folded, len(batch_norms))  # and the symmetric paddings
    assert "Linear" not in {type(m).__name__ for m in gm.modules()}  # nothing after the layer is kept


def test_a_run_leaves_the_model_exactly_as_it_was():
    model = mixed_state(small_cnn())
    with Untouched(model):
        vis = Visualization(model, "conv2:3", 32)
        frames = shown_frames(vis, 5, 5)
    assert frames[-1].step == 5


@pytest.mark.parametrize("kind", ["fast", "hooked"])
def test_an_exception_mid_run_leaves_the_model_untouched(kind):
    model = mixed_state(small_cnn()) if kind == "fast" else Untraceable()

    class Explodes(Objective):
        layers = frozenset(["conv2" if kind == "fast" else "conv"])

        def __init__(self):
            self.calls = 0

        def __call__(self, acts):
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("boom")
            return next(iter(acts.values())).mean()

    with Untouched(model):
        vis = Visualization(model, Explodes(), 32)
        assert (vis.fast is not None) == (kind == "fast")
        with pytest.raises(RuntimeError, match="boom"):
            last(vis.steps(5))
    assert vis.step == 2


def test_weights_get_no_gradients_and_the_forward_stops_at_the_layer():
    model = Untraceable()  # the hooked path: the model's own modules run
    called = []
    model.head.register_forward_pre_hook(lambda *_: called.append("head"))
    vis = Visualization(model, "conv:2", 32)
    assert vis.fast is None
    called.clear()
    last(vis.steps(3))
    assert called == [] and all(p.grad is None for p in model.parameters())
    assert hook_count(model) == 1  # only the test's own hook


def test_changed_weights_rebuild_the_fast_copy():
    model = small_cnn()
    vis = Visualization(model, "conv2:3", 32)
    old = vis.fast
    with torch.no_grad():
        model.conv2.weight.mul_(2)
    assert not old.fresh
    last(vis.steps(1))
    assert vis.fast is not old and vis.fast.fresh
    plain = Visualization(model, "conv2:3", 32)
    plain.fast = None
    x = vis._input(vis.image_param().detach())
    with eval_mode(model), torch.no_grad():
        assert torch.allclose(vis.fast(x)["conv2"][:, 3], plain._hooked(model, x)["conv2"][:, 3], rtol=1e-4, atol=1e-5)


def test_hooked_models_use_their_own_forward(resnet18):
    handle = resnet18.model.layer1.register_forward_hook(lambda _m, _i, out: out * 2)
    try:
        vis = Visualization(resnet18, "layer2:1", 48)
        assert vis.fast is None
    finally:
        handle.remove()


def test_twenty_runs_leave_no_hooks_and_register_the_same_number_each_time(monkeypatch):
    model = Untraceable()
    registered = []
    real = nn.Module.register_forward_hook

    def counting(self, *args, **kwargs):
        registered.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "register_forward_hook", counting)
    per_run = []
    for seed in range(20):
        registered.clear()
        vis = Visualization(model, "conv:1", 24, seed=seed)
        last(vis.steps(3))
        per_run.append(len(registered))
        assert hook_count(model) == 0
    assert len(set(per_run)) == 1, per_run


# -- parameterisation ---------------------------------------------------------------------------------------
def test_the_fourier_parameterisation_is_lucents():
    from lucent.optvis.param.color import to_valid_rgb
    from lucent.optvis.param.spatial import fft_image

    torch.manual_seed(3)
    (spectrum,), image_f = fft_image((2, 3, 40, 36), sd=0.5)
    ours = ImageParam((2, 3, 40, 36), "fft", decorrelate=True)
    with torch.no_grad():
        ours.tensor.copy_(spectrum)
        assert torch.allclose(ours.raw(), image_f(), atol=1e-6)
        assert torch.allclose(ours(), to_valid_rgb(image_f, decorrelate=True)(), atol=1e-6)


def test_the_spectrum_is_an_inverse_fft_with_1_over_f_scaling():
    ours = ImageParam((1, 3, 9, 12), "fft", decorrelate=False, sd=1.0, generator=torch.Generator().manual_seed(0))
    spectrum = torch.view_as_complex(ours.tensor.detach()).numpy()
    fy, fx = np.fft.fftfreq(9)[:, None], np.fft.rfftfreq(12)[None, :]
    scale = 1 / np.maximum(np.sqrt(fx**2 + fy**2), 1 / 12)
    expected = np.fft.irfft2(spectrum * scale, s=(9, 12), norm="ortho") / FFT_SCALE
    assert np.allclose(ours.raw().detach().numpy(), expected, atol=1e-6)
    assert frequencies(9, 12).shape == (9, 7)


@pytest.mark.parametrize(
    "param,decorrelate,squash",
    [("fft", True, "sigmoid"), ("fft", False, "clamp"), ("pixel", True, "clamp"), ("pixel", False, "sigmoid")],
)
@pytest.mark.parametrize("size", [32, 33])
def test_set_image_round_trips(param, decorrelate, squash, size):
    target = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1)) * 0.98 + 0.01
    p = ImageParam((2, 3, size, size), param, decorrelate, squash)
    p.set_image(target)
    with torch.no_grad():
        assert torch.allclose(p(), target, atol=2e-5)


def test_the_colour_matrix_is_the_published_one_with_unit_largest_column():
    p = ImageParam((1, 3, 4, 4), "pixel")
    norms = np.linalg.norm(COLOR_CORRELATION_SQRT.numpy(), axis=0)
    assert np.allclose(p.color.numpy(), COLOR_CORRELATION_SQRT.numpy() / norms.max())
    assert math.isclose(float(p.color.norm(dim=0).max()), 1.0, rel_tol=1e-6)


def test_init_starts_from_the_picture(resnet18):
    cat = cw.sample_image("cat")
    vis = Visualization(resnet18, "layer2:1", 64, init=cat)
    expected = torch.from_numpy(np.asarray(cat.convert("RGB").resize((64, 64)), dtype=np.float32) / 255).permute(
        2, 0, 1
    )
    assert torch.allclose(vis.image()[0], expected, atol=1e-3)


# -- transforms ---------------------------------------------------------------------------------------------
def _robust(**kwargs) -> Robustness:
    base = dict(pad=0, jitter=0, scales=(1.0,), angles=(0.0,), jitter_after=0)
    return Robustness(**{**base, **kwargs})


def test_no_transform_is_the_identity_and_padding_is_grey():
    img = torch.rand(2, 3, 20, 20)
    g = random.Random(0)
    assert torch.allclose(_robust()(img, 20, g), img, atol=1e-5)
    padded = _robust(pad=4)(img, 28, g)
    assert torch.allclose(padded, F.pad(img, (4, 4, 4, 4), value=0.5), atol=1e-5)


def test_rotation_by_90_degrees_is_rot90():
    img = torch.rand(1, 3, 16, 16)
    out = _robust(angles=(90.0,))(img, 16, random.Random(0))
    assert any(torch.allclose(out, torch.rot90(img, k, (2, 3)), atol=1e-5) for k in (1, 3))


def test_jitter_is_a_whole_pixel_shift_within_its_range():
    img = torch.rand(1, 3, 16, 16)
    g = random.Random(0)
    for _ in range(10):
        out = _robust(pad=4, jitter=5)(img, 24, g)
        padded = F.pad(img, (4, 4, 4, 4), value=0.5)
        shifts = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.allclose(out[..., 4:20, 4:20], padded[..., 4 - dy : 20 - dy, 4 - dx : 20 - dx], atol=1e-5)
        ]
        assert len(shifts) == 1


def test_each_image_of_a_batch_gets_its_own_draw():
    img = torch.rand(1, 3, 24, 24).expand(8, 3, 24, 24)
    out = Robustness()(img, 48, random.Random(0))
    assert out.shape == (8, 3, 48, 48)
    assert len({round(float(o.sum()), 3) for o in out}) > 1


# -- objectives ---------------------------------------------------------------------------------------------
@pytest.fixture
def acts():
    g = torch.Generator().manual_seed(0)
    return {
        "a": torch.randn(3, 5, 4, 6, generator=g),
        "b": torch.randn(3, 7, 2, 2, generator=g),
        "": torch.randn(3, 10, generator=g),
    }


def test_objective_values_by_hand(acts):
    a, b, out = acts["a"], acts["b"], acts[""]
    assert torch.isclose(channel("a", 2)(acts), a[:, 2].mean())
    assert torch.isclose(channel("a", 2, batch=1)(acts), a[1, 2].mean())
    assert torch.isclose(neuron("a", 4)(acts), a[:, 4, 2, 3].mean())
    assert torch.isclose(neuron("a", 4, 1, 5, batch=2)(acts), a[2, 4, 1, 5])
    assert torch.isclose(deepdream("b")(acts), (b**2).mean())
    assert torch.isclose(class_logit(7)(acts), out[:, 7].mean())
    assert torch.isclose(direction("a", torch.eye(5)[3] * 4)(acts), channel("a", 3)(acts))
    v = torch.arange(5.0)
    assert torch.isclose(direction("a", v)(acts), (a * (v / v.norm())[None, :, None, None]).sum(1).mean())
    assert torch.isclose(channels("a", [0, 4, 1])(acts), a[0, 0].mean() + a[1, 4].mean() + a[2, 1].mean())


def test_objectives_compose(acts):
    c, n = channel("a", 1), neuron("b", 2)
    assert torch.isclose((c + 0.5 * n)(acts), c(acts) + 0.5 * n(acts))
    assert torch.isclose((c - n / 2)(acts), c(acts) - 0.5 * n(acts))
    assert torch.isclose((-c)(acts), -c(acts))
    assert torch.isclose(sum([c, n])(acts), c(acts) + n(acts))
    assert (c + 0.5 * n).layers == {"a", "b"}
    assert repr(c - n) == "channel('a', 1) - neuron('b', 2)"
    with pytest.raises(TypeError):
        _ = c + 1


def test_diversity_is_minus_one_for_identical_images_and_rises_when_they_differ():
    same = {"a": torch.rand(1, 4, 5, 5).expand(3, 4, 5, 5)}
    assert torch.isclose(diversity("a")(same), torch.tensor(-1.0))
    different = {"a": torch.rand(3, 4, 5, 5, generator=torch.Generator().manual_seed(0))}
    feats = different["a"].reshape(3, 4, -1)
    grams = [(f @ f.T).flatten() for f in feats]
    sims = [F.cosine_similarity(grams[i], grams[j], dim=0) for i in range(3) for j in range(3) if i != j]
    assert torch.isclose(diversity("a")(different), -torch.stack(sims).mean())


def test_strings_parse_to_objectives():
    assert repr(as_objective("features.6:12")) == "channel('features.6', 12)"
    assert repr(as_objective("features.6:12:3:4")) == "neuron('features.6', 12, y=3, x=4)"
    assert repr(as_objective("features.6")) == "deepdream('features.6')"
    for bad in ["features.6:x", "a:1:2", "", 5]:
        with pytest.raises(FeatureVisError, match="layer"):
            as_objective(bad)


def test_batch_modes_render_several_images(resnet18):
    vis = Visualization(resnet18, channels("layer2", [3, 4]) + 0.3 * diversity("layer2"), 48, batch=2)
    frames = shown_frames(vis, 3)
    assert frames[-1].image.shape == (2, 3, 48, 48)
    assert not torch.equal(frames[-1].image[0], frames[-1].image[1])


# -- regularisers -------------------------------------------------------------------------------------------
def test_gaussian_blur_equals_a_brute_force_convolution():
    x = torch.rand(1, 2, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma, r = 0.8, 2
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (r, r), (r, r)), mode="reflect")
    t = np.arange(-r, r + 1)
    k = np.exp(-0.5 * (t[:, None] ** 2 + t[None, :] ** 2) / sigma**2)
    k /= k.sum()
    expected = np.zeros_like(x.numpy())
    for i in range(12):
        for j in range(12):
            expected[..., i, j] = (padded[..., i : i + 2 * r + 1, j : j + 2 * r + 1] * k).sum((-1, -2))
    assert np.allclose(gaussian_blur(x, sigma).numpy(), expected, atol=1e-12)


def test_pixel_regularisers_by_hand():
    g = torch.Generator().manual_seed(0)
    pixels, grad = torch.randn(1, 3, 10, 10, generator=g), torch.randn(1, 3, 10, 10, generator=g)
    out = pixels.clone()
    PixelRegularizers(decay=0.1).apply(out, grad, 1)
    assert torch.allclose(out, pixels * 0.9)
    out = pixels.clone()
    PixelRegularizers(clip_norm=30).apply(out, grad, 1)
    norms = pixels.norm(dim=1)[0]
    zeroed = out.abs().sum(1)[0] == 0
    assert int(zeroed.sum()) == 30 and float(norms[zeroed].max()) < float(norms[~zeroed].min())
    out = pixels.clone()
    PixelRegularizers(clip_contribution=50).apply(out, grad, 1)
    contribution = (pixels * grad).sum(1)[0].abs()
    zeroed = out.abs().sum(1)[0] == 0
    assert int(zeroed.sum()) == 50 and float(contribution[zeroed].max()) < float(contribution[~zeroed].min())
    out = pixels.clone()
    PixelRegularizers(blur_every=2, blur_sigma=1.0).apply(out, grad, 2)
    assert torch.equal(out, pixels)  # after steps 1, 3, 5... (Yosinski et al.'s and cs231n's 0-based i % k == 0)
    PixelRegularizers(blur_every=2, blur_sigma=1.0).apply(out, grad, 3)
    assert total_variation(out) < 0.5 * total_variation(pixels)


def test_pixel_regularisers_run_in_a_pixel_run(resnet18):
    vis = Visualization(resnet18, "layer2:3", 48, param="pixel", decay=0.01, blur_every=2, clip_norm=10, tv=0.1, l2=0.1)
    last(vis.steps(4))
    assert vis.step == 4 and all(math.isfinite(v) for v in vis.curve)


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "objective,message",
    [
        ("_blocks.9:112", r"unit 112 is out of range for layer '_blocks.9': it has 112 channels \(0..111\)"),
        (neuron("_fc", 3), r"needs a layer with a spatial \(C, H, W\) output; '_fc' outputs \(1000,\)"),
        (neuron("_blocks.9", 3, 20, 0), r"outside layer '_blocks.9'.s 14x14 map"),
        (class_logit(1000), r"class 1000 is out of range: the model has 1000 classes \(0..999\)"),
        (channel("_blocks.9", 1, batch=1), r"batch has 1 \(0..0\)"),
        (diversity("_blocks.9"), "batch=2 or more"),
        (direction("_blocks.9", [1.0, 2.0]), "has 2 entries but layer '_blocks.9' has 112 channels"),
        ("nope:1", "unknown layer 'nope'; valid layers: "),
    ],
    ids=str,
)
def test_bad_objectives_are_refused_with_the_valid_choices(default_net, objective, message):
    with Untouched(default_net.model):
        with pytest.raises(ValueError, match=message):
            Visualization(default_net, objective, 64)


@pytest.mark.parametrize(
    "settings,message",
    [
        (dict(param="dct"), r"^param must be one of: fft, pixel; got 'dct'$"),
        (dict(squash="tanh"), r"^squash must be one of: sigmoid, clamp; got 'tanh'$"),
        (dict(size=0), r"^size must be a number in 1\.\.2048, got 0$"),
        (dict(size=2.5), r"^size must be a whole number in 1\.\.2048, got 2\.5$"),
        (dict(lr=-1), r"^lr must be a number in 0\.0001\.\.100, got -1$"),
        (dict(decay=0.1), "use param='pixel'"),
        (dict(param="pixel", clip_norm=100), r"^clip_norm must be a number in 0\.\.99, got 100$"),
        (dict(seed=-1), r"^seed must be a number in 0\.\.2147483647, got -1$"),
        (dict(transforms="yes"), "transforms must be True, False, a Robustness or a Roll"),
    ],
    ids=str,
)
def test_bad_settings_are_refused(resnet18, settings, message):
    with pytest.raises(FeatureVisError, match=message):
        Visualization(resnet18, "layer2:1", **{"size": 32, **settings})


def test_a_size_below_the_models_minimum_names_the_smallest_that_works(squeezenet):
    with pytest.raises(FeatureVisError, match=r"size 8 is below the smallest image .* use size >= (\d+)") as info:
        Visualization(squeezenet, "features.12:3", 8)
    smallest = int(info.value.args[0].rsplit(" ", 1)[1])
    Visualization(squeezenet, "features.12:3", smallest)  # that size runs ...
    with pytest.raises(FeatureVisError):  # ... and one pixel less does not (brute force)
        Visualization(squeezenet, "features.12:3", smallest - 1)


@pytest.mark.parametrize("what", ["gradient", "objective"])
def test_a_nan_stops_the_run_with_the_last_good_image(what):
    model = small_cnn()

    class Sqrt(Objective):
        layers = frozenset(["conv"])

        def __call__(self, acts):  # sqrt(0) = 0 has an infinite slope (0 * inf = NaN); sqrt(-1) is NaN itself
            mean = acts["conv"][:, 0].mean()
            return (mean * 0).sqrt() if what == "gradient" else (mean * 0 - 1).sqrt()

    vis = Visualization(model, Sqrt(), 32)
    with (
        Untouched(model),
        pytest.raises(FeatureVisError, match=f"the {what} became NaN or infinite at step 1; .*smaller lr"),
    ):
        last(vis.steps(3))
    assert vis.step == 0 and torch.isfinite(vis.image()).all()
