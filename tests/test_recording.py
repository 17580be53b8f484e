"""Recording every layer's maps in one pass (engine.recording), against forward passes hooked here by hand.

The maps are held as bfloat16 (8 significant bits), so they match to its precision."""

from __future__ import annotations

import copy
import gc

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


class Residual(nn.Module):
    """conv -> bn -> relu (in place) -> conv2 -> bn2, then ``out += x`` in place and a ReLU called a second time:
    ResNet's block in small, every in-place operation after a recorded layer."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        self.conv2, self.bn2 = nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn(self.conv(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class Doubles(nn.Module):
    """Doubles its input in place and returns it: a module that changes the previous layer's output."""

    def forward(self, x):
        return x.mul_(2)


def residual_net() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), Residual(), Residual()).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)  # outputs of both signs, so the ReLUs change them
    return model


def every_layer(model: nn.Module) -> list:
    return [name for name, _ in model.named_modules() if name]


def test_the_version_counter_shows_in_place_changes_under_no_grad():
    """What the recording relies on to tell an output changed in place from one that is not."""
    t = torch.zeros(1, 2, 3, 3)
    before = t._version
    with torch.no_grad():
        t += 1
        t.relu_()
    assert t._version == before + 2


def test_in_place_residual_adds_and_reused_rectifiers_leave_every_layer_as_a_hand_hooked_pass_saw_it():
    model, x = residual_net(), torch.randn(1, 3, 10, 10)
    layers = every_layer(model)
    with Untouched(model):
        rec = record_layers(model, x, layers)
    expected = by_hand(model, x, layers)
    assert set(rec.layers) == set(layers) and rec.passes == 1
    for name in layers:  # the ReLU's maps are its last call's (after ``out += x``), the bn2's those before it
        torch.testing.assert_close(rec.maps(name), expected[name], **BF16)
    assert float(rec.maps("1.bn2").min()) < 0 and float(rec.maps("1.relu").min()) == 0
    assert not torch.equal(rec.maps("1.bn2").clamp(min=0), rec.maps("1.relu"))  # the add came in between


def test_a_module_that_changes_its_input_in_place_does_not_change_the_previous_layers_maps():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), Doubles(), nn.Identity()).eval()
    x = torch.randn(1, 3, 8, 8)
    rec = record_layers(model, x, ["0", "1", "2"])
    conv = model[0](x)[0].detach()
    torch.testing.assert_close(rec.maps("0"), conv, **BF16)
    torch.testing.assert_close(rec.maps("1"), 2 * conv, **BF16)
    torch.testing.assert_close(rec.maps("2"), 2 * conv, **BF16)


def test_layers_with_the_same_output_share_one_copy_and_the_budget_counts_it_once():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 4, 3)), nn.Identity(), nn.Conv2d(4, 2, 3)).eval()
    x = torch.randn(1, 3, 10, 10)
    inner, last = 4 * 8 * 8 * 2, 2 * 6 * 6 * 2  # bytes of the two distinct bfloat16 outputs
    rec = record_layers(model, x, ["0.0", "0", "1", "2"])
    expected = by_hand(model, x, ["0.0", "2"])
    for name in ("0.0", "0", "1"):
        torch.testing.assert_close(rec.maps(name), expected["0.0"], **BF16)
    assert rec.nbytes == rec.peak == inner + last
    # room for the last layer only: the three layers sharing the first copy all go before its bytes do
    small = record_layers(model, x, ["0.0", "0", "1", "2"], budget=last)
    assert small.held == ["2"] and small.nbytes == last and small.peak == inner + last
    torch.testing.assert_close(small.maps("0"), expected["0.0"], **BF16)  # recorded again, one more pass
    assert small.passes == 2


@pytest.mark.parametrize(
    "rectifier",
    [nn.ReLU(), nn.ReLU(inplace=True), nn.ReLU6(), nn.Hardtanh(-0.3, 0.45), nn.LeakyReLU(0.1)],
    ids=["relu", "relu-inplace", "relu6", "hardtanh", "leaky"],
)
def test_a_rectifier_after_a_recorded_layer_has_its_own_output_as_maps(rectifier):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), rectifier, nn.Conv2d(4, 2, 1)).eval()
    x = 4 * torch.randn(1, 3, 9, 9)  # beyond ReLU6's 6 too
    rec = record_layers(model, x, ["0", "1", "2"])
    conv = model[0](x)[0].detach()
    torch.testing.assert_close(rec.maps("0"), conv, **BF16)  # before the rectifier, even an in-place one
    torch.testing.assert_close(rec.maps("1"), by_hand(model, x, ["1"])["1"], **BF16)
    stats = rec.stats("1")
    torch.testing.assert_close(stats.active, (rectifier(conv.clone()) > 0).float().flatten(1).mean(1))


def test_a_rectifier_whose_output_a_hook_changes_has_the_changed_output_as_maps():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    model[1].register_forward_hook(lambda _m, _i, out: out + 1)
    x = torch.randn(1, 3, 8, 8)
    maps = record_layers(model, x, ["0", "1"]).maps("1")
    torch.testing.assert_close(maps, model[0](x)[0].detach().relu() + 1, **BF16)


def test_an_inference_tensor_image_passed_through_is_recorded():
    model = nn.Sequential(nn.Identity(), nn.Conv2d(3, 2, 3)).eval()
    with torch.inference_mode():
        x = torch.rand(1, 3, 8, 8)
    rec = record_layers(model, x, ["0", "1"])
    torch.testing.assert_close(rec.maps("0"), x[0].clone(), **BF16)


class CountsHeldCopies(nn.Module):
    """Passes its input on and notes the bytes of every bfloat16 tensor alive in the process at that moment."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        alive = [o for o in gc.get_objects() if type(o) is torch.Tensor and o.dtype == torch.bfloat16]
        self.seen.append(sum(t.numel() * t.element_size() for t in alive))
        return x


def test_evicted_maps_are_freed_during_the_pass_so_the_peak_is_the_memory_taken():
    torch.manual_seed(0)
    probe = CountsHeldCopies()
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3), probe).eval()
    x = torch.randn(1, 3, 12, 12)
    first, second, last = (4 * n * n * 2 for n in (10, 8, 6))  # bfloat16 bytes; the ReLU shares the first
    gc.collect()
    rec = record_layers(model, x, ["0", "1", "2", "3"], budget=last)
    assert rec.held == ["3"] and rec.peak == first + second  # the first copy held until the second came
    assert probe.seen == [rec.nbytes] == [last]  # nothing evicted is still alive
