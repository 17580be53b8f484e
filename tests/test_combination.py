"""A deeper unit as a combination of the filters below (engine.combination), against sums written out by hand and
against the linear network's own response."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz_widgets.engine.combination import filter_combination
from cnnviz_widgets.engine.errors import LayerError

from .conftest import Untouched


def two_layers(stride: int = 1, between: nn.Module = None, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 4, 3, stride=stride), between or nn.Identity(), nn.Conv2d(4, 2, 2)]
    return nn.Sequential(*layers).eval()


def composed_by_hand(w2: torch.Tensor, w1: torch.Tensor, stride: int) -> torch.Tensor:
    """K[o, s*j + i] = sum_c W2[c, j] * W1[c, o, i], every index written out."""
    c_count, k2 = w2.shape[0], w2.shape[-1]
    outs, k1 = w1.shape[1], w1.shape[-1]
    side = stride * (k2 - 1) + k1
    kernel = torch.zeros(outs, side, side, dtype=torch.float64)
    for c in range(c_count):
        for jy in range(k2):
            for jx in range(k2):
                for o in range(outs):
                    for iy in range(k1):
                        for ix in range(k1):
                            kernel[o, stride * jy + iy, stride * jx + ix] += float(w2[c, jy, jx]) * float(
                                w1[c, o, iy, ix]
                            )
    return kernel.float()


@pytest.mark.parametrize("stride", [1, 2])
def test_the_combination_equals_the_sum_written_out_and_the_networks_linear_response(stride):
    model = two_layers(stride)
    with Untouched(model):
        combo = filter_combination(model, "2", 1)
    w2, w1 = model[2].weight.detach()[1], model[0].weight.detach()
    assert combo.below == "0" and combo.channels.tolist() == w2.flatten(1).norm(dim=1).argsort(descending=True).tolist()
    torch.testing.assert_close(combo.kernel, composed_by_hand(w2, w1, stride), rtol=1e-5, atol=1e-6)
    x = torch.randn(1, 3, 17, 17)
    with torch.no_grad():  # no nonlinearity: the unit's response minus its response to nothing is the kernel's
        response = (model(x) - model(torch.zeros_like(x)))[0, 1]
    torch.testing.assert_close(F.conv2d(x, combo.kernel[None], stride=stride)[0, 0], response, rtol=1e-4, atol=1e-5)


def test_only_the_strongest_channels_are_summed_with_top():
    model = two_layers()
    combo = filter_combination(model, "2", 0, top=1)
    w2, w1 = model[2].weight.detach()[0], model[0].weight.detach()
    strongest = int(w2.flatten(1).norm(dim=1).argmax())
    only = torch.zeros_like(w2)
    only[strongest] = w2[strongest]
    assert combo.channels.tolist() == [strongest] and float(combo.strength[0]) == pytest.approx(
        float(w2[strongest].norm())
    )
    torch.testing.assert_close(combo.kernel, composed_by_hand(only, w1, 1), rtol=1e-5, atol=1e-6)


def test_a_batch_norm_between_is_folded_into_the_linear_response():
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
    model = two_layers(between=bn, seed=1)
    combo = filter_combination(model, "2", 0)
    x = torch.randn(1, 3, 12, 12)
    with torch.no_grad():
        response = (model(x) - model(torch.zeros_like(x)))[0, 0]
    torch.testing.assert_close(F.conv2d(x, combo.kernel[None])[0, 0], response, rtol=1e-4, atol=1e-5)


def test_bad_units_and_convolutions_are_named():
    model = two_layers()
    with pytest.raises(LayerError, match=r"unit must be a number in 0\.\.1, got 2"):
        filter_combination(model, "2", 2)
    with pytest.raises(LayerError, match=r"'1' is a Identity, not a convolution \(nn.Conv2d\); the convolutions are: "):
        filter_combination(model, "1", 0)
    grouped = nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(4, 2, 2)).eval()
    with pytest.raises(LayerError, match=r"'0' has groups=2, dilation=\(1, 1\); combinations need plain"):
        filter_combination(grouped, "1", 0)
