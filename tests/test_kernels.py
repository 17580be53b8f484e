"""Filters as pictures (engine.kernels): tiles equal the weights rescaled as documented, computed here by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnviz_widgets.engine.errors import LayerError
from cnnviz_widgets.engine.kernels import conv_filters

from .conftest import Untouched, small_cnn


def conv(in_channels: int, out_channels: int, k: int, groups: int = 1, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(in_channels, out_channels, k, groups=groups)


def by_hand(weights: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    return (weights - low) / (high - low)


def test_filters_equal_the_weights_rescaled_per_filter_and_by_the_layer():
    model = nn.Sequential(conv(3, 5, 3), nn.ReLU(), conv(5, 4, 3, seed=1))
    with Untouched(model):
        first = conv_filters(model, "0")
        deeper = conv_filters(model, "2", contrast="shared")
    w = model[0].weight.detach()
    assert first.kind == "rgb" and first.tiles.shape == (5, 3, 3, 3) and not first.folded
    for f in range(5):  # each filter from its own lowest (0) to its highest (1) weight
        torch.testing.assert_close(first.tiles[f], by_hand(w[f], w[f].min(), w[f].max()))
    w2 = model[2].weight.detach()
    assert deeper.kind == "grey" and deeper.tiles.shape == (4, 5, 3, 3)
    torch.testing.assert_close(deeper.tiles, by_hand(w2, w2.min(), w2.max()))
    torch.testing.assert_close(deeper.weights, w2)


def test_the_rgb_grid_of_a_hand_made_filter_bank_is_exact():
    model = nn.Sequential(conv(3, 3, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0, 0] = 1.0  # pure red
        model[0].weight[1, 2, 0, 0] = -2.0  # dark blue corner: the rest of filter 1 is its highest weight (0)
        # filter 2 stays all zero: nothing to rescale, mid grey
    tiles = conv_filters(model, "0").tiles
    red = torch.zeros(3, 2, 2)
    red[0] = 1.0
    corner = torch.ones(3, 2, 2)
    corner[2, 0, 0] = 0.0
    assert (
        torch.equal(tiles[0], red)
        and torch.equal(tiles[1], corner)
        and torch.equal(tiles[2], torch.full((3, 2, 2), 0.5))
    )


def test_depthwise_and_pointwise_convolutions_get_their_own_kinds():
    model = nn.Sequential(conv(8, 8, 3, groups=8), conv(8, 6, 1, seed=2))
    depthwise, pointwise = conv_filters(model, "0"), conv_filters(model, "1")
    assert depthwise.kind == "depthwise" and depthwise.tiles.shape == (8, 1, 3, 3)
    assert pointwise.kind == "matrix" and torch.equal(pointwise.tiles, model[1].weight.detach()[:, :, 0, 0])


def test_pages_hold_the_filters_in_order_and_a_page_too_far_names_the_range():
    model = nn.Sequential(conv(3, 10, 3))
    page = conv_filters(model, "0", page=2, per_page=4)
    assert (page.first, page.total, len(page.tiles)) == (8, 10, 2)
    torch.testing.assert_close(page.weights, model[0].weight.detach()[8:])
    with pytest.raises(LayerError, match=r"'0' has 10 filters: 3 page\(s\) of 4, 0\.\.2; got page 3"):
        conv_filters(model, "0", page=3, per_page=4)


def test_a_batch_norm_after_the_convolution_folds_in_as_computed_by_hand():
    model = nn.Sequential(conv(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), conv(4, 2, 3, seed=3)).eval()
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
    with Untouched(model):
        folded = conv_filters(model, "0", fold=True)
        alone = conv_filters(model, "3", fold=True)  # nothing to fold after the last convolution
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(folded.weights, model[0].weight.detach() * scale.view(-1, 1, 1, 1))
    assert folded.folded and not alone.folded
    torch.testing.assert_close(alone.weights, model[3].weight.detach())


class SamePadded(nn.Conv2d):
    """A TF-"SAME" wrapper as EfficientNet ports write it: padding, then ``F.conv2d`` on its own weight."""

    def forward(self, x):
        return nn.functional.conv2d(nn.functional.pad(x, (1, 1, 1, 1)), self.weight, self.bias)


def test_a_batch_norm_folds_into_a_functional_same_padded_convolution_too():
    torch.manual_seed(4)
    model = nn.Sequential(SamePadded(3, 4, 3), nn.BatchNorm2d(4)).eval()
    with torch.no_grad():
        model[1].running_var.uniform_(0.5, 2)
    folded = conv_filters(model, "0", fold=True)
    scale = model[1].weight.detach() / torch.sqrt(model[1].running_var + model[1].eps)
    assert folded.folded and folded.kind == "rgb"
    torch.testing.assert_close(folded.weights, model[0].weight.detach() * scale.view(-1, 1, 1, 1))


def test_a_layer_that_is_not_a_convolution_names_the_convolutions():
    model = small_cnn()
    with pytest.raises(
        LayerError, match=r"'head' is a Linear, not a convolution \(nn.Conv2d\); the convolutions are: conv"
    ):
        conv_filters(model, "head")
    with pytest.raises(LayerError, match=r"contrast must be one of: filter, shared; got 'auto'"):
        conv_filters(model, "conv", contrast="auto")
