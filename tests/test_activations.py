"""Engine work the views and explorers share: channel thumbnails of a layer, the default layer to show, and the
image with one occlusion window, each against a hand-made reference."""

import pytest
import torch
import torch.nn.functional as F

from cnnviz_widgets.engine import LayerError, OcclusionError, channel_maps, default_layer, layers, occlude_window
from cnnviz_widgets.engine.occlusion import Grid, make_fill, occlusion

from .conftest import Untouched, eval_mode, hook_count, mixed_state, seeded_image, small_cnn


def hooked(model: torch.nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """``name``'s output by a plain forward hook on the model itself, in eval mode."""
    out = []
    handle = dict(model.named_modules())[name].register_forward_hook(lambda m, i, o: out.append(o.detach().clone()))
    try:
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return out[-1][0]


def test_channel_maps_are_the_layers_activations_pooled_to_the_side_and_budget():
    model = mixed_state(small_cnn())
    x = seeded_image(1, 3, 40, 40)
    act = hooked(model, x, "conv2")  # 8 x 40 x 40
    with Untouched(model):
        whole = channel_maps(model, x, "conv2", side=64)
        side = channel_maps(model, x, "conv2", side=10)
        budget = channel_maps(model, x, "conv2", side=64, budget=8 * 5 * 5)
        default = channel_maps(model, x, "conv2")
    torch.testing.assert_close(whole, act)  # smaller than the side: kept as it is
    torch.testing.assert_close(side, F.adaptive_avg_pool2d(act[None], (10, 10))[0])
    torch.testing.assert_close(budget, F.adaptive_avg_pool2d(act[None], (5, 5))[0])
    assert default.shape == (8, 32, 32) and default.dtype == torch.float32 and default.device.type == "cpu"
    assert hook_count(model) == 0


def test_channel_maps_of_a_flat_layer_are_none_and_an_unknown_layer_names_the_valid_ones():
    model = small_cnn()
    x = seeded_image(1, 3, 16, 16)
    assert channel_maps(model, x, "head") is None
    with pytest.raises(
        LayerError,
        match=r"unknown layer 'conv3'; did you mean 'conv' or 'conv2'\? valid layers: conv, conv2, bn, pool, head",
    ):
        channel_maps(model, x, "conv3")
    assert hook_count(model) == 0


def test_default_layer_is_two_thirds_up_the_blocks():
    model = torch.nn.Sequential(
        *[torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.ReLU()) for _ in range(7)]
    )
    assert default_layer(model, layers(model, (3, 16, 16))) == "4"  # blocks 0..6: index 2 * 6 // 3


@pytest.mark.parametrize("baseline", [0.0, -1.5, "mean", "blur", seeded_image(1, 3, 20, 24, seed=9)])
@pytest.mark.parametrize("i,j", [(0, 0), (1, 2), (2, 3)])
def test_occlude_window_is_the_image_with_that_window_filled(baseline, i, j):
    x = seeded_image(1, 3, 20, 24)
    grid = Grid.make((20, 24), 8, 6)  # 3 x 4 windows, the last ones clipped at the border
    fill = make_fill(x, baseline)
    expected = x.clone()
    top, left = 6 * i, 6 * j
    for y in range(top, min(top + 8, 20)):
        for col in range(left, min(left + 8, 24)):
            expected[0, :, y, col] = fill[:, y, col]
    got = occlude_window(x, grid, i, j, baseline)
    assert torch.equal(got, expected) and torch.equal(x, seeded_image(1, 3, 20, 24))  # the input is untouched


def test_occlude_window_is_what_the_sweep_scores():
    model = small_cnn()
    x = seeded_image(1, 3, 16, 16)
    result = occlusion(model, x, 3, 8, 4, "mean")
    with eval_mode(model), torch.no_grad():
        logits = model(occlude_window(x, result.grid, 1, 2, "mean"))
    assert float(logits[0, 3]) == pytest.approx(float(result.scores[1, 2]), rel=1e-5, abs=1e-6)


def test_a_window_outside_the_grid_names_the_valid_range():
    grid = Grid.make((16, 16), 8, 4)
    with pytest.raises(OcclusionError, match=r"window \(3, 0\) is outside the 3x3 grid \(i 0\.\.2, j 0\.\.2\)"):
        occlude_window(seeded_image(1, 3, 16, 16), grid, 3, 0, 0.0)
