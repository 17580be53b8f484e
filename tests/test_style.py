"""Style transfer, texture synthesis and feature inversion (engine/style): losses against hand computations, the
loop's new knobs, Stop/Resume, the model untouched, bad input, and the quality judgements of issue 17."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import CnnvizError, LayerError
from cnnviz_widgets.engine.featurevis import FeatureVisError, Visualization
from cnnviz_widgets.engine.model import Net
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.style import (
    Content,
    Inversion,
    Preset,
    Style,
    Transfer,
    content_loss,
    features,
    gram_matrix,
    judge,
    luminance,
    smooth,
    style_loss,
    tv_loss,
)
from tests.conftest import Untouched


def tiny() -> Net:
    """Two 3x3 convolutions with ReLUs and a classifier, seeded: a CNN small enough for many runs."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    ).eval()  # fmt: skip
    return Net(model)


RECIPE = Preset(
    name="test", content=("3", 1.0), style=(("1", 500.0), ("3", 500.0)), tv=0.0, remedy="scale", size=32, steps=30,
    lr=0.05, space="unit",
)  # fmt: skip


def picture(seed: int, size=(32, 32)) -> torch.Tensor:
    return torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(seed))


def stripes(size: int = 48) -> Image.Image:
    """A colourful texture: diagonal red and blue stripes on yellow."""
    y, x = np.mgrid[:size, :size]
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[...] = (240, 220, 40)
    rgb[(x + y) % 12 < 4] = (200, 30, 30)
    rgb[(x - y) % 12 < 3] = (30, 60, 200)
    return Image.fromarray(rgb)


# -- losses against hand computations ---------------------------------------------------------------------------
def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # (1, C=2, H=1, W=2)
    expected = torch.tensor([[[1 + 4, 3 - 2], [3 - 2, 9 + 1]]]) / (2 * 1 * 2)
    assert torch.allclose(gram_matrix(f), expected)
    assert torch.allclose(gram_matrix(f, normalize=False), expected * 4)
    batch = torch.cat([f, 2 * f])
    assert torch.allclose(gram_matrix(batch)[1], 4 * expected[0])  # each image its own Gram


def test_content_and_style_losses_by_hand():
    a, b = picture(1, (4, 5)), picture(2, (4, 5))
    assert float(content_loss(0.3, a, b)) == pytest.approx(
        0.3 * sum(float((x - y) ** 2) for x, y in zip(a.flatten(), b.flatten())), rel=1e-5
    )
    feats = [picture(3, (4, 4)), picture(4, (2, 2))]
    targets = [gram_matrix(picture(5, (3, 3))), gram_matrix(picture(6, (2, 2)))]
    manual = 0.0
    for f, t, w in zip(feats, targets, (2.0, 7.0)):
        flat = f[0].reshape(3, -1)
        g = flat @ flat.T / flat.numel()
        manual += w * float(((g - t[0]) ** 2).sum())
    assert float(style_loss(feats, [0, 1], targets, [2.0, 7.0])) == pytest.approx(manual, rel=1e-5)


def test_tv_loss_by_hand():
    img = picture(7, (3, 4))
    total = 0.0
    for c, i, j in itertools.product(range(3), range(3), range(4)):
        if i + 1 < 3:
            total += float(img[0, c, i + 1, j] - img[0, c, i, j]) ** 2
        if j + 1 < 4:
            total += float(img[0, c, i, j + 1] - img[0, c, i, j]) ** 2
    assert float(tv_loss(img, 0.5)) == pytest.approx(0.5 * total, rel=1e-5)


def test_smooth_is_a_softmax_of_the_whole_map_with_mean_one():
    f = 3 * picture(8, (4, 4))
    s = smooth(f, 2.0)
    assert float(s.mean()) == pytest.approx(1.0, rel=1e-5)
    assert torch.allclose(s / s.sum(), torch.softmax(f.flatten() / 2.0, 0).reshape(f.shape), atol=1e-7)
    assert torch.allclose(smooth(f + 5.0, 2.0), s, atol=1e-5)  # a softmax ignores a common offset


def test_objectives_are_minus_their_weighted_losses():
    acts = {"x": picture(9, (4, 4))}
    target = picture(10, (4, 4))
    c = Content("x", target, 0.7)
    assert float(c(acts)) == pytest.approx(-float(content_loss(0.7, acts["x"], target)), rel=1e-6)
    assert float(c.last) == pytest.approx(float(content_loss(1.0, acts["x"], target)), rel=1e-6)
    g = gram_matrix(picture(11, (4, 4)))
    s = Style("x", g, 3.0, temperature=2.0)
    assert float(s(acts)) == pytest.approx(
        -3.0 * float(((gram_matrix(smooth(acts["x"], 2.0)) - g) ** 2).sum()), rel=1e-5
    )


# -- the loop's new knobs ---------------------------------------------------------------------------------------
def test_tv_sum_penalty_is_cs231n_tv_of_the_raw_values():
    net = tiny()
    vis = Visualization(
        net,
        "1",
        16,
        param="pixel",
        squash="clamp",
        decorrelate=False,
        space="normalized",
        transforms=False,
        tv_sum=0.5,
        rule="ascent",
        lr=0.1,
    )
    raw = vis.image_param.tensor.detach().clone()
    vis._step()
    assert vis.penalties["tv_sum"] == pytest.approx(float(tv_loss(raw, 1.0)), rel=1e-5)


def test_restarts_start_a_fresh_optimiser_at_the_new_rate():
    net = tiny()
    vis = Visualization(
        net, "1", 16, param="pixel", squash="clamp", decorrelate=False, transforms=False, lr=0.5, restarts={2: 0.01}
    )
    first = vis.optimizer
    last(vis.steps(2))
    assert vis.optimizer is first and first.param_groups[0]["lr"] == 0.5
    last(vis.steps(1))
    assert vis.optimizer is not first and vis.optimizer.param_groups[0]["lr"] == 0.01
    assert vis.optimizer.state[vis.image_param.tensor]["step"] == 1  # fresh: one step of its own
    with pytest.raises(FeatureVisError, match="adam"):
        Visualization(net, "1", 16, rule="ascent", restarts={2: 0.1})


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_adam_and_lbfgs_both_synthesise_a_texture(optimizer):
    run = Transfer(tiny(), None, stripes(), preset=RECIPE, size=32, init="noise", optimizer=optimizer, steps=60)
    last(run.steps(every=0))
    start, end = run.curves["style"][0], run.curves["style"][-1]
    assert end < start / 10, (optimizer, start, end)


# -- runs ----------------------------------------------------------------------------------------------------------
def test_stop_and_resume_equal_one_run():
    net = tiny()
    whole = Transfer(net, picture(1), [stripes()], preset=RECIPE)
    last(whole.steps(10, every=0))
    parts = Transfer(net, picture(1), [stripes()], preset=RECIPE)
    updates = parts.steps(10, every=0)
    for _ in range(4):
        next(updates)
    updates.close()  # Stop
    assert parts.step == 4
    last(parts.steps(6, every=0))  # Resume
    assert torch.equal(whole.image(), parts.image())
    assert whole.curves == parts.curves


def test_frames_carry_the_picture_and_the_weighted_terms():
    run = Transfer(tiny(), picture(1), [stripes()], preset=replace(RECIPE, tv=1e-3), steps=6)
    frames = [u.result for u in run.steps(every=3) if u.result is not None]
    assert [f.step for f in frames] == [3, 6]
    assert torch.equal(frames[-1].image, run.image())
    losses = frames[-1].losses
    assert losses["total"] == pytest.approx(losses["content"] + losses["style"] + losses["tv"])
    assert losses["tv"] > 0 and len(run.curves["total"]) == 6


def test_the_model_is_untouched(default_net):
    with Untouched(default_net.model):
        run = Transfer(default_net, cw.sample_image("cat"), [stripes()], size=64, steps=2)
        last(run.steps())
        last(Inversion(default_net, cw.sample_image("cat"), ["_blocks.0"], size=64, steps=2).steps())


def test_blended_styles_match_the_weighted_mean_of_their_grams():
    net = tiny()
    a, b = stripes(), Image.new("RGB", (48, 48), (20, 200, 90))
    run = Transfer(net, None, [a, b], style_weights=[3, 1], preset=RECIPE, size=32)
    style = [t for t in run.terms if t.kind == "style" and t.layer == "1"][0]
    ga = gram_matrix(features(net, run.styles[0], ["1"])["1"])
    gb = gram_matrix(features(net, run.styles[1], ["1"])["1"])
    assert torch.allclose(style.target, 0.75 * ga + 0.25 * gb, atol=1e-6)


def test_keep_colors_keeps_the_content_chroma():
    run = Transfer(tiny(), picture(3), [stripes()], preset=RECIPE, keep_colors=True, steps=5)
    last(run.steps())
    out = run.image()
    inside = ((out > 0.01) & (out < 0.99)).all(1, keepdim=True)  # where nothing was clipped
    chroma_out, chroma_in = out - luminance(out), run.content - luminance(run.content)
    assert torch.allclose((chroma_out - chroma_in)[inside.expand_as(out)], torch.zeros(1), atol=1e-5)
    assert not torch.allclose(luminance(out), luminance(run.content), atol=1e-3)  # the lightness did change


# -- bad input -----------------------------------------------------------------------------------------------------
def test_bad_input_gets_clear_messages():
    net = tiny()
    with pytest.raises(FeatureVisError, match="nothing to match"):
        Transfer(net, None, [])
    with pytest.raises(FeatureVisError, match="stay the noise"):
        Transfer(net, None, [stripes()], preset=RECIPE, balance=0)
    with pytest.raises(LayerError, match="choose among|valid|Available|layers"):
        Transfer(net, picture(1), [stripes()], preset=replace(RECIPE, style=(("nope", 1.0),)))
    with pytest.raises(LayerError, match="no spatial"):
        Transfer(net, picture(1), [stripes()], preset=replace(RECIPE, style=(("6", 1.0),)))
    with pytest.raises(FeatureVisError, match="2 weights for 1 style"):
        Transfer(net, picture(1), [stripes()], style_weights=[1, 2], preset=RECIPE)
    with pytest.raises(CnnvizError, match="init"):
        Transfer(net, picture(1), [stripes()], preset=RECIPE, init="zeros")
    with pytest.raises(CnnvizError, match="optimizer"):
        Transfer(net, picture(1), [stripes()], preset=RECIPE, optimizer="sgd")


def test_a_style_of_another_size_or_mode_is_converted_with_a_note():
    grey = stripes(80).convert("L")
    run = Transfer(tiny(), picture(1), [grey], preset=RECIPE)
    assert tuple(run.styles[0].shape) == (1, 3, 32, 32)
    assert any("was L" in note for note in run.notes) and any("resized from 80x80 to 32x32" in n for n in run.notes)


# -- quality (issue 17's judgements) -------------------------------------------------------------------------------
@pytest.mark.slow
def test_texture_synthesis_lowers_the_gram_loss_tenfold_on_the_default_model(default_net):
    run = Transfer(default_net, None, cw.sample_image("coffee"), size=96, init="noise", steps=100)
    last(run.steps(every=0))
    assert run.curves["style"][-1] < run.curves["style"][0] / 10


@pytest.mark.slow
def test_inversion_reconstructs_from_early_layers_and_less_with_depth(default_net):
    inv = Inversion(default_net, cw.sample_image("cat"), ["_conv_stem", "_blocks.2", "_blocks.7"], size=96, steps=150)
    last(inv.steps(every=0))
    quality = inv.psnr()
    assert quality[0] >= 20, quality
    assert quality[0] > quality[1] > quality[2], quality


@pytest.mark.slow
def test_style_transfer_moves_halfway_to_the_style_and_keeps_the_content(default_net):
    run = Transfer(default_net, cw.sample_image("cat"), [stripes(96)], size=128)
    last(run.steps(every=0))
    verdict = judge(run.image(), run.content, run.styles[0])
    assert verdict.style_progress >= 0.5, verdict
    assert verdict.content_kept, verdict


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_the_models_device():
    net = Net(tiny().model.cuda())
    run = Transfer(net, picture(1), [stripes()], preset=RECIPE, steps=3)
    last(run.steps())
    inversion = Inversion(net, picture(1), ["1"], size=32, steps=2)
    last(inversion.steps())
    assert run.image().device.type == "cpu" and inversion.images()[0].device.type == "cpu"


# -- review findings -------------------------------------------------------------------------------------------------
def test_a_remedy_that_changes_the_weights_units_uses_the_models_relative_weights():
    """cs231n's absolute weights compared as relative errors would make style ~10^6 times heavier: switching an
    absolute recipe to 'scale' takes the relative recipe's weights on the same layers instead."""
    net = tiny()
    absolute = replace(RECIPE, remedy="none", content=("3", 6e-2), style=(("1", 3e5), ("3", 1e3)), lr=3.0)
    run = Transfer(net, picture(1), [stripes()], preset=absolute, remedy="scale")
    content = [t for t in run.terms if t.kind == "content"][0]
    styles = [t for t in run.terms if t.kind == "style"]
    assert content.weight == pytest.approx(1.0 / float(content.target.pow(2).sum()), rel=1e-5)
    shares = [t.weight * float(t.target.pow(2).sum()) for t in styles]
    assert shares == pytest.approx([shares[0]] * 2) and shares[0] < 100  # equal relative shares, not 3e5 and 1e3
    with pytest.raises(FeatureVisError, match="relative.*none|none.*relative"):
        Transfer(net, picture(1), [stripes()], preset=RECIPE, remedy="none")


def test_lbfgs_takes_its_steps_unclamped_and_refuses_random_transforms():
    """L-BFGS builds its curvature from the steps it proposed: clamping them afterwards (or a loss that changes with
    random transforms) feeds it wrong pairs. The picture stays valid: what the model sees is clamped."""
    run = Transfer(tiny(), picture(1), [stripes()], preset=RECIPE, optimizer="lbfgs", steps=5)
    assert run.vis.constraint is None
    last(run.steps())
    assert float(run.image().min()) >= 0 and float(run.image().max()) <= 1
    with pytest.raises(FeatureVisError, match="lbfgs"):
        Visualization(tiny(), "1", 16, rule="lbfgs", transforms=True)
    with pytest.raises(FeatureVisError, match="lbfgs"):
        Visualization(
            tiny(),
            "1",
            16,
            rule="lbfgs",
            param="pixel",
            squash="clamp",
            decorrelate=False,
            transforms=False,
            blur_every=2,
        )


def test_presets_are_hashable_values():
    from cnnviz_widgets.engine.style import CS231N, PRESETS

    assert hash(CS231N) == hash(replace(CS231N)) and len({*PRESETS.values()}) == len(PRESETS)
