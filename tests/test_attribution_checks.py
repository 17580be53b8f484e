"""The checks that tell a faithful map from a pretty one: the cascading-randomisation sanity check
(Adebayo et al. 2018) with its rank correlation, and deletion/insertion curves (Petsiuk et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnviz_widgets import engine
from cnnviz_widgets.engine import AttributionError
from cnnviz_widgets.engine.attribution import rank_correlation

from .conftest import Untouched, drain, eval_mode, mixed_state, seeded_image, small_cnn

# --- rank correlation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a,b,expected",
    [
        # no ties: 1 - 6 sum d^2 / (n (n^2 - 1)) with d = (0, -1, 1, 0, 0) -> 1 - 12/120
        ([10, 20, 30, 40, 50], [1, 3, 2, 4, 5], 0.9),
        # ties get their average rank: a -> (1, 2.5, 2.5, 4), b -> (1, 3, 2, 4);
        # Pearson of the ranks = 4.5 / sqrt(4.5 * 5)
        ([1, 2, 2, 3], [1, 3, 2, 4], 4.5 / np.sqrt(22.5)),
        # a -> (1.5, 1.5, 3.5, 3.5), b -> (1, 2, 3, 4): 4 / sqrt(4 * 5)
        ([7, 7, 9, 9], [0.1, 0.2, 0.3, 0.4], 4 / np.sqrt(20)),
        # a -> (2, 2, 2, 4), b -> (4, 3, 2, 1): -3 / sqrt(3 * 5)
        ([5, 5, 5, 6], [4, 3, 2, 1], -3 / np.sqrt(15)),
        # a constant map has no ranking: correlation 0, not NaN
        ([3, 3, 3], [1, 2, 3], 0.0),
    ],
)
def test_rank_correlation_by_hand(a, b, expected):
    got = rank_correlation(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float64))
    assert got == pytest.approx(expected, abs=1e-12)
    assert rank_correlation(torch.tensor(b), torch.tensor(a)) == pytest.approx(expected, abs=1e-12)


def test_rank_correlation_is_1_for_monotone_maps_and_minus_1_for_reversed_order():
    x = torch.randn(7, 9, generator=torch.Generator().manual_seed(0))
    x[0, :4] = 0.25  # with ties
    assert rank_correlation(x, x) == pytest.approx(1.0, abs=1e-12)
    assert rank_correlation(x, torch.exp(3 * x) + 2) == pytest.approx(1.0, abs=1e-12)
    assert rank_correlation(x, x.double() ** 3) == pytest.approx(1.0, abs=1e-12)
    assert rank_correlation(x, -x) == pytest.approx(-1.0, abs=1e-12)
    assert rank_correlation(x, 1 / (x + 10)) == pytest.approx(-1.0, abs=1e-12)
    # shapes do not matter, only the flattened order
    assert rank_correlation(x, x.flatten()) == pytest.approx(1.0, abs=1e-12)
    assert abs(rank_correlation(x, torch.randn(63, generator=torch.Generator().manual_seed(1)))) < 0.5


# --- sanity check -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image():
    return seeded_image(1, 3, 16, 16, seed=4)


@pytest.mark.parametrize("method,layer", [("gradient", None), ("gradcam", "conv2"), ("integrated_gradients", None)])
def test_sanity_check_shapes_order_and_first_map(image, method, layer):
    model = small_cnn()
    # the method's own options (IG's steps too) are kept apart from the cascade's steps
    options = {"steps": 6, "rule": "riemann_middle"} if method == "integrated_gradients" else {}
    fractions = []
    with Untouched(mixed_state(model)):
        result = drain(engine.sanity_check_steps(model, image, 3, method, layer, options=options, steps=4), fractions)
    # four parameterised layers, randomised top down, one per step
    assert result.names == ["original", "head", "conv2", "bn", "conv"]
    assert result.maps.shape == (5, 16, 16)
    assert result.correlation.shape == (5,)
    assert float(result.correlation[0]) == 1.0
    assert fractions == [0.25, 0.5, 0.75, 1.0]
    # the first map is the user's map on the untouched model
    assert torch.equal(result.maps[0], engine.saliency(model, image, 3, method, layer, **options)[0])
    # each later correlation is the rank correlation of that map with the first
    for i in range(1, 5):
        assert float(result.correlation[i]) == pytest.approx(rank_correlation(result.maps[0], result.maps[i]), abs=1e-6)
    assert not torch.equal(result.maps[-1], result.maps[0])


def test_sanity_check_groups_layers_when_steps_are_fewer(image):
    result = engine.sanity_check(small_cnn(), image, 3, steps=2)
    assert result.names == ["original", "conv2", "conv"]  # groups (head, conv2), (bn, conv): lowest of each
    assert engine.sanity_check(small_cnn(), image, 3, steps=10).names == ["original", "head", "conv2", "bn", "conv"]


def test_sanity_check_leaves_a_real_model_bit_for_bit_unchanged(resnet18):
    x = seeded_image(1, 3, 64, 64, seed=2)
    with Untouched(resnet18.model):
        result = engine.sanity_check(resnet18.model, x, 7, "gradcam", "layer3", steps=3)
    assert result.maps.shape == (4, 64, 64)


def test_sanity_check_is_deterministic_for_a_seed(image):
    a = engine.sanity_check(small_cnn(), image, 1, steps=4, seed=11)
    b = engine.sanity_check(small_cnn(), image, 1, steps=4, seed=11)
    c = engine.sanity_check(small_cnn(), image, 1, steps=4, seed=12)
    assert torch.equal(a.maps, b.maps) and torch.equal(a.correlation, b.correlation)
    assert torch.equal(a.maps[0], c.maps[0]) and not torch.equal(a.maps[1:], c.maps[1:])


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradient", "gradcam"])
def test_trained_models_maps_fall_apart_under_randomisation(default_net, cat, method):
    """On real weights the maps depend on what was learned: after the cascade reaches the stem, the map's rank
    correlation with the original is far below 1. One random draw of a smooth Grad-CAM blob can still correlate
    by chance (seed 0: 0.66), so the claim is about the mean over three re-initialisations (measured: ~0.1)."""
    x = default_net.tensor(cat)
    results = [engine.sanity_check(default_net.model, x, 285, method, steps=3, seed=seed) for seed in range(3)]
    assert all(float(r.correlation[0]) == 1.0 for r in results)
    assert sum(float(r.correlation[-1]) for r in results) / 3 < 0.5
    assert all(float(r.correlation[1:].min()) < 0.7 for r in results)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            {"x": seeded_image(2, 3, 16, 16)},
            r"sanity_check explains one image, shape \(1, C, H, W\); got \(2, 3, 16, 16\)",
        ),
        ({"x": seeded_image(3, 16, 16)}, r"one image, shape \(1, C, H, W\)"),
        ({"x": np.zeros((1, 3, 16, 16), np.float32)}, r"tensor.*got ndarray"),
        ({"steps": 0}, r"steps must be a number >= 1, got 0"),
        ({"method": "nope"}, r"unknown method 'nope'"),
        ({"target": 99}, r"class 99 is out of range"),
    ],
)
def test_sanity_check_bad_arguments(image, kwargs, message):
    model = mixed_state(small_cnn())
    args = {"x": image, "target": 1, "steps": 2, **kwargs}
    with Untouched(model):
        with pytest.raises(AttributionError, match=message):
            engine.sanity_check(model, args.pop("x"), args.pop("target"), **args)


# --- deletion / insertion ---------------------------------------------------------------------------


def brute_force_curves(model, x, importance, cls, steps, removed, start):
    """Build every perturbed image one by one; score the class's softmax probability."""
    h, w = importance.shape
    order = np.argsort(-importance.flatten().numpy(), kind="stable")
    deletion, insertion, fractions = [], [], []
    for i in range(steps + 1):
        k = int(np.round(i * h * w / steps))
        shown = np.zeros(h * w, dtype=bool)
        shown[order[:k]] = True
        shown = torch.from_numpy(shown).view(1, 1, h, w)
        with torch.no_grad(), eval_mode(model):
            deletion.append(float(model(torch.where(shown, removed, x)).softmax(1)[0, cls]))
            insertion.append(float(model(torch.where(shown, x, start)).softmax(1)[0, cls]))
        fractions.append(k / (h * w))
    return np.array(fractions), np.array(deletion), np.array(insertion)


def trapezoid(y, x):
    return float(sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1)))


@pytest.mark.parametrize("steps", [6, 5, 36])
@pytest.mark.parametrize("batch_size", [5, 100])
def test_deletion_insertion_equal_brute_force(steps, batch_size):
    model = small_cnn(classes=3)
    x = seeded_image(1, 3, 6, 6, seed=7)
    importance = torch.rand(6, 6, generator=torch.Generator().manual_seed(8))
    start = seeded_image(1, 3, 6, 6, seed=9, scale=0.3)
    with Untouched(model):
        curves = engine.deletion_insertion(
            model, x, importance, 2, steps=steps, insertion_baseline=start, batch_size=batch_size
        )
    fractions, deletion, insertion = brute_force_curves(model, x, importance, 2, steps, torch.zeros_like(x), start)
    if steps == 5:  # 36 pixels in 5 steps: round(36 i / 5)
        assert (fractions * 36).round().tolist() == [0, 7, 14, 22, 29, 36]
    np.testing.assert_allclose(curves.fractions.numpy(), fractions, atol=1e-12)
    np.testing.assert_allclose(curves.deletion.numpy(), deletion, atol=1e-6)
    np.testing.assert_allclose(curves.insertion.numpy(), insertion, atol=1e-6)
    assert curves.deletion_auc == pytest.approx(trapezoid(deletion, fractions), abs=1e-6)
    assert curves.insertion_auc == pytest.approx(trapezoid(insertion, fractions), abs=1e-6)


def test_per_channel_attributions_are_summed_over_channels_and_callables_score_raw():
    model = small_cnn(classes=3)
    x = seeded_image(1, 3, 6, 6, seed=7)
    attr = seeded_image(1, 3, 6, 6, seed=10)
    a = engine.deletion_insertion(model, x, attr, 1, steps=4)
    b = engine.deletion_insertion(model, x, attr[0].sum(dim=0), 1, steps=4)
    c = engine.deletion_insertion(model, x, attr[0].sum(dim=0, keepdim=True), 1, steps=4)
    assert torch.equal(a.deletion, b.deletion) and torch.equal(a.insertion, c.insertion)
    raw = engine.deletion_insertion(model, x, attr, lambda z: z[:, 1], steps=4)
    with torch.no_grad(), eval_mode(model):
        assert float(raw.deletion[0]) == pytest.approx(float(model(x)[0, 1]), abs=1e-6)
        assert float(raw.deletion[-1]) == pytest.approx(float(model(torch.zeros_like(x))[0, 1]), abs=1e-6)


class LinearTwoClass(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_the_true_contributions_beat_a_random_and_a_reversed_ranking():
    """On a linear 2-class model, p(class 0) = sigmoid(d) with d = sum over pixels of each pixel's contribution
    (w0 - w1) . x_pixel (+ bias). Zeroing the k largest contributions gives the smallest d of any k pixels, so
    the true map has the lowest deletion curve (and, inserting into zeros, the highest insertion curve)."""
    torch.manual_seed(0)
    model = LinearTwoClass()
    x = seeded_image(1, 3, 8, 8, seed=12)
    w = (model.fc.weight[0] - model.fc.weight[1]).detach().view(3, 8, 8)
    truth = (w * x[0]).sum(dim=0)
    shuffled = truth.flatten()[torch.randperm(64, generator=torch.Generator().manual_seed(1))].view(8, 8)
    run = lambda m: engine.deletion_insertion(model, x, m, 0, steps=16, insertion_baseline="zeros")  # noqa: E731
    perfect, rand, reversed_ = run(truth), run(shuffled), run(-truth)
    assert perfect.deletion_auc < rand.deletion_auc < reversed_.deletion_auc
    assert perfect.insertion_auc > rand.insertion_auc > reversed_.insertion_auc
    assert bool((perfect.deletion <= reversed_.deletion + 1e-7).all())
    assert bool((perfect.insertion >= reversed_.insertion - 1e-7).all())


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"attribution": torch.rand(5, 6)}, r"attribution must be a map of the image's size \(6, 6\).*; got \(5, 6\)"),
        (
            {"attribution": torch.rand(2, 6, 6)},
            r"attribution must be a map of the image's size \(6, 6\).*; got \(2, 6, 6\)",
        ),
        ({"attribution": torch.rand(2, 3, 6, 6)}, r"map of the image's size"),
        ({"attribution": torch.rand(1, 2, 6, 6)}, r"attribution.*\(1, 2, 6, 6\)"),  # 2 channels for an RGB image
        ({"attribution": torch.full((6, 6), float("nan"))}, r"attribution contains NaN or infinite values"),
        ({"x": np.zeros((1, 3, 6, 6), np.float32)}, r"tensor.*got ndarray"),
        (
            {"x": seeded_image(2, 3, 6, 6)},
            r"deletion_insertion scores one image, shape \(1, C, H, W\); got \(2, 3, 6, 6\)",
        ),
        ({"steps": 0}, r"steps must be a number >= 1, got 0"),
        ({"target": [0, 1]}, r"give one class for one image; got 2"),
        ({"deletion_baseline": "ones"}, r"unknown baseline 'ones'; choose one of: zeros, blur"),
    ],
)
def test_deletion_insertion_bad_arguments(kwargs, message):
    model = mixed_state(small_cnn(classes=3))
    args = {"x": seeded_image(1, 3, 6, 6), "attribution": torch.rand(6, 6), "target": 1, "steps": 4, **kwargs}
    with Untouched(model):
        with pytest.raises(AttributionError, match=message):
            engine.deletion_insertion(model, args.pop("x"), args.pop("attribution"), args.pop("target"), **args)


def test_a_numpy_map_is_accepted_or_refused_clearly():
    model = small_cnn(classes=3)
    x, importance = seeded_image(1, 3, 6, 6), torch.rand(6, 6, generator=torch.Generator().manual_seed(3))
    try:
        curves = engine.deletion_insertion(model, x, importance.numpy(), 1, steps=4)
    except AttributionError as exc:
        assert "ndarray" in str(exc)
        return
    assert torch.equal(curves.deletion, engine.deletion_insertion(model, x, importance, 1, steps=4).deletion)
