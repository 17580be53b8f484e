"""Occlusion: the same maps as captum's ``Occlusion`` (window layout, border clipping, overlap averaging),
per-window scores against brute force, coarse-first partial maps, cancellation and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from captum.attr import Occlusion as CaptumOcclusion
from torch import nn

from cnnviz_widgets.engine.occlusion import Grid, OcclusionError, make_fill, occlusion, occlusion_steps

from .conftest import Counting, Untouched, drain, mixed_state, seeded_image, small_cnn

TOL = 1e-4  # the bound on max |ours - captum| over the score map


def captum_map(model, x, target, window, stride, baseline=0.0):
    """captum's Occlusion with a window over all channels, as one (H, W) map."""
    wy, wx = (window, window) if isinstance(window, int) else window
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    attr = CaptumOcclusion(model).attribute(
        x,
        target=target,
        sliding_window_shapes=(x.shape[1], wy, wx),
        strides=(x.shape[1], sy, sx),
        baselines=baseline,
        perturbations_per_eval=16,
    )
    assert torch.equal(attr[0, 0], attr[0, -1]), "a window over all channels gives every channel the same map"
    return attr[0, 0].double()


def brute_score(model, x, target, box, fill):
    """The target logit with the pixels in ``box`` replaced by ``fill``, one plain forward pass."""
    ys, xs = box
    occluded = x.clone()
    occluded[0, :, ys, xs] = fill[:, ys, xs]
    with torch.no_grad():
        return float(model.eval()(occluded)[0, target])


@pytest.fixture(scope="module")
def model():
    return small_cnn().eval()


@pytest.mark.parametrize(
    "size,window,stride",
    [
        ((16, 16), 4, 2),  # windows tile evenly, each pixel covered by up to 4
        ((20, 20), 6, 4),  # (20 - 6) / 4 is not whole: the last window is clipped at the border
        ((24, 32), (5, 7), (3, 4)),  # non-square image, window and stride
        ((12, 12), 12, 1),  # one window covering everything
        ((10, 14), 3, 3),  # stride = window: no overlap
    ],
)
def test_map_equals_captum_and_scores_equal_brute_force(model, size, window, stride):
    x = seeded_image(1, 3, *size, seed=5)
    ours = occlusion(model, x, 4, window, stride)
    ref = captum_map(model, x, 4, window, stride)
    assert ours.map.shape == size
    assert float((ours.map - ref).abs().max()) < TOL
    grid = ours.grid
    assert ours.done == ours.total == math.prod(grid.counts)
    fill = torch.zeros_like(x[0])
    for i in range(grid.counts[0]):
        for j in range(grid.counts[1]):
            assert ours.scores[i, j] == pytest.approx(brute_score(model, x, 4, grid.box(i, j), fill), abs=1e-5)
    with torch.no_grad():
        logits = model(x)
    assert ours.score == pytest.approx(float(logits[0, 4]), abs=1e-6)
    assert ours.prob == pytest.approx(float(F.softmax(logits, dim=1)[0, 4]), abs=1e-6)


def test_probabilities_are_the_softmax_of_each_occluded_image(model):
    x = seeded_image(1, 3, 16, 16, seed=1)
    ours = occlusion(model, x, 7, 8, 4)
    fill = torch.zeros_like(x[0])
    for i, j in [(0, 0), (1, 2), (2, 2)]:
        ys, xs = ours.grid.box(i, j)
        occluded = x.clone()
        occluded[0, :, ys, xs] = 0
        with torch.no_grad():
            p = F.softmax(model(occluded), dim=1)[0, 7]
        assert float(ours.probs[i, j]) == pytest.approx(float(p), abs=1e-6)
    assert torch.equal(make_fill(x, 0.0), fill)


@pytest.mark.parametrize("baseline", [-0.7, "mean", "blur", "image"])
def test_baselines_equal_captum_given_the_same_fill(model, baseline):
    x = seeded_image(1, 3, 16, 16, seed=2)
    if baseline == "image":
        baseline = seeded_image(1, 3, 16, 16, seed=9)
    fill = make_fill(x, baseline)
    if baseline == "mean":  # by hand: each channel's mean, everywhere
        assert torch.allclose(fill, x[0].mean(dim=(1, 2))[:, None, None].expand(3, 16, 16))
    ours = occlusion(model, x, 2, 6, 3, baseline=baseline)
    ref = captum_map(model, x, 2, 6, 3, baseline=fill[None] if isinstance(baseline, (str, torch.Tensor)) else baseline)
    assert float((ours.map - ref).abs().max()) < TOL


def test_coarse_windows_come_first_and_already_give_a_full_map(model):
    x = seeded_image(1, 3, 32, 32, seed=3)
    grid = Grid.make((32, 32), 8, 4)  # 7 x 7 windows; the coarse 4 x 4 of them (stride 8) tile the image
    updates = list(occlusion_steps(model, x, 1, 8, 4, budget=1))
    partial = [u.result for u in updates]
    final = occlusion(model, x, 1, 8, 4, budget=1)
    assert [p.done for p in partial] == list(range(1, 50)), "one window per chunk with a tiny budget"
    assert [u.fraction for u in updates] == [p.done / 49 for p in partial] and updates[-1].fraction == 1.0
    coarse = partial[15]
    assert coarse.done == 16 and {(i, j) for i, j in grid.order()[:16]} == {
        (i, j) for i in range(0, 7, 2) for j in range(0, 7, 2)
    }
    assert torch.isfinite(coarse.map).all(), "the coarse windows cover every pixel"
    assert torch.isnan(coarse.scores).sum() == 49 - 16
    assert not torch.isnan(final.scores).any()
    assert torch.equal(final.map, partial[-1].map)
    # the coarse map is the stride-8 occlusion map
    assert (
        float((coarse.map - occlusion(model, x, 1, 8, 8).map).abs().max()) < 1e-6
    )  # float32 logits, other batch sizes


def test_the_coarsest_windows_come_first_and_give_a_full_preview(model):
    x = seeded_image(1, 3, 36, 36, seed=3)
    steps = [u.result for u in occlusion_steps(model, x, 1, 8, 4, budget=1)]  # 8 x 8 windows, one per chunk
    first = steps[3]
    evaluated = {tuple(c) for c in (~torch.isnan(first.scores)).nonzero().tolist()}
    assert evaluated == {(0, 0), (0, 4), (4, 0), (4, 4)}, "every 4th row and column first"
    assert torch.isnan(first.map).any() and torch.isfinite(first.preview).all()
    covered = ~torch.isnan(first.map)
    assert torch.equal(first.preview[covered], first.map[covered])
    # pixel (20, 30) starts window (5, 7); the nearest evaluated window to (5, 7) is (4, 4)
    assert float(first.preview[20, 30]) == pytest.approx(first.score - float(first.scores[4, 4]))
    assert all(torch.equal(s.preview, s.map) for s in steps if not torch.isnan(s.map).any())


def test_stopping_the_iteration_stops_within_one_chunk_and_keeps_the_partial_map():
    model = Counting(mixed_state(small_cnn()))
    x = seeded_image(1, 3, 16, 16, seed=4)
    with Untouched(model):
        updates = occlusion_steps(model, x, 3, 4, 2, budget=1)
        first, second = next(updates), next(updates)
        calls = model.calls
        updates.close()
    assert model.calls == calls, "no window was evaluated after the caller stopped"
    result = second.result
    assert result.done == 2 and first.result.done == 1 and second.fraction == 2 / result.total
    assert int((~torch.isnan(result.scores)).sum()) == 2


def test_an_exception_in_the_caller_between_chunks_leaves_the_model_as_it_was():
    model = mixed_state(small_cnn())
    x = seeded_image(1, 3, 16, 16, seed=4)
    with Untouched(model):
        with pytest.raises(KeyboardInterrupt):
            for _ in occlusion_steps(model, x, 3, 4, 2):
                raise KeyboardInterrupt
        assert drain(occlusion_steps(model, x, 3, 8, 4)).done == 9


def test_a_model_that_flattens_with_view_works_in_the_default_layout():
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 12 * 12, 5)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).view(x.shape[0], -1))

    torch.manual_seed(0)
    net = Flat().eval()
    x = seeded_image(1, 3, 12, 12, seed=6)
    assert float((occlusion(net, x, 1, 4, 2).map - captum_map(net, x, 1, 4, 2)).abs().max()) < TOL


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"window": 40}, r"a window height of 40 does not fit in the image's height of 16 pixels \(1..16\)"),
        ({"window": (8, 17)}, r"window width of 17 does not fit in the image's width of 16"),
        ({"stride": 0}, r"stride must be at least 1 pixel, got 0"),
        ({"stride": -2}, r"stride must be at least 1 pixel"),
        (
            {"window": 4, "stride": 5},
            r"a stride height of 5 leaves gaps between windows of height 4; use a stride of 1..4",
        ),
        ({"window": 2.5}, r"window must be a positive integer or a \(height, width\) pair"),
        ({"window": (4, 4, 4)}, r"window must be a positive integer or a \(height, width\) pair"),
        ({"baseline": "grey"}, r"baseline must be a number, one of mean, blur, or an image tensor"),
        ({"baseline": float("nan")}, r"baseline must be a finite number"),
        ({"baseline": torch.zeros(3, 8, 8)}, r"a baseline image must have the input's shape \(3, 16, 16\)"),
        ({"target": [1, 2]}, r"occlusion explains one class at a time"),
        ({"target": 10}, r"class 10 is out of range; this model has 10 classes \(0..9\)"),
    ],
)
def test_bad_arguments_get_clear_errors_and_leave_no_trace(kwargs, message):
    model = mixed_state(small_cnn())
    x = seeded_image(1, 3, 16, 16)
    args = {"target": 1, **kwargs}
    target = args.pop("target")
    with Untouched(model):
        with pytest.raises(OcclusionError, match=message):
            occlusion(model, x, target, **args)


@pytest.mark.parametrize(
    "x,message",
    [
        (seeded_image(2, 3, 16, 16), r"occlusion explains one image at a time; got a batch of 2"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), r"expected a floating-point input"),
        (torch.full((1, 3, 16, 16), float("nan")), r"the input contains NaN"),
    ],
)
def test_bad_images_get_clear_errors(model, x, message):
    with pytest.raises(OcclusionError, match=message):
        occlusion(model, x, 1)
