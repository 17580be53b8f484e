"""cw.labs: the cs231n "Network Visualization" checker passes the reference and catches each known mistake, written
out here as a student would make it; the reference against the engine and against hand computations on linear
models; the assignment's given helpers against scipy and index arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage
import torch
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import ArgumentTypeError, SettingError
from cnnviz_widgets.labs import reference
from cnnviz_widgets.labs.classvis import valid_range
from cnnviz_widgets.labs.network_visualization import FOOLING_BOUND

from .conftest import Untouched

REFERENCES = {
    "saliency": reference.compute_saliency_maps,
    "fooling": reference.make_fooling_image,
    "class_visualization": reference.class_visualization_update_step,
}


def judged(default_net, name, fn):
    return cw.labs.check(name, fn, net=default_net)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_each_reference_passes_and_the_network_is_untouched(default_net, name, capsys):
    with Untouched(default_net.model):
        result = judged(default_net, name, REFERENCES[name])
    assert result.passed and result.hint == "", result
    assert capsys.readouterr().out.startswith(f"PASS {name}: ")


def test_the_fooling_bound_leaves_room_above_the_references_change(default_net):
    result = judged(default_net, "fooling", reference.make_fooling_image)
    assert 5 < result.difference < 0.65 * FOOLING_BOUND  # the reference changes the photos by about 19/255


# --- the reference against independent computations ------------------------------------------------------------


def test_the_reference_saliency_is_the_engines_gradient_saliency(default_net):
    X = torch.cat([default_net.tensor(cw.sample_image(name)) for name in ("cat", "coffee")])
    y = torch.tensor([1, 500])
    ours = reference.compute_saliency_maps(X, y, cw.labs.student_model(default_net))
    engine = cw.engine.saliency(default_net, X, y, "gradient")
    torch.testing.assert_close(ours, engine, rtol=1e-5, atol=1e-8)


def linear(channels=3, side=6, classes=4, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, classes))


def test_the_reference_saliency_of_a_linear_model_is_its_largest_absolute_weight():
    model = linear()
    X, y = torch.randn(2, 3, 6, 6), torch.tensor([3, 1])
    weights = model[1].weight.detach().view(4, 3, 6, 6)
    by_hand = torch.stack([weights[c].abs().max(dim=0).values for c in y.tolist()])
    torch.testing.assert_close(reference.compute_saliency_maps(X, y, model), by_hand)


def test_the_reference_class_step_on_a_linear_model_adds_lr_times_weight_minus_twice_l2_img():
    model = linear().train()
    img = torch.randn(1, 3, 6, 6, requires_grad=True)
    start = img.detach().clone()
    reference.class_visualization_update_step(img, model, 2, 0.1, 3.0)
    w = model[1].weight.detach()[2].view(1, 3, 6, 6)
    torch.testing.assert_close(img.detach(), start + 3.0 * (w - 2 * 0.1 * start))
    assert not model.training, "the step puts the model in eval mode"


def test_the_reference_fooling_image_stops_at_the_first_step_the_target_wins():
    model = linear(classes=2)
    X = torch.randn(1, 3, 6, 6)
    target = 1 - int(model(X).argmax())
    fooled = reference.make_fooling_image(X, target, model)
    w = model[1].weight.detach()[target].view(1, 3, 6, 6)
    steps = round(float((fooled - X).norm()))  # every step is w / ||w||: a straight line, one unit per step
    torch.testing.assert_close(fooled, X + steps * w / w.norm(), rtol=1e-4, atol=1e-5)
    assert int(model(fooled).argmax()) == target
    assert int(model(X + (steps - 1) * w / w.norm()).argmax()) != target


# --- saliency mistakes --------------------------------------------------------------------------------------------


def gradient_of(X, y, model):
    model.eval()
    X = X.clone().requires_grad_(True)
    model(X).gather(1, y.view(-1, 1)).sum().backward()
    return X.grad


def test_saliency_without_the_absolute_value_is_caught(default_net):
    result = judged(default_net, "saliency", lambda X, y, model: gradient_of(X, y, model).max(dim=1).values)
    assert not result.passed and result.difference > 0.1 and "absolute value" in result.hint


def test_saliency_summed_over_the_channels_is_caught(default_net):
    result = judged(default_net, "saliency", lambda X, y, model: gradient_of(X, y, model).abs().sum(dim=1))
    assert not result.passed and "not their sum" in result.hint


def test_saliency_without_the_max_over_channels_is_caught_by_its_shape(default_net):
    result = judged(default_net, "saliency", lambda X, y, model: gradient_of(X, y, model).abs())
    assert not result.passed and result.difference == math.inf and "(2, 224, 224)" in result.detail
    assert "colour channel" in result.hint


def test_saliency_with_the_wrong_sign_is_caught(default_net):
    result = judged(default_net, "saliency", lambda X, y, model: -gradient_of(X, y, model).abs().amax(dim=1))
    assert not result.passed and "wrong sign" in result.hint


def test_saliency_without_model_eval_is_caught(default_net):
    def forgot_eval(X, y, model):
        X = X.clone().requires_grad_(True)
        model(X).gather(1, y.view(-1, 1)).sum().backward()
        return X.grad.abs().amax(dim=1)

    with Untouched(default_net.model):
        result = judged(default_net, "saliency", forgot_eval)
    assert not result.passed and result.difference > 0.1 and "model.eval()" in result.hint


# --- fooling mistakes ---------------------------------------------------------------------------------------------


def fooling(sign=1.0, lr=1.0, eval_mode=True, start=torch.clone):
    """A student's make_fooling_image with the given step, switch to eval mode and starting image."""

    def make_fooling_image(X, target_y, model):
        if eval_mode:
            model.eval()
        X_fooling = start(X)
        for _ in range(100):
            X_fooling.requires_grad_(True)
            scores = model(X_fooling)
            if scores.argmax(dim=1).item() == target_y:
                break
            scores[0, target_y].backward()
            g = X_fooling.grad
            X_fooling = (X_fooling + sign * lr * g / g.norm()).detach()
        return X_fooling.detach()

    return make_fooling_image


def test_fooling_with_the_wrong_sign_never_reaches_the_target_and_is_caught(default_net):
    result = judged(default_net, "fooling", fooling(sign=-1.0))
    assert not result.passed and "not 'stingray'" in result.detail and "wrong sign" in result.hint


def test_a_fooling_image_made_by_one_huge_step_is_caught_by_the_bound(default_net):
    result = judged(default_net, "fooling", fooling(lr=200.0))
    assert not result.passed and result.difference > FOOLING_BOUND
    assert f"bound of {FOOLING_BOUND:g}/255" in result.detail and "look like the original" in result.hint


def test_a_fooling_image_that_replaces_the_photo_is_caught_by_the_bound(default_net):
    result = judged(default_net, "fooling", fooling(start=torch.zeros_like))  # a grey picture, pushed to the target
    assert not result.passed and result.difference > FOOLING_BOUND and "above the bound" in result.detail


def test_a_change_hidden_beyond_the_screens_range_still_counts(default_net):
    """The reference fooling image with the photo's black and white values pushed 100 grey levels beyond black and
    white (3 values in the cat, 323 in the coffee): a screen shows no change there, the network sees one, so it
    counts against the bound."""

    def make_fooling_image(X, target_y, model):
        fooled = cw.labs.reference.make_fooling_image(X, target_y, model)
        std = torch.tensor(default_net.preprocess.std).view(1, 3, 1, 1)
        mean = torch.tensor(default_net.preprocess.mean).view(1, 3, 1, 1)
        shown = X * std + mean
        outward = (shown >= 0.999).float() - (shown <= 0.001).float()
        return fooled + outward * (100 / 255) / std

    result = judged(default_net, "fooling", make_fooling_image)
    assert not result.passed and result.difference > FOOLING_BOUND and "above the bound" in result.detail


def test_fooling_without_model_eval_is_caught(default_net):
    with Untouched(default_net.model):
        result = judged(default_net, "fooling", fooling(eval_mode=False))
    assert not result.passed and "model.eval()" in result.hint


# --- class-visualisation step mistakes ----------------------------------------------------------------------------


def class_step(sign=1.0, l2=True, eval_mode=True, in_place=True, zero_grad=True):
    """A student's class_visualization_update_step with the given sign, L2 term, switch to eval mode and clearing of
    img.grad."""

    def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
        if eval_mode:
            model.eval()
        objective = model(img)[0, target_y] - (l2_reg * (img**2).sum() if l2 else 0)
        objective.backward()
        if in_place:
            img.data += sign * learning_rate * img.grad
        if zero_grad:
            img.grad.zero_()

    return class_visualization_update_step


def test_a_class_step_with_the_wrong_sign_is_caught(default_net):
    result = judged(default_net, "class_visualization", class_step(sign=-1.0))
    assert not result.passed and result.difference > 1.5 and "wrong sign" in result.hint  # about 2: the opposite step


def test_a_class_step_that_ignores_the_l2_term_is_recognised(default_net):
    result = judged(default_net, "class_visualization", class_step(l2=False))
    assert not result.passed and result.difference > 0.01 and "ignores the L2 term" in result.hint


def test_a_class_step_that_lets_the_gradient_pile_up_is_caught(default_net):
    """Its first step is right; the second adds the first one's gradient again."""
    result = judged(default_net, "class_visualization", class_step(zero_grad=False))
    assert not result.passed and result.difference > 0.1 and "img.grad" in result.hint


def test_a_class_step_without_model_eval_is_caught(default_net):
    result = judged(default_net, "class_visualization", class_step(eval_mode=False))
    assert not result.passed and "model.eval()" in result.hint


def test_a_class_step_that_leaves_img_unchanged_is_told_to_update_in_place(default_net):
    result = judged(default_net, "class_visualization", class_step(in_place=False))
    assert not result.passed and "in place" in result.hint


# --- the checker's own contract -----------------------------------------------------------------------------------


def test_an_unknown_check_raises_naming_the_valid_ones():
    with pytest.raises(SettingError, match="saliency, fooling, class_visualization"):
        cw.labs.check("saliencey", reference.compute_saliency_maps)
    with pytest.raises(ArgumentTypeError, match="compute_saliency_maps"):
        cw.labs.check("saliency", "compute_saliency_maps")


def test_a_function_that_raises_fails_with_what_it_raised(default_net, capsys):
    def compute_saliency_maps(X, y, model):
        raise NotImplementedError("TODO: compute the saliency maps")

    result = judged(default_net, "saliency", compute_saliency_maps)
    assert not result.passed and "NotImplementedError: TODO" in result.hint
    assert capsys.readouterr().out.startswith("FAIL saliency: ")


def test_the_students_model_is_a_frozen_copy_in_training_mode(default_net):
    with Untouched(default_net.model):
        model = cw.labs.student_model(default_net)
    assert all(m.training for m in model.modules()) and not any(p.requires_grad for p in model.parameters())
    assert not set(map(id, model.parameters())) & set(map(id, default_net.model.parameters()))


# --- the assignment's given code ----------------------------------------------------------------------------------


def test_jitter_rolls_by_the_offsets_and_back():
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    out = cw.labs.jitter(x, 3, -2)
    for i in range(5):
        for j in range(7):
            assert torch.equal(out[:, :, (i - 2) % 5, (j + 3) % 7], x[:, :, i, j])
    assert torch.equal(cw.labs.jitter(out, -3, 2), x)


@pytest.mark.parametrize("sigma", [0.5, 1.3])
def test_blur_matches_scipys_gaussian_filter(sigma):
    x = torch.randn(1, 3, 9, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = x.numpy()
    for axis in (2, 3):
        expected = scipy.ndimage.gaussian_filter1d(expected, sigma, axis=axis)
    np.testing.assert_allclose(cw.labs.blur_image(x, sigma).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_class_visualization_climbs_the_score_within_the_valid_range_reproducibly(default_net):
    model = cw.labs.student_model(default_net)
    step = reference.class_visualization_update_step
    updates = list(cw.labs.class_visualization_steps(step, model, 76, num_iterations=12, size=64))
    assert [u.fraction for u in updates] == [(t + 1) / 12 for t in range(12)]
    low, high = valid_range()
    final = updates[-1].result
    assert bool((final >= low.view(1, 3, 1, 1) - 1e-6).all() and (final <= high.view(1, 3, 1, 1) + 1e-6).all())
    with torch.no_grad():
        scores = [float(model(u.result)[0, 76]) for u in (updates[0], updates[-1])]
    assert scores[1] > scores[0] + 1
    again = cw.labs.create_class_visualization(step, model, 76, num_iterations=12, size=64)
    assert torch.equal(again, final)


def test_deprocess_of_preprocess_is_the_picture_the_network_sees(default_net):
    img = cw.sample_image("coffee")
    back = np.asarray(cw.labs.deprocess(cw.labs.preprocess(img)), dtype=int)
    assert np.abs(back - np.asarray(default_net.view(img), dtype=int)).max() <= 1


def test_heatmap_and_strip():
    values = torch.tensor([[0.0, 1.0], [2.0, 4.0]])
    hot = np.asarray(cw.labs.heatmap(values))
    assert hot[0, 0].tolist() == [0, 0, 0] and hot[1, 1].tolist() == [255, 255, 255]
    assert hot[0, 1, 0] > hot[0, 1, 1] >= hot[0, 1, 2]  # a quarter of the largest: red before green and blue
    sheet = cw.labs.strip([cw.labs.heatmap(values)] * 3, ["a", "b", "c"], side=40)
    assert sheet.size == (120, 40 + cw.labs.pictures.CAPTION)
