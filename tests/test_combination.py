"""A deeper unit as a combination of the filters below (engine.combination), against sums written out by hand,
against the linear network's own response, and against the kernel measured pixel by pixel (brute force)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz_widgets.engine.combination import filter_combination
from cnnviz_widgets.engine.errors import LayerError

from .conftest import Untouched, mixed_state


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
    assert combo.below == "0" and combo.chain == ("0", "2")
    assert combo.channels.tolist() == w2.flatten(1).norm(dim=1).argsort(descending=True).tolist()
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


def measured(linear: nn.Module, unit: int, channels: int, size: int, at: int = 0) -> torch.Tensor:
    """The kernel of ``linear`` (a network without nonlinearities) measured pixel by pixel: how much unit ``unit``
    at output position ``(at, at)`` moves when one input pixel is 1 instead of 0, for every pixel of a
    ``(channels, size, size)`` input."""
    pixels = torch.eye(channels * size * size).view(-1, channels, size, size)
    with torch.no_grad():
        moved = linear(pixels) - linear(torch.zeros(1, channels, size, size))
    return moved[:, unit, at, at].view(channels, size, size)


def assert_responds_like(linear: nn.Module, kernel: torch.Tensor, unit: int, stride: int) -> None:
    """``f(x) - f(0) == <kernel, patch of x>`` at every position of a random input, and at one written out."""
    x = torch.randn(1, kernel.shape[0], 40, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        response = (linear(x) - linear(torch.zeros_like(x)))[0, unit]
    side = kernel.shape[-1]
    patch = x[0, :, stride * 2 : stride * 2 + side, stride * 3 : stride * 3 + side]
    assert float((kernel * patch).sum()) == pytest.approx(float(response[2, 3]), rel=1e-4, abs=1e-5)
    torch.testing.assert_close(F.conv2d(x, kernel[None], stride=stride)[0, 0], response, rtol=1e-4, atol=1e-5)


def without(model: nn.Sequential, *kinds: type) -> nn.Sequential:
    """``model``'s layers but those of ``kinds`` (the nonlinearities): the linear network a combination ignores
    them in (the same modules, so the same weights)."""
    return nn.Sequential(*(m for m in model if not isinstance(m, kinds))).eval()


def test_a_three_convolution_chain_with_a_strided_depthwise_convolution_is_the_linear_networks_kernel():
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 6, 3, stride=2, groups=6), nn.ReLU(), nn.Conv2d(6, 4, 3)
    ).eval()
    with Untouched(model):
        combo = filter_combination(model, "4", 1)
    linear = without(model, nn.ReLU)
    side = 1 + 2 + 2 + 2 * 2  # each 3x3 adds 2 pixels, times the stride below it
    assert combo.chain == ("0", "2", "4") and combo.below == "0" and combo.kernel.shape == (3, side, side)
    torch.testing.assert_close(combo.kernel, measured(linear, 1, 3, side), rtol=1e-4, atol=1e-6)
    assert_responds_like(linear, combo.kernel, 1, stride=2)


def test_grouped_and_dilated_convolutions_and_top_in_the_units_group():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(4, 6, 3, groups=2),
        nn.Tanh(),
        nn.Conv2d(6, 6, 3, stride=2, dilation=2, groups=3),
        nn.GELU(),
        nn.Conv2d(6, 4, 2, dilation=2, groups=2),
    ).eval()
    combo = filter_combination(model, "4", 3, input_shape=(4, 32, 32))  # the default probe has 3 channels
    linear = without(model, nn.Tanh, nn.GELU)
    side = 1 + 2 + 2 * 2 + 1 * 2 * 2  # (k - 1) * dilation, times the stride below
    assert combo.kernel.shape == (4, side, side)
    torch.testing.assert_close(combo.kernel, measured(linear, 3, 4, side), rtol=1e-4, atol=1e-6)
    assert_responds_like(linear, combo.kernel, 3, stride=2)
    w = model[4].weight.detach()[3]  # unit 3 is in the second group: it reads channels 3, 4, 5
    norms = w.flatten(1).norm(dim=1)
    order = norms.argsort(descending=True)
    assert combo.channels.tolist() == (3 + order).tolist()
    torch.testing.assert_close(combo.strength, norms[order])
    two = filter_combination(model, "4", 3, top=2, input_shape=(4, 32, 32))
    weakest = copy.deepcopy(linear)
    with torch.no_grad():
        weakest[2].weight[3, order[2]] = 0  # the unit without its weakest channel
    assert two.channels.tolist() == (3 + order[:2]).tolist()
    torch.testing.assert_close(two.kernel, measured(weakest, 3, 4, side), rtol=1e-4, atol=1e-6)
    with pytest.raises(LayerError, match=r"top must be a number in 1\.\.3, got 4"):
        filter_combination(model, "4", 3, top=4, input_shape=(4, 32, 32))


def batch_norm(channels: int, seed: int) -> nn.BatchNorm2d:
    torch.manual_seed(seed)
    bn = nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.3, 3)
        bn.weight.uniform_(-2, 2)  # a negative scale flips a channel
        bn.bias.uniform_(-1, 1)
    return bn


def test_batch_norms_on_the_chain_and_after_the_unit_are_folded_in_eval_mode():
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3),
        batch_norm(5, 1),
        nn.ReLU6(),
        nn.Conv2d(5, 5, 3, stride=2, groups=5),
        batch_norm(5, 2),
        nn.SiLU(),
        nn.Conv2d(5, 3, 1),
        batch_norm(3, 3),
    )
    mixed_state(model)  # the user's train mode: the combination still uses the running statistics
    with Untouched(model):
        folded = filter_combination(model, "6", 2)
        raw = filter_combination(model, "6", 2, fold=False)
    side = 1 + 2 + 2
    linear = without(model, nn.ReLU6, nn.SiLU)
    torch.testing.assert_close(folded.kernel, measured(linear, 2, 3, side), rtol=1e-4, atol=1e-6)
    assert_responds_like(linear, folded.kernel, 2, stride=2)
    convs = without(model, nn.ReLU6, nn.SiLU, nn.BatchNorm2d)
    torch.testing.assert_close(raw.kernel, measured(convs, 2, 3, side), rtol=1e-4, atol=1e-6)


class Residual(nn.Module):
    """A stem, a residual block and a head; the modules are registered in another order than they run."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.head = nn.Conv2d(4, 2, 3)
        self.b = nn.Conv2d(4, 4, 1)
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.stem = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, x, linear: bool = False):
        act = (lambda t: t) if linear else torch.relu
        x = self.stem(x)
        y = self.b(act(self.a(act(x)))) + x
        return self.head(act(y))


def test_a_residual_block_is_followed_on_its_main_path_in_the_order_the_convolutions_run():
    model = Residual().eval()
    combo = filter_combination(model, "head", 1)
    assert combo.chain == ("stem", "a", "b", "head")
    side = 3 + 2 * 2 + 2 * 2  # stem 3x3, then two 3x3 at stride 2 (b is 1x1)

    def main_path(x):  # the linear network without the skip connection
        return model.head(model.b(model.a(model.stem(x))))

    # away from the border: the head's unit at (2, 2) reads 'a' from (2, 2), which reads the stem from (1, 1)
    # ('a' pads by 1), which reads the input from (2, 2) (stride 2); everywhere else the response is 0
    kernel = measured(main_path, 1, 3, side + 8, at=2)
    corner = 2
    torch.testing.assert_close(combo.kernel, kernel[:, corner : corner + side, corner : corner + side])
    assert float(kernel.abs().sum()) == pytest.approx(float(combo.kernel.abs().sum()), rel=1e-5)
    above = filter_combination(model, "head", 1, below="a")
    assert above.chain == ("a", "b", "head") and above.below == "a" and above.kernel.shape == (4, 5, 5)

    def from_a(z):
        return model.head(model.b(model.a(z)))

    torch.testing.assert_close(above.kernel, measured(from_a, 1, 4, 5 + 2, at=1)[:, :5, :5])


def test_a_max_pool_on_the_path_is_named_and_below_starts_after_it():
    torch.manual_seed(7)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3), nn.Conv2d(5, 2, 1))
    with pytest.raises(LayerError, match=r"the path to '4' passes max_pool2d \(after '0'\), which no chain of kernels "
                       r"crosses; start the chain after it with below= one of: 3, 4"):  # fmt: skip
        filter_combination(model, "4", 0)
    combo = filter_combination(model, "4", 0, below="3")
    assert combo.chain == ("3", "4") and combo.kernel.shape == (4, 3, 3)
    torch.testing.assert_close(combo.kernel, measured(nn.Sequential(model[3], model[4]), 0, 4, 3))
    assert combo.barrier is None
    furthest = filter_combination(model, "4", 0, furthest=True)  # as far down as kernels compose: from '3'
    assert furthest.chain == ("3", "4") and furthest.barrier == "max_pool2d"
    torch.testing.assert_close(furthest.kernel, combo.kernel)
    assert filter_combination(model, "0", 1, furthest=True).barrier is None  # no pool below: from the input
    own = filter_combination(model, "3", 4, below="3")  # a chain of one: the unit's own filter
    assert own.chain == ("3",)
    torch.testing.assert_close(own.kernel, model[3].weight.detach()[4])


def test_the_default_models_depthwise_units_have_their_receptive_fields_size(default_net):
    fields = {record.name: record.receptive_field for record in default_net.layers()}
    with Untouched(default_net.model):
        second = filter_combination(default_net, "_blocks.1._depthwise_conv", 7)
        later = filter_combination(default_net, "_blocks.3._depthwise_conv", 0)  # past block 2's residual sum
        first = filter_combination(default_net, "_blocks.0._depthwise_conv", 5)
    for combo in (second, later, first):
        size = fields[combo.layer]
        assert combo.chain[0] == "_conv_stem" and combo.kernel.shape == (3, *map(int, size.size))
        assert combo.channels.tolist() == [combo.unit]  # a depthwise unit reads its own channel
    assert second.kernel.shape == (3, 11, 11) and later.kernel.shape == (3, 35, 35)
    assert second.chain[1:] == (
        "_blocks.0._depthwise_conv", "_blocks.0._project_conv", "_blocks.1._expand_conv", "_blocks.1._depthwise_conv"
    )  # fmt: skip
    # the first depthwise unit, summed by hand: K[:, 2j + i] = s1 w_dw[j] * s0 W_stem[:, i], each batch norm's
    # scale gamma / sqrt(var + eps) (the stem and depthwise conv are TF-"SAME" wrappers calling F.conv2d)
    model = default_net.model
    bn0, bn1 = model._bn0, model._blocks[0]._bn1
    s0 = float(bn0.weight.detach()[5] / torch.sqrt(bn0.running_var[5] + bn0.eps))
    s1 = float(bn1.weight.detach()[5] / torch.sqrt(bn1.running_var[5] + bn1.eps))
    stem, dw = model._conv_stem.weight.detach()[5], model._blocks[0]._depthwise_conv.weight.detach()[5, 0]
    by_hand = torch.zeros(3, 7, 7)
    for jy in range(3):
        for jx in range(3):
            by_hand[:, 2 * jy : 2 * jy + 3, 2 * jx : 2 * jx + 3] += s1 * float(dw[jy, jx]) * s0 * stem
    torch.testing.assert_close(first.kernel, by_hand, rtol=1e-4, atol=1e-6)


def test_bad_units_and_convolutions_are_named():
    model = two_layers()
    with pytest.raises(LayerError, match=r"unit must be a number in 0\.\.1, got 2"):
        filter_combination(model, "2", 2)
    with pytest.raises(LayerError, match=r"'1' is a Identity, not a convolution \(nn.Conv2d\); the convolutions are: "):
        filter_combination(model, "1", 0)
    with pytest.raises(LayerError, match=r"'2' is not a convolution on the path from the input to '0'; those are: 0"):
        filter_combination(model, "0", 0, below="2")
    with pytest.raises(LayerError, match=r"a zero input of shape \(3, 3, 3\) \(C, H, W\) did not pass the model"):
        filter_combination(model, "2", 0, input_shape=(3, 3, 3))
