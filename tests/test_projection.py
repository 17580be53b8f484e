"""A channel's strongest activation projected to the input (engine.projection), against a position found by hand,
the attribution methods it calls, receptive fields worked out by hand and the property that one unit's gradient
never leaves its receptive field."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz_widgets.engine.attribution import deconvnet, guided_backprop
from cnnviz_widgets.engine.errors import LayerError
from cnnviz_widgets.engine.layers import ReceptiveField
from cnnviz_widgets.engine.projection import channel_projection, receptive_box

from .conftest import Untouched, eval_mode, hook_count, mixed_state, seeded_image, small_cnn


def strongest_by_hand(model: nn.Module, module: nn.Module, x: torch.Tensor, channel: int):
    """(y, x, value) of the largest activation of ``channel`` on image 0, by a plain forward hook and a loop."""
    seen = []
    handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    try:
        with eval_mode(model), torch.no_grad():
            model(x)
    finally:
        handle.remove()
    act = seen[-1][0, channel]
    best = (0, 0, float(act[0, 0]))
    for y in range(act.shape[0]):
        for x_ in range(act.shape[1]):
            if float(act[y, x_]) > best[2]:
                best = (y, x_, float(act[y, x_]))
    return best


def support(pixels: torch.Tensor):
    """(top, left, bottom, right) of the nonzero pixels (bottom, right exclusive)."""
    rows = pixels.abs().sum(dim=(0, 2)).nonzero().flatten()
    cols = pixels.abs().sum(dim=(0, 1)).nonzero().flatten()
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


@pytest.mark.parametrize("rule, method", [("deconvnet", deconvnet), ("guided_backprop", guided_backprop)])
def test_the_projection_is_the_rule_s_gradient_of_the_strongest_unit_found_by_hand(rule, method):
    model = small_cnn()
    x = seeded_image(2, 3, 16, 16, seed=3)
    y, x_, value = strongest_by_hand(model, model.conv2, x, 5)
    with Untouched(model):
        proj = channel_projection(model, x, "conv2", 5, rule=rule)
    assert (proj.layer, proj.channel, proj.y, proj.x) == ("conv2", 5, y, x_)
    assert proj.value == pytest.approx(value, rel=1e-5)
    assert proj.pixels.dtype == torch.float32 and proj.pixels.shape == (3, 16, 16)
    torch.testing.assert_close(proj.pixels, method(model, x[:1], f"conv2:5:{y}:{x_}")[0], rtol=0, atol=0)
    assert proj.pixels.abs().sum() > 0


def tiny_net() -> nn.Sequential:
    """Receptive field by hand, (size, stride, offset) per axis, offset = centre of unit 0 in input pixels:
    conv 3x3, no padding:     size 3,                 stride 1, offset 0 + (3 - 1) / 2 = 1
    conv 3x3, padding 1:      size 3 + 2 * 1 = 5,     stride 1, offset 1 + (1 - 1) * 1 = 1
    conv 3x3, stride 2, pad 1: size 5 + 2 * 1 = 7,    stride 2, offset 1 + (1 - 1) * 1 = 1
    so unit (y, x) sees input pixels 1 + 2y - 3 .. 1 + 2y + 3, i.e. rows [2y - 2, 2y + 5) before clipping.
    Positive weights and no biases: with an all-positive image every path carries signal, so the projection's
    support is the whole field that lies inside the image.
    """
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(4, 2, 3, stride=2, padding=1, bias=False),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.abs_().add_(0.01)
    return model.eval()


@pytest.mark.parametrize(
    "position, box",
    [
        ((3, 5), (4, 8, 11, 15)),  # inside: rows 2*3-2 .. 2*3+5, columns 2*5-2 .. 2*5+5
        ((0, 0), (0, 0, 5, 5)),  # rows -2 .. 5 clipped at the top and left
        ((7, 7), (12, 12, 17, 17)),  # rows 12 .. 19 clipped at the 17-pixel bottom and right
        ((0, 6), (0, 10, 5, 17)),  # columns 10 .. 17 just fit
    ],
)
def test_the_box_is_the_receptive_field_worked_out_by_hand_and_the_projection_fills_it(position, box):
    model = tiny_net()
    x = seeded_image(1, 3, 17, 17).abs() + 0.1
    proj = channel_projection(model, x, "4", 1, position=position)
    assert (proj.y, proj.x) == position and proj.box == box
    assert proj.field == ReceptiveField((7.0, 7.0), (2.0, 2.0), (1.0, 1.0))
    assert support(proj.pixels) == box


def test_receptive_box_rounds_half_pixels_outward_and_clips():
    field = ReceptiveField((3.0, 4.0), (2.0, 4.0), (0.5, 1.5))
    # rows: centre 0.5 + 2 * 3 = 6.5, 6.5 -+ 1 -> 5.5 .. 7.5 -> pixels 5 .. 8; columns: 1.5 + 4 * 0 -+ 1.5 -> 0 .. 3
    assert receptive_box(field, 3, 0, 20, 20) == (5, 0, 9, 4)
    # rows: centre 0.5, -0.5 .. 1.5 -> pixels -1 .. 2 clipped to 0; columns: 1.5 + 4 * 5 = 21.5 -> 20 .. 23 -> 20 .. 22
    assert receptive_box(field, 0, 5, 20, 22) == (0, 20, 3, 22)


class PoolNet(nn.Module):
    """Padding, strides, a padded max pool, an even kernel and a dilation, some written as functions."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 2, stride=2)
        self.conv3 = nn.Conv2d(6, 5, 3, padding=2, dilation=2)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        y = F.max_pool2d(F.relu(self.conv1(x)), 3, stride=2, padding=1)
        y = self.conv3(F.relu(self.conv2(y)))
        return self.head(F.relu(y).mean(dim=(2, 3)))


@pytest.mark.parametrize("rule", ["deconvnet", "guided_backprop"])
@pytest.mark.parametrize("layer, channels", [("conv2", 6), ("conv3", 5)])
def test_the_projection_is_exactly_zero_outside_the_box_and_not_inside(rule, layer, channels):
    torch.manual_seed(1)
    model = PoolNet().eval()
    x = seeded_image(1, 3, 23, 21, seed=2)
    for channel in range(channels):
        proj = channel_projection(model, x, layer, channel, rule=rule)
        top, left, bottom, right = proj.box
        assert 0 <= top < bottom <= 23 and 0 <= left < right <= 21
        outside = proj.pixels.clone()
        outside[:, top:bottom, left:right] = 0
        assert torch.count_nonzero(outside) == 0, (channel, proj.box, support(proj.pixels))
        assert proj.pixels[:, top:bottom, left:right].abs().sum() > 0
    h, w = 6, 5  # both layers: 23x21 -> pool 12x11 -> stride 2: 6x5
    for position in [(0, 0), (h - 1, w - 1), (0, w - 1), (h // 2, w // 2)]:  # border units: clipped boxes
        proj = channel_projection(model, x, layer, 0, rule=rule, position=position)
        top, left, bottom, right = proj.box
        outside = proj.pixels.clone()
        outside[:, top:bottom, left:right] = 0
        assert torch.count_nonzero(outside) == 0, (position, proj.box, support(proj.pixels))


def test_a_layer_whose_field_cannot_be_followed_has_no_box():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(4, 2, 3)).eval()
    proj = channel_projection(model, seeded_image(1, 3, 10, 10), "3", 1)
    assert proj.box is None and proj.field is None and proj.pixels.abs().sum() > 0


def test_the_model_is_untouched_and_bad_requests_name_the_valid_values():
    model = mixed_state(small_cnn())
    x = seeded_image(1, 3, 12, 12)
    hooks = hook_count(model)
    with Untouched(model):
        channel_projection(model, x, "conv2", 2, rule="guided_backprop")
        with pytest.raises(LayerError, match=r"'head' gives shape \(10,\) per image; a projection needs a spatial"):
            channel_projection(model, x, "head", 0)
        with pytest.raises(LayerError, match=r"channel must be a number in 0\.\.7, got 8"):
            channel_projection(model, x, "conv2", 8)
        with pytest.raises(LayerError, match=r"rule must be one of: deconvnet, guided_backprop; got 'lrp'"):
            channel_projection(model, x, "conv2", 0, rule="lrp")
        with pytest.raises(LayerError, match=r"position x must be a number in 0\.\.11, got 12"):
            channel_projection(model, x, "conv2", 0, position=(0, 12))
        with pytest.raises(LayerError, match=r"unknown layer 'conv9'"):
            channel_projection(model, x, "conv9", 0)
    assert hook_count(model) == hooks
