"""cw.labs, style transfer: the checker passes the reference (and other correct ways of writing the losses) and
catches each classic mistake, written out here as a student would make it, with the hint that names it; the student
gets copies; the network is untouched; the given loop runs the student's functions and reduces the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cnnviz_widgets as cw
from cnnviz_widgets.engine.style import features, preset_for
from cnnviz_widgets.labs import reference

from .conftest import Untouched, hook_count

NAMES = ("content_loss", "gram_matrix", "style_loss", "tv_loss")


def judged(default_net, name, fn):
    return cw.labs.check(name, fn, net=default_net)


def failed(default_net, name, fn, words):
    result = judged(default_net, name, fn)
    assert not result.passed and result.difference > 1e-3, result
    assert words in result.hint, result
    return result


@pytest.mark.parametrize("name", NAMES)
def test_each_reference_passes_and_the_network_is_untouched(default_net, name, capsys):
    hooks = hook_count(default_net.model)
    with Untouched(default_net.model):
        result = judged(default_net, name, getattr(reference, name))
    assert result.passed and result.hint == "" and result.difference <= 1e-5, result
    assert capsys.readouterr().out.startswith(f"PASS {name}: ")
    assert hook_count(default_net.model) == hooks


# --- other correct ways pass ----------------------------------------------------------------------------------------


def test_correct_losses_written_other_ways_pass(default_net):
    def gram_einsum(features, normalize=True):
        n, c, h, w = features.shape
        gram = torch.einsum("nchw,ndhw->ncd", features, features)
        return gram / (c * h * w) if normalize else gram

    def gram_loop(features, normalize=True):
        grams = []
        for image in features:
            flat = image.reshape(image.shape[0], -1)
            grams.append(flat @ flat.t() / (flat.numel() if normalize else 1))
        return torch.stack(grams)

    def style_loop(feats, style_layers, style_targets, style_weights):
        loss = 0
        for i, layer in enumerate(style_layers):
            loss = loss + style_weights[i] * torch.sum((gram_einsum(feats[layer]) - style_targets[i]) ** 2)
        return loss

    def tv_diff(img, tv_weight):
        return tv_weight * (torch.diff(img, dim=2).square().sum() + torch.diff(img, dim=3).square().sum())

    def content_mse(content_weight, content_current, content_original):
        return content_weight * torch.nn.functional.mse_loss(content_current, content_original, reduction="sum")

    for name, fn in [
        ("gram_matrix", gram_einsum),
        ("gram_matrix", gram_loop),
        ("style_loss", style_loop),
        ("tv_loss", tv_diff),
        ("content_loss", content_mse),
    ]:
        assert judged(default_net, name, fn).passed, fn.__name__


# --- Gram matrix mistakes ---------------------------------------------------------------------------------------------


def flat(features):
    return features.reshape(features.shape[0], features.shape[1], -1)


def test_an_unnormalised_gram_matrix_is_caught(default_net):
    failed(default_net, "gram_matrix", lambda f, normalize=True: flat(f) @ flat(f).transpose(1, 2), "not normalised")


def test_a_gram_matrix_without_the_transpose_is_caught(default_net):
    def no_transpose(f, normalize=True):
        n, c, h, w = f.shape
        return flat(f) @ flat(f) / (c * h * w if normalize else 1)  # works only where C == H*W

    failed(default_net, "gram_matrix", no_transpose, "missing transpose")


def test_a_gram_matrix_of_positions_is_caught(default_net):
    def positions(f, normalize=True):
        n, c, h, w = f.shape
        return flat(f).transpose(1, 2) @ flat(f) / (c * h * w if normalize else 1)

    failed(default_net, "gram_matrix", positions, "missing transpose")


@pytest.mark.parametrize("keep_shape", [False, True])
def test_a_gram_matrix_mixing_the_batch_is_caught(default_net, keep_shape):
    def mixed(f, normalize=True):
        n, c, h, w = f.shape
        all_positions = f.transpose(0, 1).reshape(c, -1)  # every image's positions side by side
        gram = all_positions @ all_positions.t() / (c * h * w if normalize else 1)
        return gram.expand(n, c, c) if keep_shape else gram

    failed(default_net, "gram_matrix", mixed, "mixes the batch")


def test_a_gram_matrix_ignoring_normalize_false_is_caught(default_net):
    def always(f, normalize=True):
        n, c, h, w = f.shape
        return flat(f) @ flat(f).transpose(1, 2) / (c * h * w)

    failed(default_net, "gram_matrix", always, "ignores the flag")


def test_a_gram_matrix_divided_by_the_wrong_count_gets_the_ratio(default_net):
    def by_positions(f, normalize=True):
        n, c, h, w = f.shape
        return flat(f) @ flat(f).transpose(1, 2) / (h * w if normalize else 1)

    failed(default_net, "gram_matrix", by_positions, "times 4:")  # the hand-made batch has C = 4


# --- total-variation mistakes ------------------------------------------------------------------------------------


def down(img):
    return img[:, :, 1:, :] - img[:, :, :-1, :]


def across(img):
    return img[:, :, :, 1:] - img[:, :, :, :-1]


@pytest.mark.parametrize("axis", [down, across])
def test_tv_over_one_axis_only_is_caught(default_net, axis):
    failed(default_net, "tv_loss", lambda img, w: w * axis(img).pow(2).sum(), "one axis only")


def test_tv_with_abs_is_caught(default_net):
    failed(default_net, "tv_loss", lambda img, w: w * (down(img).abs().sum() + across(img).abs().sum()), "with abs")


def test_tv_along_the_channels_is_caught(default_net):
    def with_channels(img, w):
        channels = img[:, 1:] - img[:, :-1]
        return w * (down(img).pow(2).sum() + across(img).pow(2).sum() + channels.pow(2).sum())

    failed(default_net, "tv_loss", with_channels, "not the channels")


def test_tv_without_the_weight_is_caught(default_net):
    failed(default_net, "tv_loss", lambda img, w: down(img).pow(2).sum() + across(img).pow(2).sum(), "tv_weight")


def test_a_tv_right_only_on_the_hand_made_image_is_caught_on_the_photo(default_net):
    def hand_made_only(img, w):  # 0 on a real photo: a photo case weighted 0 would pass it
        return reference.tv_loss(img, w) if img.shape[-2:] == (5, 7) else (img * 0).sum()

    result = failed(default_net, "tv_loss", hand_made_only, "tv_weight *")
    assert "cat photo" in result.detail, result


# --- content and style mistakes -----------------------------------------------------------------------------------


def test_content_loss_with_a_mean_is_caught(default_net):
    failed(default_net, "content_loss", lambda w, a, b: w * ((a - b) ** 2).mean(), "not their mean")


def test_content_loss_without_the_weight_is_caught(default_net):
    failed(default_net, "content_loss", lambda w, a, b: ((a - b) ** 2).sum(), "content_weight")


@pytest.mark.parametrize("detach", [lambda t: t.item(), lambda t: torch.tensor(t.item())])
def test_content_loss_the_loop_cannot_backpropagate_through_is_caught(default_net, detach):
    result = judged(default_net, "content_loss", lambda w, a, b: detach(w * ((a - b) ** 2).sum()))
    assert not result.passed and "backpropagate" in result.hint


def gram(features):
    n, c, h, w = features.shape
    return flat(features) @ flat(features).transpose(1, 2) / (c * h * w)


def test_style_loss_forgetting_the_weights_is_caught(default_net):
    def unweighted(feats, layers, targets, weights):
        return sum(((gram(feats[layer]) - t) ** 2).sum() for layer, t in zip(layers, targets))

    failed(default_net, "style_loss", unweighted, "forgetting weights")


def test_style_loss_keeping_only_the_last_layer_is_caught(default_net):
    def overwritten(feats, layers, targets, weights):
        for layer, t, w in zip(layers, targets, weights):
            loss = w * ((gram(feats[layer]) - t) ** 2).sum()
        return loss

    failed(default_net, "style_loss", overwritten, "only the last")


def test_style_loss_comparing_an_unnormalised_gram_matrix_is_caught(default_net):
    def raw(feats, layers, targets, weights):
        grams = [flat(feats[layer]) @ flat(feats[layer]).transpose(1, 2) for layer in layers]
        return sum(w * ((g - t) ** 2).sum() for g, t, w in zip(grams, targets, weights))

    failed(default_net, "style_loss", raw, "normalize=True")


def test_style_loss_indexing_feats_by_position_is_told_to_use_the_name(default_net):
    def by_position(feats, layers, targets, weights):
        return sum(weights[i] * ((gram(feats[i]) - targets[i]) ** 2).sum() for i in range(len(layers)))

    result = judged(default_net, "style_loss", by_position)
    assert not result.passed and "KeyError" in result.hint and "feats[style_layers[i]]" in result.hint


# --- copies and the checker's contract ----------------------------------------------------------------------------


def test_the_student_gets_copies_of_the_inputs(default_net):
    """A function that scribbles over its arguments after computing the right answer still passes, and the next
    check is not disturbed."""

    def scribbling_tv(img, tv_weight):
        loss = reference.tv_loss(img, tv_weight)
        img.data.zero_()
        return loss

    def scribbling_style(feats, layers, targets, weights):
        loss = reference.style_loss(feats, layers, targets, weights)
        for t in targets:
            t.zero_()
        feats.clear()
        return loss

    assert judged(default_net, "tv_loss", scribbling_tv).passed
    assert judged(default_net, "style_loss", scribbling_style).passed
    assert judged(default_net, "style_loss", reference.style_loss).passed


def test_the_style_checks_are_registered_and_named_in_errors():
    assert set(NAMES) <= set(cw.labs.CHECKS)
    with pytest.raises(cw.engine.errors.SettingError, match="gram_matrix"):
        cw.labs.check("gram", reference.gram_matrix)


# --- the given loop and pictures ------------------------------------------------------------------------------------


def small_run(**changes):
    recipe = preset_for(cw.labs.default_net())
    params = dict(
        content_image=cw.sample_image("cat"),
        style_image=cw.labs.painting(64),
        image_size=48,
        style_size=48,
        content_layer=recipe.content[0],
        content_weight=recipe.content[1],
        style_layers=[layer for layer, _ in recipe.style],
        style_weights=[weight for _, weight in recipe.style],
        tv_weight=1e-3,
        num_iterations=12,
    )
    params.update(changes)
    return params


def test_the_loop_runs_the_students_functions_and_synthesises_the_texture(default_net):
    calls = dict.fromkeys(NAMES, 0)

    def counted(name):
        def fn(*args):
            calls[name] += 1
            return getattr(reference, name)(*args)

        return fn

    params = small_run(content_weight=0.0, init_random=True)
    with Untouched(default_net.model):
        updates = list(cw.labs.style_transfer_steps(*(counted(n) for n in NAMES), **params))
    assert [u.fraction for u in updates] == [(t + 1) / 12 for t in range(12)]
    layers = params["style_layers"]
    assert calls == {"content_loss": 12, "gram_matrix": len(layers), "style_loss": 12, "tv_loss": 12}

    style = cw.labs.preprocess(params["style_image"], 48)
    targets = {layer: reference.gram_matrix(f) for layer, f in cw.labs.extract_features(style, layers).items()}

    def distance(x):  # relative Gram distance, summed over the style layers
        with torch.no_grad():
            feats = cw.labs.extract_features(x, layers)
        return sum(float((reference.gram_matrix(feats[n]) - targets[n]).norm() / targets[n].norm()) for n in layers)

    assert distance(updates[-1].result) < 0.5 * distance(updates[0].result)
    again = cw.labs.style_transfer(*(getattr(reference, n) for n in NAMES), **params)
    assert torch.equal(again, updates[-1].result), "the same seed gives the same picture"


def test_extract_features_are_the_engines_features_of_the_picture(default_net):
    x = cw.labs.preprocess(cw.sample_image("coffee"), 64)
    prep = default_net.preprocess
    picture = x * torch.tensor(prep.std).view(1, 3, 1, 1) + torch.tensor(prep.mean).view(1, 3, 1, 1)
    layers = ["_blocks.2", "_blocks.7"]
    ours, engine = cw.labs.extract_features(x, layers), features(default_net, picture, layers)
    for layer in layers:
        torch.testing.assert_close(ours[layer].detach(), engine[layer], rtol=1e-4, atol=1e-5)


def test_preprocess_with_a_size_keeps_the_aspect_ratio():
    x = cw.labs.preprocess(cw.sample_image("cat"), 100)  # the cat is 451 x 300
    assert tuple(x.shape) == (1, 3, 100, round(451 * 100 / 300))


def test_the_painting_is_deterministic_and_varied():
    a, b = np.asarray(cw.labs.painting(96, seed=1)), np.asarray(cw.labs.painting(96, seed=2))
    assert a.shape == (96, 96, 3) and np.array_equal(a, np.asarray(cw.labs.painting(96, seed=1)))
    assert not np.array_equal(a, b)
    assert a.std() > 30 and len(np.unique(a.reshape(-1, 3), axis=0)) > 500  # strokes of many colours, not flat


def test_an_early_restart_needs_a_learning_rate_above_0():
    functions = [getattr(reference, n) for n in NAMES]
    assert not preset_for(cw.labs.default_net()).restarts  # so there is no rate to restart with by default
    with pytest.raises(cw.engine.errors.SettingError, match="decay_lr_at=6.*decayed_lr"):
        next(cw.labs.style_transfer_steps(*functions, **small_run(decay_lr_at=6)))
    for bad in (0.0, -0.1):
        with pytest.raises(cw.engine.errors.SettingError, match="decayed_lr must be a number >="):
            next(cw.labs.style_transfer_steps(*functions, **small_run(decay_lr_at=6, decayed_lr=bad)))
    next(cw.labs.style_transfer_steps(*functions, **small_run(decay_lr_at=12)))  # no restart within the run: fine
