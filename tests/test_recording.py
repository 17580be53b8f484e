"""Recording every layer's maps in one pass (engine.recording), against forward passes hooked here by hand.

The maps are held as bfloat16 (8 significant bits), so they match to its precision."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from cnnviz_widgets.engine.errors import LayerError
from cnnviz_widgets.engine.recording import record_layers

from .conftest import Untouched, small_cnn

LAYERS = ["conv", "bn", "conv2", "pool", "head"]
BF16 = dict(rtol=2**-8, atol=1e-6)
"""bfloat16 rounds to 8 significant bits: a relative error of at most 2^-9, so 2^-8 is a safe bound."""


def by_hand(model: nn.Module, x: torch.Tensor, names) -> dict:
    """Each named layer's output for image 0, from a forward pass of a copy hooked here."""
    twin = copy.deepcopy(model)
    out = {}
    for name in names:
        module = twin.get_submodule(name)
        module.register_forward_hook(lambda _m, _i, o, name=name: out.__setitem__(name, o[0].detach().clone()))
    with torch.no_grad():
        twin(x)
    return out


def test_the_maps_equal_a_hand_hooked_forward_pass_and_the_model_is_untouched():
    model, x = small_cnn().eval(), torch.rand(1, 3, 16, 16)
    with Untouched(model):
        rec = record_layers(model, x, LAYERS)
        expected = by_hand(model, x, LAYERS)
        assert rec.layers == ("conv", "bn", "conv2", "pool") and rec.passes == 1  # the head has no (C, H, W)
        for name in rec.layers:
            torch.testing.assert_close(rec.maps(name), expected[name], **BF16)
        assert rec.passes == 1  # switching layers ran no forward pass


def test_an_in_place_rectifier_after_a_layer_does_not_change_its_recorded_maps():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 3)).eval()
    x = torch.randn(1, 3, 12, 12)
    maps = record_layers(model, x, ["0", "2"]).maps("0")
    torch.testing.assert_close(maps, model[0](x)[0].detach(), **BF16)
    assert float(maps.min()) < 0  # the values before the ReLU, negatives included


def test_channel_statistics_are_the_mean_the_max_and_the_share_above_zero():
    model = nn.Sequential(nn.Identity())
    x = torch.tensor([[[[1.0, -1.0], [3.0, 0.0]], [[-2.0, -2.0], [-2.0, -4.0]]]])  # (1, 2, 2, 2)
    stats = record_layers(model, x, ["0"]).stats("0")
    torch.testing.assert_close(stats.mean, torch.tensor([0.75, -2.5]))
    torch.testing.assert_close(stats.max, torch.tensor([3.0, -2.0]))
    torch.testing.assert_close(stats.active, torch.tensor([0.5, 0.0]))


def test_beyond_the_budget_the_least_recently_used_maps_go_and_come_back_with_one_pass():
    model, x = small_cnn().eval(), torch.rand(1, 3, 16, 16)
    sizes = {name: maps.numel() * 2 for name, maps in by_hand(model, x, ["conv", "bn", "conv2", "pool"]).items()}
    budget = sizes["conv2"] + sizes["pool"]  # room for the last two layers only
    rec = record_layers(model, x, ["conv", "bn", "conv2", "pool"], budget=budget)
    assert rec.held == ["conv2", "pool"] and rec.nbytes <= budget and rec.peak <= budget + sizes["conv"]
    expected = by_hand(model, x, ["conv"])["conv"]
    torch.testing.assert_close(rec.maps("conv"), expected, **BF16)  # evicted: recorded again
    assert rec.passes == 2 and rec.held == ["pool", "conv"] and rec.nbytes <= budget
    assert set(rec.layers) == {"conv", "bn", "conv2", "pool"}
    torch.testing.assert_close(rec.stats("bn").max, by_hand(model, x, ["bn"])["bn"].flatten(1).max(1).values, **BF16)


def test_bad_layers_and_images_are_named():
    model = small_cnn().eval()
    rec = record_layers(model, torch.rand(1, 3, 16, 16), LAYERS)
    with pytest.raises(LayerError, match=r"'head' has no recorded \(C, H, W\) maps; the recorded layers are: conv, bn"):
        rec.maps("head")
    with pytest.raises(LayerError, match=r"unknown layer 'conv3'"):
        record_layers(model, torch.rand(1, 3, 16, 16), ["conv3"])
    with pytest.raises(
        LayerError, match=r"x must be one normalised image \(1, C, H, W\), got torch.Size\(\[2, 3, 16, 16\]\)"
    ):
        record_layers(model, torch.rand(2, 3, 16, 16), ["conv"])
