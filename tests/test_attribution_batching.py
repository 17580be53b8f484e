"""Batched methods (integrated gradients, SmoothGrad): memory-budget chunks, progress, cancel, per-image
targets across chunk boundaries, and the quadrature rules behind integrated gradients."""

from __future__ import annotations

import copy
import math
from fractions import Fraction

import pytest
import torch
from torch import nn

from cnnviz_widgets import engine
from cnnviz_widgets.engine import AttributionError
from cnnviz_widgets.engine.attribution import quadrature

from .conftest import Counting, Untouched, drain, eval_mode, hook_count, mixed_state, rel_err, seeded_image, small_cnn

HUGE = 1 << 50
TINY = 1  # one path point / noisy copy per chunk


def graph_bytes(model: nn.Module, x1: torch.Tensor) -> int:
    """Bytes autograd saves for one image's forward pass, each tensor once and the weights not at all:
    what one row of a chunk costs."""
    weights = {t.data_ptr() for t in [*model.parameters(), *model.buffers()]}
    saved = {}

    def pack(t):
        if t.data_ptr() not in weights:
            saved[t.data_ptr()] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), eval_mode(model):
        model(x1.clone().requires_grad_())
    return sum(saved.values())


def steps(method, model, x, target, budget, seed=0):
    if method == "integrated_gradients":
        return engine.integrated_gradients_steps(model, x, target, steps=6, budget=budget)
    torch.manual_seed(seed)  # the noise is drawn at the first step, before anything else draws
    return engine.smoothgrad_steps(model, x, target, samples=6, noise=0.2, budget=budget)


def run(method, model, x, target, budget, fractions=None, seed=0):
    return drain(steps(method, model, x, target, budget, seed), fractions)


@pytest.fixture(scope="module")
def model():
    return small_cnn().eval()


@pytest.fixture(scope="module")
def x():
    return seeded_image(2, 3, 16, 16, seed=3)


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad"])
def test_chunk_size_does_not_change_the_result_and_progress_reaches_1(model, x, method):
    seen = {}
    for budget in (TINY, HUGE):
        fractions = []
        seen[budget] = run(method, copy.deepcopy(model), x, [2, 5], budget, fractions=fractions)
        assert all(b > a for a, b in zip(fractions, fractions[1:])), fractions
        assert fractions[-1] == 1.0 and fractions[0] > 0
        ends = [round(f * 12) for f in fractions]
        if budget == TINY:
            assert ends == list(range(1, 13)), "one row per chunk"
        else:
            assert ends == [1, 7, 12], "a measured first row, then 11 rows in two even chunks of at most 8"
    assert rel_err(seen[TINY], seen[HUGE]) <= 1e-6


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad"])
@pytest.mark.parametrize("target", [[2, 5], "conv2:3"])
def test_stopping_the_iteration_stops_within_one_chunk_and_leaves_no_trace(x, method, target):
    model = Counting(mixed_state(small_cnn()))
    with Untouched(model):
        updates = steps(method, model, x, "inner." + target if isinstance(target, str) else target, TINY)
        for done, update in enumerate(updates, 1):
            assert update.result is None and hook_count(engine.replica(model)) == 0, "hooks live between chunks"
            if done == 3:
                break
        updates.close()
    assert model.calls == 3, "work went on after the caller stopped iterating"


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad"])
def test_per_image_targets_with_chunks_that_straddle_images(model, x, method):
    """6 rows per image in chunks of 1, 4, 4, 3 rows (11 rows, at most 4.5 per chunk by budget, split evenly):
    the second chunk holds rows of image 0 and image 1."""
    budget = int(4.5 * graph_bytes(model, x[:1]))
    fractions = []
    both = run(method, copy.deepcopy(model), x, [2, 5], budget, fractions=fractions)
    ends = [round(f * 12) for f in fractions]
    assert ends == [1, 5, 9, 12], ends
    assert any(a < 6 < b for a, b in zip(ends, ends[1:])), "no chunk straddles the two images"
    if method == "integrated_gradients":
        for i, t in enumerate([2, 5]):
            assert rel_err(both[i : i + 1], engine.integrated_gradients(model, x[i : i + 1], t, steps=6)) < 1e-6
    else:
        # SmoothGrad by hand from the same noise draw: 6 copies of each image (image-major), each with noise
        # of sd noise * (its max - its min), gradients of each image's class averaged over its copies.
        torch.manual_seed(0)
        noise = torch.randn(12, *x.shape[1:])
        for i, t in enumerate([2, 5]):
            sigma = 0.2 * float(x[i].max() - x[i].min())
            noisy = x[i : i + 1] + sigma * noise[6 * i : 6 * i + 6]
            ref = engine.gradient(model, noisy, t).mean(dim=0, keepdim=True)
            assert rel_err(both[i : i + 1], ref) < 1e-5
        assert rel_err(both, engine.gradient(model, x, [2, 5])) > 0.05, "the noise did nothing"
        # ... and single calls that draw the same noise (a generator advanced past image 0's draws) agree too
        gen = torch.Generator().manual_seed(0)
        first = engine.smoothgrad(model, x[:1], 2, samples=6, noise=0.2, generator=gen)
        second = engine.smoothgrad(model, x[1:], 5, samples=6, noise=0.2, generator=gen)
        assert rel_err(both, torch.cat([first, second])) < 1e-5


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad"])
def test_the_cost_of_a_row_is_measured_once_per_model_and_input_shape(model, x, method):
    fresh = copy.deepcopy(model)
    ends = []
    for images in (x, x, x[:, :, :8]):  # the same shape twice, then a new one
        fractions = []
        run(method, fresh, images, [2, 5], HUGE, fractions=fractions)
        ends.append([round(f * 12) for f in fractions])
    assert ends == [[1, 7, 12], [6, 12], [1, 7, 12]], ends


class Recording(nn.Module):
    """Wraps a model and records the shape and memory layout of every batch it is given."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.seen = []

    def forward(self, x):
        self.seen.append((x.shape[0], x.stride(1) == 1))
        return self.inner(x)


class FlattensWithView(nn.Module):
    """A cs231n-style CNN that flattens with ``.view``, which a channels-last conv output cannot take."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 16 * 16, 7)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).view(x.shape[0], -1))


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad"])
def test_cpu_chunks_run_channels_last_in_even_sizes_after_one_measured_row(model, x, method):
    recording = Recording(model)
    if method == "integrated_gradients":
        engine.integrated_gradients(recording, x[:1], 2, steps=50, budget=HUGE)
    else:
        engine.smoothgrad(recording, x[:1], 2, samples=50, budget=HUGE)
    assert recording.seen == [(1, True)] + [(7, True)] * 7, recording.seen


@pytest.mark.parametrize("method", ["integrated_gradients", "smoothgrad"])
def test_a_model_that_cannot_take_channels_last_falls_back_to_the_default_layout(x, method):
    torch.manual_seed(1)
    net = FlattensWithView().eval()
    with pytest.raises(RuntimeError, match="view"):
        net(x.contiguous(memory_format=torch.channels_last))
    recording = Recording(net)
    got = run(method, recording, x, [2, 5], HUGE)
    assert [layout for _, layout in recording.seen] == [True, False, False, False], (
        "tried channels-last once, then NCHW"
    )
    again = run(method, recording, x, [2, 5], HUGE)
    assert [layout for _, layout in recording.seen[4:]] == [False] * 2, "the fallback (and the row cost) is remembered"
    assert rel_err(got, again) < 1e-6, "other chunks, same attribution"
    assert rel_err(got, run(method, net, x, [2, 5], TINY)) < 1e-5, "row by row gives the same attribution"


def test_integrated_gradients_is_the_quadrature_of_gradients_on_the_path(model, x):
    """IG by hand from a constant baseline b: sum_k w_k grad(b + a_k (x - b)) * (x - b), and its completeness error."""
    alphas, weights = quadrature(5, "riemann_right")
    base = torch.full_like(x[:1], -0.5)
    ref = sum(float(w) * engine.gradient(model, base + float(a) * (x[:1] - base), 4) for a, w in zip(alphas, weights))
    ref = ref * (x[:1] - base)
    ours, error = engine.integrated_gradients(
        model, x[:1], 4, steps=5, rule="riemann_right", baseline=-0.5, return_error=True
    )
    assert rel_err(ours, ref) < 1e-5
    with torch.no_grad():
        gap = model(x[:1])[0, 4] - model(base)[0, 4]
    assert float(error[0]) == pytest.approx(float(ours.sum() - gap), abs=1e-5)


# --- quadrature -------------------------------------------------------------------------------------

RULES = ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"]


def integrate(rule: str, steps: int, degree: int) -> float:
    alphas, weights = quadrature(steps, rule)
    return float((weights * alphas**degree).sum())


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("steps", [2, 3, 7, 50])
def test_quadrature_points_lie_in_0_1_and_weights_sum_to_1(rule, steps):
    alphas, weights = quadrature(steps, rule)
    assert alphas.shape == weights.shape == (steps,)
    assert alphas.dtype == weights.dtype == torch.float64
    assert bool((alphas >= 0).all() and (alphas <= 1).all() and (weights > 0).all())
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-13)
    assert bool((alphas[1:] > alphas[:-1]).all())


@pytest.mark.parametrize("steps", [1, 2, 3, 5, 8])
def test_gauss_legendre_with_n_points_is_exact_up_to_degree_2n_minus_1(steps):
    for degree in range(2 * steps):
        assert integrate("gausslegendre", steps, degree) == pytest.approx(1 / (degree + 1), abs=1e-13)
    # ... and not beyond: for t^(2n) it falls short by (n!)^4 / ((2n + 1) ((2n)!)^2), the rule's error term
    shortfall = 1 / (2 * steps + 1) - integrate("gausslegendre", steps, 2 * steps)
    n = steps
    assert shortfall == pytest.approx(math.factorial(n) ** 4 / ((2 * n + 1) * math.factorial(2 * n) ** 2), rel=1e-4)


@pytest.mark.parametrize("steps", [2, 3, 4, 9])
def test_riemann_rules_against_hand_computed_sums(steps):
    n = steps
    # trapezoid: exact for lines; for t^2 it overshoots by h^2/6 with h = 1/(n-1)
    assert integrate("riemann_trapezoid", n, 1) == pytest.approx(0.5, abs=1e-14)
    assert integrate("riemann_trapezoid", n, 2) == pytest.approx(1 / 3 + 1 / (6 * (n - 1) ** 2), abs=1e-14)
    # midpoint: exact for lines; for t^2 it undershoots by 1/(12 n^2)
    assert integrate("riemann_middle", n, 1) == pytest.approx(0.5, abs=1e-14)
    assert integrate("riemann_middle", n, 2) == pytest.approx(1 / 3 - 1 / (12 * n**2), abs=1e-14)
    # left and right sums of t: (n-1)/(2n) and (n+1)/(2n)
    assert integrate("riemann_left", n, 1) == pytest.approx((n - 1) / (2 * n), abs=1e-14)
    assert integrate("riemann_right", n, 1) == pytest.approx((n + 1) / (2 * n), abs=1e-14)
    for rule in RULES:
        assert integrate(rule, n, 0) == pytest.approx(1.0, abs=1e-14)


def test_three_point_rules_by_hand():
    points = {
        "riemann_trapezoid": ([0, Fraction(1, 2), 1], [Fraction(1, 4), Fraction(1, 2), Fraction(1, 4)]),
        "riemann_left": ([0, Fraction(1, 3), Fraction(2, 3)], [Fraction(1, 3)] * 3),
        "riemann_right": ([Fraction(1, 3), Fraction(2, 3), 1], [Fraction(1, 3)] * 3),
        "riemann_middle": ([Fraction(1, 6), Fraction(1, 2), Fraction(5, 6)], [Fraction(1, 3)] * 3),
        # Gauss-Legendre on [0, 1]: nodes 1/2 -+ sqrt(15)/10, weights 5/18, 8/18, 5/18
        "gausslegendre": ([0.5 - math.sqrt(15) / 10, 0.5, 0.5 + math.sqrt(15) / 10], [5 / 18, 8 / 18, 5 / 18]),
    }
    for rule, (alphas, weights) in points.items():
        got_a, got_w = quadrature(3, rule)
        assert got_a.tolist() == pytest.approx([float(a) for a in alphas], abs=1e-15), rule
        assert got_w.tolist() == pytest.approx([float(w) for w in weights], abs=1e-15), rule


@pytest.mark.parametrize(
    "steps,rule,message",
    [
        (0, "gausslegendre", r"steps must be a number >= 1, got 0"),
        (2.5, "gausslegendre", r"steps must be a whole number >= 1, got 2\.5"),
        (True, "gausslegendre", r"steps must be a whole number >= 1, got True"),
        (1, "riemann_trapezoid", r"trapezoid rule needs at least 2 steps"),
        (
            4,
            "simpson",
            r"unknown integration rule 'simpson'; choose one of: gausslegendre, riemann_trapezoid, riemann_left",
        ),
    ],
)
def test_bad_quadrature_arguments(steps, rule, message):
    with pytest.raises(AttributionError, match=message):
        quadrature(steps, rule)
