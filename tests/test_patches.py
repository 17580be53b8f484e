"""Top patches of a scan (engine.patches) against a brute-force receptive field: the support of one unit's input
gradient computed by autograd, on the image (the clipped box) and on a larger canvas that holds the whole field (the
unclipped one); padding exactly where the field leaves the image; the projection against the plain gradient of a
network without rectifiers (where deconvnet is the gradient). The scan is a stand-in with the spec'd attributes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import List

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnviz_widgets.engine import errors
from cnnviz_widgets.engine.errors import CnnvizWarning, LayerError, ScanError
from cnnviz_widgets.engine.model import Net, Preprocess
from cnnviz_widgets.engine.patches import PADDING, top_patches, top_patches_steps

from .conftest import Untouched, hook_count, mixed_state

STRIDES = {"0": 1, "1": 2, "2": 2, "3": 4}
"""Each layer's step in input pixels, by hand: only the pool (2) and the last conv (2) stride."""
MARGIN = 16
"""Canvas margin for the unclipped field: a multiple of every stride, wider than any field reaches out."""


def linear_net(seed: int = 0) -> nn.Sequential:
    """Padding, a pool, an even kernel, a strided conv; positive weights and no rectifier, so every pixel
    of a unit's field reaches it (the gradient's support is the whole field) and deconvnet is the plain gradient."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 4, 2, padding=1),
        nn.Conv2d(4, 3, 3, stride=2, padding=1),
    )
    with torch.no_grad():
        for p in model.parameters():
            p.abs_().add_(0.01)
    return model.eval()


def relu_net(seed: int = 1) -> nn.Sequential:
    """Random weights, rectifiers, a padded max pool and a dilation: gradients reach only part of a field (a
    dilated kernel's holes at the border would break the equality of the support's box and the clipped field)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(4, 5, 3, stride=2, dilation=2),
    ).eval()


def unit_gradient(model: nn.Sequential, layer: str, x: torch.Tensor, channel: int, y: int, x_: int) -> torch.Tensor:
    """d unit / d input (C, H, W) by autograd through the network's first layers."""
    x = x.clone().requires_grad_(True)
    model[: int(layer) + 1](x)[0, channel, y, x_].backward()
    return x.grad[0]


def support(grad: torch.Tensor):
    """(top, left, bottom, right) of the nonzero pixels, bottom and right exclusive."""
    rows = grad.abs().sum(dim=(0, 2)).nonzero().flatten()
    cols = grad.abs().sum(dim=(0, 1)).nonzero().flatten()
    return int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1


def pictures(count: int, height: int, width: int, seed: int = 0) -> List[np.ndarray]:
    """Random (H, W, 3) uint8 pictures without the padding grey, so padding can only come from the crop."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
    out[out == PADDING] = PADDING - 1
    return list(out)


def stand_in_scan(items, layer: str, channels: int, entries, input_shape, layers=None):
    """A scan with the spec'd attributes: ``entries`` [(channel, index, y, x, value)] in the top-k, k = 3."""
    k = 3
    values = torch.full((channels, k), float("-inf"))
    index = torch.full((channels, k), -1, dtype=torch.int64)
    ys, xs = torch.zeros_like(index), torch.zeros_like(index)
    filled = [0] * channels
    for c, i, y, x, v in entries:
        j = filled[c]
        values[c, j], index[c, j], ys[c, j], xs[c, j] = v, i, y, x
        filled[c] += 1
    source = SimpleNamespace(item=lambda i: items[i], names=[f"#{i}" for i in range(len(items))])
    return SimpleNamespace(
        layers=tuple(layers or (layer,)),
        k=k,
        input_shape=tuple(input_shape),
        names=[f"img{i}" for i in range(len(items))],
        top={layer: SimpleNamespace(values=values, index=index, y=ys, x=xs)},
        source=source,
    )


def edge_units(height: int, width: int):
    """Every unit within two of the map's border (whose fields are clipped), and the diagonal."""

    def near(i: int, n: int) -> bool:
        return min(i, n - 1 - i) < 2

    return [(y, x) for y in range(height) for x in range(width) if near(y, height) or near(x, width) or y == x]


@pytest.mark.parametrize("layer", ["0", "1", "2", "3"])
def test_boxes_and_fields_are_the_support_of_the_unit_s_gradient_on_the_image_and_on_a_larger_canvas(layer):
    model = linear_net()
    net = Net(model, Preprocess(size=18))
    photo = Image.fromarray(pictures(1, 18, 18)[0])
    x = net.preprocess.normalise(net.preprocess.view(photo))
    height, width = model[: int(layer) + 1](x).shape[-2:]
    canvas = torch.nn.functional.pad(x, (MARGIN,) * 4)
    shift = MARGIN // STRIDES[layer]
    picture = np.asarray(net.preprocess.view(photo))
    for y, x_ in edge_units(height, width):
        scan = stand_in_scan([photo], layer, 4 if layer != "3" else 3, [(1, 0, y, x_, 2.5)], (3, 18, 18))
        (patch,) = top_patches(net, scan, layer, 1, project=False)
        assert (patch.index, patch.name, patch.value, patch.y, patch.x) == (0, "img0", 2.5, y, x_)
        assert patch.projection is None
        assert patch.box == support(unit_gradient(model, layer, x, 1, y, x_)), (y, x_)
        top, left, bottom, right = support(unit_gradient(model, layer, canvas, 1, y + shift, x_ + shift))
        assert min(top, left) > 0 and max(bottom, right) < 18 + 2 * MARGIN  # the canvas holds the whole field
        assert patch.field == (top - MARGIN, left - MARGIN, bottom - MARGIN, right - MARGIN), (y, x_)
        # the crop: the model's view where the field is inside the image, padding exactly where it is not
        t, l_, b, r = patch.field
        assert patch.crop.shape == (b - t, r - l_, 3) and patch.crop.dtype == np.uint8
        rows, cols = np.arange(t, b), np.arange(l_, r)
        inside = ((rows >= 0) & (rows < 18))[:, None] & ((cols >= 0) & (cols < 18))[None, :]
        assert np.array_equal(np.all(patch.crop == PADDING, axis=2), ~inside), (y, x_)
        bt, bl, bb, br = patch.box
        assert np.array_equal(patch.crop[bt - t : bb - t, bl - l_ : br - l_], picture[bt:bb, bl:br])


@pytest.mark.parametrize("position", [(0, 0), (2, 1), (4, 3)])
def test_the_projection_is_the_unit_s_gradient_in_the_crop_s_frame_zero_grey_peak_black_or_white(position):
    model = linear_net(seed=3)
    items = [torch.randn(3, 18, 14, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    y, x_ = position
    scan = stand_in_scan(items, "3", 3, [(2, 1, y, x_, 1.0)], (3, 18, 14))
    with Untouched(model), pytest.warns(CnnvizWarning, match="found no rectifier"):
        (patch,) = top_patches(model, scan, "3", 2)
    grad = unit_gradient(model, "3", items[1][None], 2, y, x_).double()  # no rectifier: deconvnet = gradient
    t, l_, b, r = patch.field
    framed = torch.zeros(3, b - t, r - l_, dtype=torch.float64)
    bt, bl, bb, br = patch.box
    framed[:, bt - t : bb - t, bl - l_ : br - l_] = grad[:, bt:bb, bl:br]
    expected = torch.round(255 * (0.5 + 0.5 * framed / framed.abs().max())).permute(1, 2, 0).numpy()
    assert patch.projection.shape == patch.crop.shape and patch.projection.dtype == np.uint8
    assert np.abs(patch.projection.astype(int) - expected).max() <= 1
    assert patch.projection.min() == 0 or patch.projection.max() == 255  # the peak reaches black or white
    # the crop of a tensor item is its denormalised picture
    mean, std = torch.tensor((0.485, 0.456, 0.406)), torch.tensor((0.229, 0.224, 0.225))
    picture = (items[1] * std[:, None, None] + mean[:, None, None]).clamp(0, 1).permute(1, 2, 0).numpy()
    assert np.abs(patch.crop[bt - t : bb - t, bl - l_ : br - l_] - 255 * picture[bt:bb, bl:br]).max() <= 0.5 + 1e-4


def test_with_rectifiers_and_max_pooling_the_gradient_stays_inside_the_box():
    model = relu_net()
    net = Net(model, Preprocess(size=20))
    photos = [Image.fromarray(p) for p in pictures(3, 20, 20, seed=4)]
    entries = [
        (c, i, y, x_, 1.0) for c in range(5) for i, (y, x_) in enumerate([(0, 0), (2, 2), (1, 2)])
    ]  # a 3 x 3 map
    scan = stand_in_scan(photos, "3", 5, entries, (3, 20, 20))
    for c in range(5):
        patches = top_patches(net, scan, "3", c, rule="guided_backprop")
        assert [p.index for p in patches] == [0, 1, 2]
        for patch in patches:
            x = net.preprocess.normalise(net.preprocess.view(photos[patch.index]))
            top, left, bottom, right = support(unit_gradient(model, "3", x, c, patch.y, patch.x))
            bt, bl, bb, br = patch.box
            assert bt <= top and bl <= left and bottom <= bb and right <= br
            t, l_, b, r = patch.field
            assert (max(t, 0), max(l_, 0), min(b, 20), min(r, 20)) == patch.box
            assert (b - t, r - l_) == (13, 13)  # by hand: 3, + 2 (pool 3x3), + 2 * 2 * 2 (dilated 3x3 at stride 2)


def test_empty_entries_are_skipped_and_the_steps_report_progress():
    model = relu_net()
    photos = [Image.fromarray(p) for p in pictures(2, 20, 20)]
    scan = stand_in_scan(photos, "3", 5, [(4, 1, 0, 0, 3.0), (4, 0, 1, 1, 2.0)], (3, 20, 20))
    updates = list(top_patches_steps(Net(model, Preprocess(size=20)), scan, "3", 4, project=False))
    assert [u.fraction for u in updates] == [0.5, 1.0]
    assert [(p.index, p.value) for p in updates[-1].result] == [(1, 3.0), (0, 2.0)]
    assert top_patches(Net(model, Preprocess(size=20)), scan, "3", 0) == []  # channel 0 has no entries


def test_bad_requests_say_what_is_valid_and_leave_the_model_untouched():
    model = mixed_state(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)))
    net = Net(model, Preprocess(size=8))
    photos = [Image.fromarray(p) for p in pictures(1, 8, 8)]
    scan = stand_in_scan(photos, "0", 4, [(0, 0, 1, 1, 1.0)], (3, 8, 8), layers=("0", "3"))
    hooks = hook_count(model)
    with Untouched(model):
        top_patches(net, scan, "0", 0, project=False)
        with pytest.raises(LayerError, match=r"unknown layer 'conv9'"):
            top_patches(net, scan, "conv9", 0)
        with pytest.raises(ScanError, match=r"layer '1' has no top patches in this scan; choose one of: 0, 3"):
            top_patches(net, scan, "1", 0)
        with pytest.raises(ScanError, match=r"layer '3' gives shape \(2,\) per image; patches need a spatial layer"):
            top_patches(net, scan, "3", 0)
        with pytest.raises(LayerError, match=r"channel must be a number in 0\.\.3, got 4"):
            top_patches(net, scan, "0", 4)
        with pytest.raises(ScanError, match=r"rule must be one of: deconvnet, guided_backprop; got 'lrp'"):
            top_patches(net, scan, "0", 0, rule="lrp")
        with pytest.raises(ScanError, match=r"makes an input of shape \(3, 10, 10\), but the scan's was \(3, 8, 8\)"):
            top_patches(Net(model, Preprocess(size=10)), scan, "0", 0)
        scan.source = None
        with pytest.raises(ScanError, match=r"no source to fetch its images from .* pass the images again"):
            top_patches(net, scan, "0", 0)
    assert hook_count(model) == hooks


def test_deconvnet_says_when_its_projections_ignore_the_image():
    """Without max pooling the deconvnet rule never looks at the image (the same unit projects the same on any
    image): the engine says so; with max pooling its switches make the projections differ, and it says nothing."""
    photos = [Image.fromarray(p) for p in pictures(2, 20, 20, seed=5)]
    blind = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, stride=2)).eval()
    for model, layer, says in ((blind, "2", True), (relu_net(), "3", False)):
        net = Net(model, Preprocess(size=20))
        scan = stand_in_scan(photos, layer, 5, [(1, 0, 2, 2, 2.0), (1, 1, 2, 2, 1.0)], (3, 20, 20))
        with errors.collecting() as notes:
            patches = top_patches(net, scan, layer, 1)
        same = np.array_equal(patches[0].projection, patches[1].projection)
        assert same == says and bool(notes) == says, (layer, same, notes)
        assert not notes or "guided_backprop" in notes[0]
        with errors.collecting() as notes:
            top_patches(net, scan, layer, 1, rule="guided_backprop")
        assert not notes
