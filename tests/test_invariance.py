"""Invariance curves (engine.invariance): the transforms against torch.roll, torch.rot90, average pooling and
torchvision's own affine warps; the curves against a brute-force loop, one image at a time, through a copy of the
model hooked here by hand."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from cnnviz_widgets.engine.errors import ImageError, LayerError, SettingError
from cnnviz_widgets.engine.invariance import (
    DEFAULT_AMOUNTS,
    TRANSFORMS,
    invariance_curves,
    invariance_steps,
    transformed,
)
from cnnviz_widgets.engine.replica import replica

from .conftest import Untouched, hook_count, seeded_image, small_cnn

CLOSE = dict(rtol=1e-4, atol=1e-5)
"""Bilinear sampling at (almost exactly) whole pixels: float32 rounding of the sampling grid, no more."""


def shifted(x: torch.Tensor, pixels: int) -> torch.Tensor:
    """``x`` moved ``pixels`` to the right, zeros coming in: torch.roll with the wrapped columns cleared."""
    out = torch.roll(x, pixels, dims=-1)
    if pixels > 0:
        out[..., :pixels] = 0
    elif pixels < 0:
        out[..., pixels:] = 0
    return out


def turned(x: torch.Tensor, degrees: int) -> torch.Tensor:
    """``x`` (square) rotated counter-clockwise by a multiple of 90 degrees."""
    return torch.rot90(x, degrees // 90, dims=(-2, -1))


def halved(x: torch.Tensor) -> torch.Tensor:
    """``x`` zoomed out by 2 about its centre: each output pixel the mean of a 2x2 block, a zero border around."""
    h, w = x.shape[-2:]
    return F.pad(F.avg_pool2d(x, 2), (w // 4, w // 4, h // 4, h // 4))


def by_hand(model: nn.Module, images, layers, target=None):
    """Distances and probabilities, one image at a time through a hooked copy of ``model``: images[0] is the
    original."""
    twin = copy.deepcopy(model).eval()
    seen = {}
    for name in layers:
        if name:
            twin.get_submodule(name).register_forward_hook(lambda _m, _i, o, name=name: seen.__setitem__(name, o))
    features, probs = [], []
    with torch.no_grad():
        for image in images:
            logits = twin(image)
            seen[""] = logits
            features.append([seen[name].flatten().double() for name in layers])
            probs.append(logits.double().softmax(dim=1)[0])
    target = int(probs[0].argmax()) if target is None else target
    distances = torch.tensor(
        [
            [float((f[i] - features[0][i]).norm() / features[0][i].norm()) for f in features[1:]]
            for i in range(len(layers))
        ]
    )
    return distances, torch.stack([p[target] for p in probs[1:]]).float(), target


def test_translation_is_a_shift_with_zeros_coming_in():
    x = seeded_image(2, 3, 10, 14)
    for pixels in (-5, -1, 3, 13):
        torch.testing.assert_close(transformed(x, "translate", pixels), shifted(x, pixels), **CLOSE)
    assert not transformed(x, "translate", 20).any()  # shifted out of the frame altogether


def test_rotation_by_right_angles_is_rot90_also_inside_a_wide_frame():
    x = seeded_image(1, 3, 12, 12)
    for degrees in (90, 180, 270, -90):
        torch.testing.assert_close(transformed(x, "rotate", degrees), turned(x, degrees % 360), **CLOSE)
    wide = seeded_image(1, 2, 6, 10)  # pixels stay square: rotate inside a 10x10 canvas, keep its middle 6 rows
    canvas = F.pad(wide, (0, 0, 2, 2))
    torch.testing.assert_close(transformed(wide, "rotate", 90), turned(canvas, 90)[..., 2:8, :], **CLOSE)


def test_zooming_out_by_two_averages_2x2_blocks_inside_a_zero_border():
    x = seeded_image(1, 3, 16, 12)
    torch.testing.assert_close(transformed(x, "scale", 0.5), halved(x), **CLOSE)


@pytest.mark.parametrize(
    "transform, amount, theirs",
    [
        ("rotate", 30, lambda x: TF.rotate(x, 30, interpolation=InterpolationMode.BILINEAR, fill=0.0)),
        ("rotate", -135, lambda x: TF.rotate(x, -135, interpolation=InterpolationMode.BILINEAR, fill=0.0)),
        ("scale", 1.3, lambda x: TF.affine(x, 0.0, [0, 0], 1.3, [0.0, 0.0], InterpolationMode.BILINEAR, fill=0.0)),
        ("scale", 0.7, lambda x: TF.affine(x, 0.0, [0, 0], 0.7, [0.0, 0.0], InterpolationMode.BILINEAR, fill=0.0)),
        ("translate", 2.5, lambda x: TF.affine(x, 0.0, [2.5, 0], 1.0, [0.0, 0.0], InterpolationMode.BILINEAR)),
    ],
)
def test_any_amount_agrees_with_torchvision_where_the_whole_picture_is_image(transform, amount, theirs):
    """torchvision blends its fill in with a mask of its own, which differs at the border: compare inside it."""
    for shape in ((1, 3, 16, 16), (1, 3, 12, 20)):
        x = seeded_image(*shape)
        inside = theirs(torch.ones(shape)) > 1 - 1e-6
        assert inside.float().mean() > 0.3
        torch.testing.assert_close(transformed(x, transform, amount)[inside], theirs(x)[inside], **CLOSE)


def test_the_identity_is_an_exact_copy_and_in_every_default_range():
    x = seeded_image(1, 3, 9, 11)
    for transform, amount in (("translate", 0), ("scale", 1.0), ("rotate", 0), ("rotate", 360), ("rotate", -720)):
        out = transformed(x, transform, amount)
        assert torch.equal(out, x) and out.data_ptr() != x.data_ptr()
    assert 0.0 in DEFAULT_AMOUNTS["translate"] and 1.0 in DEFAULT_AMOUNTS["scale"] and 0.0 in DEFAULT_AMOUNTS["rotate"]


@pytest.mark.parametrize(
    "transform, amounts, identity, make",
    [
        ("translate", [-3, 0, 2, 5, 1], [1], lambda x, a: shifted(x, int(a))),
        ("rotate", [90, 0, 180, 270, 360], [1, 4], lambda x, a: turned(x, int(a) % 360)),
        ("scale", [0.5, 1.0], [1], lambda x, a: halved(x) if a == 0.5 else x),
    ],
)
def test_the_curves_match_a_brute_force_loop_and_the_model_is_untouched(transform, amounts, identity, make):
    model, x = small_cnn().eval(), seeded_image(1, 3, 16, 16)
    layers = ["bn", "conv2", "pool", ""]
    with Untouched(model):
        result = invariance_curves(model, x, layers, transform, amounts, batch=2)
    distances, probability, target = by_hand(model, [x] + [make(x, a) for a in amounts], layers)
    assert result.layers == tuple(layers) and result.target == target and result.done == len(amounts)
    assert result.amounts.tolist() == [float(a) for a in amounts] and result.distances.dtype == torch.float32
    torch.testing.assert_close(result.distances, distances.float(), **CLOSE)
    torch.testing.assert_close(result.probability, probability, **CLOSE)
    moved = [k for k in range(len(amounts)) if k not in identity]
    assert (result.distances[:, identity] == 0).all() and (result.distances[:, moved] > 0).all()


def test_the_default_ranges_run_with_exactly_zero_at_the_identity():
    model, x = small_cnn().eval(), seeded_image(1, 3, 16, 16)
    for transform in TRANSFORMS:
        result = invariance_curves(model, x, "conv", transform, batch=16)
        assert result.amounts.tolist() == list(DEFAULT_AMOUNTS[transform]) and result.distances.shape[0] == 1
        assert torch.isfinite(result.distances).all()
        zero = result.amounts[result.distances[0] == 0].tolist()
        assert zero == {"translate": [0.0], "scale": [1.0], "rotate": [0.0, 360.0]}[transform]


def test_a_chosen_class_reports_its_probability_and_default_is_the_top_class():
    model, x = small_cnn().eval(), seeded_image(1, 3, 16, 16)
    with torch.no_grad():
        probs = model(x).softmax(dim=1)[0]
    top = invariance_curves(model, x, "pool", "rotate", [0, 45])
    other = invariance_curves(model, x, "pool", "rotate", [0, 45], target=3)
    assert top.target == int(probs.argmax()) and other.target == 3
    assert float(top.probability[0]) == pytest.approx(float(probs.max()), rel=1e-6)
    assert float(other.probability[0]) == pytest.approx(float(probs[3]), rel=1e-6)
    torch.testing.assert_close(top.distances, other.distances)


def test_updates_fill_the_curves_batch_by_batch_and_stopping_leaves_nothing_behind():
    model, x = small_cnn().eval(), seeded_image(1, 3, 16, 16)
    amounts = [0, 10, 20, 30, 40, 50, 60]  # the identity, then 6 images in batches of 4 and 2
    updates = list(invariance_steps(model, x, ["conv", ""], "rotate", amounts, batch=4))
    assert [u.fraction for u in updates] == [1 / 7, 5 / 7, 1.0]
    first, second = updates[0].result, updates[1].result
    assert first.done == 1 and first.distances[:, 0].eq(0).all() and first.distances[:, 1:].isnan().all()
    assert second.probability[:5].isfinite().all() and second.probability[5:].isnan().all()
    torch.testing.assert_close(second.distances[:, :5], updates[-1].result.distances[:, :5])

    with Untouched(model):
        steps = invariance_steps(model, x, ["conv", "pool"], "translate", list(range(-8, 9)), batch=2)
        next(steps)
        next(steps)
        steps.close()
    assert hook_count(replica(model)) == 0


class PairThenCNN(nn.Module):
    """A small CNN behind a layer that returns a tuple."""

    def __init__(self):
        super().__init__()
        self.pair = Pair()
        self.cnn = small_cnn()

    def forward(self, x):
        return self.cnn(self.pair(x)[0])


class Pair(nn.Module):
    def forward(self, x):
        return x, x


def test_bad_requests_name_the_valid_choices():
    model, x = small_cnn().eval(), seeded_image(1, 3, 12, 12)
    with Untouched(model):
        with pytest.raises(LayerError, match="valid layers: .*conv2"):
            invariance_curves(model, x, ["conv", "conv3"])
        with pytest.raises(LayerError, match="layer name or a non-empty list"):
            invariance_curves(model, x, [])
        with pytest.raises(SettingError, match="transform must be one of: translate, scale, rotate"):
            invariance_curves(model, x, "conv", "shear")
        with pytest.raises(SettingError, match="transform must be one of"):
            transformed(x, "flip", 1)
        for amounts in ([[1, 2]], [], [1, math.nan], "abc", [True, False], [1, None]):
            with pytest.raises(SettingError, match="amounts must be"):
                invariance_curves(model, x, "conv", "rotate", amounts)
        with pytest.raises(SettingError, match="zoom factors and must be > 0"):
            invariance_curves(model, x, "conv", "scale", [1, 0])
        with pytest.raises(SettingError, match=r"target must be a number in 0\.\.9"):
            invariance_curves(model, x, "conv", target=10)
        with pytest.raises(SettingError, match="batch"):
            invariance_curves(model, x, "conv", batch=0)
        with pytest.raises(ImageError, match="one image"):
            invariance_curves(model, x.repeat(2, 1, 1, 1), "conv")
    with pytest.raises(LayerError, match="not a tensor"):
        invariance_curves(PairThenCNN().eval(), x, "pair", "rotate", [0, 90])
