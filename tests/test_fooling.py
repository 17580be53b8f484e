"""Fooling images: each mode is its hand-written loop (cs231n's normalised ascent; projected gradient), the run stops
as soon as the model predicts the target, the change stays within its budget and is reported in grey levels,
Stop/Resume equals an uninterrupted run, the model is untouched, bad input is refused with clear messages, and on the
default model the success rates of the issue hold on a few targets.

Small hand-built nets on 32 px pictures keep the reference comparisons fast; ``Linear32`` (one linear layer) is easy
to fool, so runs that must succeed do.
"""

from __future__ import annotations

import random
from typing import Tuple

import pytest
import torch
from torch import nn

import cnnviz_widgets as cw
from cnnviz_widgets.engine.errors import FeatureVisError
from cnnviz_widgets.engine.featurevis import Visualization
from cnnviz_widgets.engine.fooling import Fooling, fool, fooling_steps
from cnnviz_widgets.engine.images import pixels
from cnnviz_widgets.engine.model import Preprocess
from cnnviz_widgets.engine.progress import last

from .conftest import Untouched, hook_count, mixed_state, small_cnn

SIZE = 32


class Linear32(nn.Module):
    """Ten classes from one linear layer on 32x32 RGB: a few steps fool it."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.head = nn.Linear(3 * SIZE * SIZE, 10)

    def forward(self, x):
        return self.head(x.flatten(1))


class Linear32Grey(Linear32):
    """Linear32 on one grey channel."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(SIZE * SIZE, 10)


def net_of(model: nn.Module, channels: int = 3) -> cw.Net:
    return cw.Net(model.eval(), Preprocess(size=SIZE, channels=channels))


def photo(seed: int = 0, channels: int = 3) -> torch.Tensor:
    """A (C, 32, 32) picture in [0, 1] (the model's own size: preprocessing leaves it as it is, up to 8 bits)."""
    return torch.rand(channels, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def seen(net: cw.Net, image: torch.Tensor) -> torch.Tensor:
    """What the model sees of ``image``, (1, C, H, W) in [0, 1]: the picture made by its preprocessing."""
    return pixels(net.view(image), net.preprocess.channels)[None]


def logits(net: cw.Net, image: torch.Tensor) -> torch.Tensor:
    """The plain model's logits on a (1, C, H, W) picture in [0, 1], normalised by hand."""
    mean = torch.tensor(net.preprocess.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(net.preprocess.std).reshape(1, -1, 1, 1)
    with torch.no_grad():
        return net.model((image - mean) / std)[0]


def not_predicted(net: cw.Net, image: torch.Tensor, rank: int = 1) -> int:
    """The class ranked ``rank`` (0: the prediction) for ``image``."""
    return int(logits(net, seen(net, image)).argsort(descending=True)[rank])


def cs231n(net: cw.Net, image: torch.Tensor, target: int, steps: int, lr: float = 1.0) -> Tuple[torch.Tensor, int]:
    """cs231n's make_fooling_image, written out: in the normalised input, ``x += lr * g / ||g||`` on the target's
    score until the model predicts it, the picture clamped to [0, 1] after each step. The picture and the steps."""
    mean = torch.tensor(net.preprocess.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(net.preprocess.std).reshape(1, -1, 1, 1)
    x = (seen(net, image) - mean) / std
    for step in range(steps):
        x.requires_grad_(True)
        scores = net.model(x)
        if int(scores[0].argmax()) == target:
            return (x.detach() * std + mean), step
        (g,) = torch.autograd.grad(scores[0, target], x)
        with torch.no_grad():
            x = ((x + lr * g / g.norm()) * std + mean).clamp(0, 1)
            x = (x - mean) / std
    return x.detach() * std + mean, steps


def pgd(net: cw.Net, image: torch.Tensor, target: int, steps: int, epsilon: float, lr: float) -> torch.Tensor:
    """Projected gradient ascent on the target's score, written out: in [0, 1] pixels, ``x += lr * sign(g)``, then
    clipped to within ``epsilon`` of the photo and to [0, 1] (both in 1/255), until the model predicts the target."""
    mean = torch.tensor(net.preprocess.mean).reshape(1, -1, 1, 1)
    std = torch.tensor(net.preprocess.std).reshape(1, -1, 1, 1)
    start = seen(net, image)
    x = start.clone()
    for _ in range(steps):
        x.requires_grad_(True)
        scores = net.model((x - mean) / std)
        if int(scores[0].argmax()) == target:
            break
        (g,) = torch.autograd.grad(scores[0, target], x)
        with torch.no_grad():
            x = x + lr / 255 * g.sign()
            x = torch.minimum(torch.maximum(x, start - epsilon / 255), start + epsilon / 255).clamp(0, 1)
    return x.detach()


# -- each mode is its hand-written loop -------------------------------------------------------------------------
@pytest.mark.parametrize("model", [small_cnn, Linear32], ids=["cnn", "linear"])
def test_unconstrained_is_cs231ns_normalised_ascent(model):
    net = net_of(model())
    image = photo()
    target = not_predicted(net, image, rank=3)
    result = fool(net, image, target, steps=25)
    expected, steps = cs231n(net, image, target, 25)
    assert result.steps == steps
    torch.testing.assert_close(result.image[None], expected, atol=2e-5, rtol=0)


@pytest.mark.parametrize("epsilon, lr", [(8, 2), (2, 0.5), (4, None)])
def test_bounded_is_projected_gradient_within_epsilon(epsilon, lr):
    net = net_of(small_cnn())
    image = photo(1)
    target = not_predicted(net, image, rank=2)
    result = fool(net, image, target, mode="bounded", epsilon=epsilon, lr=lr, steps=12)
    expected = pgd(net, image, target, 12, epsilon, lr if lr is not None else epsilon / 4)
    torch.testing.assert_close(result.image[None], expected, atol=2e-6, rtol=0)


def test_the_run_stops_as_soon_as_the_model_predicts_the_target():
    net = net_of(Linear32())
    image = photo(2)
    target = not_predicted(net, image, rank=5)
    run = Fooling(net, image, target, steps=100)
    pictures = {u.result.steps: u.result.image for u in run.steps(every=1) if u.result is not None}
    assert run.frame().reached and 0 < run.step < 100 and list(pictures) == list(range(1, run.step + 1))
    predicted = [int(logits(net, picture[None]).argmax()) for picture in pictures.values()]
    assert predicted[-1] == target and target not in predicted[:-1], "the run went on after the model was fooled"
    # Going on after the goal takes no step.
    assert last(run.steps(10)).steps == run.step


def test_reached_and_the_change_are_what_the_picture_says():
    net = net_of(Linear32())
    image = photo(3)
    target = not_predicted(net, image, rank=4)
    for mode in ("unconstrained", "bounded"):
        result = fool(net, image, target, mode=mode, epsilon=12)
        change = result.image[None] - seen(net, image)
        assert result.reached == (int(logits(net, result.image[None]).argmax()) == target)
        assert result.max_change == pytest.approx(255 * float(change.abs().max()), rel=1e-5)
        assert result.mean_change == pytest.approx(255 * float(change.abs().mean()), rel=1e-5)
        # The change magnified around mid-grey: the largest reaches black or white, and its sign is kept.
        shown = result.difference - 0.5
        assert float(shown.abs().max()) == pytest.approx(0.5, abs=1e-5)
        torch.testing.assert_close(shown, result.gain * change[0], atol=1e-5, rtol=0)
        assert [p.index for p in result.after] == logits(net, result.image[None]).topk(5).indices.tolist()
        assert [p.index for p in result.before] == logits(net, seen(net, image)).topk(5).indices.tolist()
        assert result.reached, mode


@pytest.mark.parametrize("epsilon", [0.5, 1, 3, 8])
def test_the_bounded_change_never_exceeds_epsilon_and_the_picture_stays_in_range(epsilon):
    net = net_of(small_cnn(1))
    image = photo(4)
    result = fool(net, image, not_predicted(net, image, rank=6), mode="bounded", epsilon=epsilon, steps=15)
    assert result.max_change <= epsilon + 1e-3 and 0 <= float(result.image.min()) <= float(result.image.max()) <= 1
    assert 0 < result.steps <= 15


def test_a_grayscale_model_is_fooled_in_grey():
    net = net_of(Linear32Grey(), channels=1)
    image = photo(5, channels=1)
    result = fool(net, image, not_predicted(net, image, rank=2))
    assert result.reached and result.image.shape == result.difference.shape == (1, SIZE, SIZE)


# -- one loop, Stop/Resume, the model untouched -------------------------------------------------------------------
def test_both_modes_step_through_the_one_feature_visualisation_loop(monkeypatch):
    calls = []
    original = Visualization._step
    monkeypatch.setattr(Visualization, "_step", lambda self: calls.append(1) or original(self))
    net = net_of(small_cnn())
    image = photo()
    for mode in ("unconstrained", "bounded"):
        calls.clear()
        result = fool(net, image, not_predicted(net, image, rank=4), mode=mode, steps=5)
        assert len(calls) == result.steps + result.reached > 0


@pytest.mark.parametrize("mode", ["unconstrained", "bounded"])
def test_stop_and_resume_end_where_an_uninterrupted_run_ends(mode):
    net = net_of(small_cnn())
    image = photo(6)
    target = not_predicted(net, image, rank=3)
    whole = fool(net, image, target, mode=mode, steps=9)
    run = Fooling(net, image, target, mode=mode, steps=9)
    updates = run.steps()
    for _ in range(4):
        next(updates)
    updates.close()  # Stop
    assert run.step == 4
    resumed = last(run.steps())  # Resume: the rest of the budget
    assert resumed.steps == whole.steps == 9
    torch.testing.assert_close(resumed.image, whole.image, atol=0, rtol=0)


def test_the_loops_own_verdict_counts_where_the_pictures_top1_disagrees():
    """The loop decides on its own forward pass (a truncated copy, in the model's dtype); where it says "reached"
    and the float picture's top-1 is another class, the run has stopped there, so the result says reached."""
    net = net_of(Linear32())
    image = photo()
    target = not_predicted(net, image, rank=9)
    run = Fooling(net, image, target, mode="bounded", epsilon=0.5, lr=0.05, steps=50)  # too weak to fool in 50
    run.vis.until_reached = lambda acts: run.vis.step >= 3  # the loop's verdict, made to disagree at step 3
    result = last(run.steps(every=0))
    assert result.steps == 3 and result.after[0].index != target
    assert result.reached
    assert last(run.steps()).steps == 3 and run.frame().reached, "going on takes no step and stays reached"


def test_the_model_is_untouched_also_when_a_run_is_abandoned():
    model = mixed_state(small_cnn())
    net = cw.Net(model, Preprocess(size=SIZE))
    image = photo()
    target = 1 if cw.Net(small_cnn().eval(), Preprocess(size=SIZE)).predict(image)[0].index != 1 else 2
    with Untouched(model):
        for mode in ("unconstrained", "bounded"):
            updates = fooling_steps(net, image, target, mode=mode)
            next(updates)
            assert hook_count(model) == 0
            updates.close()
    assert hook_count(model) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_the_models_device():
    net = cw.Net(Linear32().eval().cuda(), Preprocess(size=SIZE))
    image = photo()
    result = fool(net, image, not_predicted(net_of(Linear32()), image, rank=2))
    assert result.reached and result.image.device.type == "cpu"


# -- bad input ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target, settings, message",
    [
        (10, {}, r"target must be a number in 0\.\.9, got 10"),
        (-1, {}, r"target must be a number in 0\.\.9, got -1"),
        (2.5, {}, r"target must be a whole number in 0\.\.9, got 2\.5"),
        (None, {"epsilon": 0}, r"epsilon must be a number in 0\.5\.\.255, got 0"),
        (None, {"epsilon": -4}, r"epsilon must be a number in 0\.5\.\.255, got -4"),
        (None, {"mode": "fgsm"}, r"mode must be one of: unconstrained, bounded; got 'fgsm'"),
        (None, {"steps": 0}, r"steps must be a number in 1\.\.100000, got 0"),
        (None, {"lr": -1}, r"lr must be a number in 0\.05\.\.10, got -1"),
    ],
)
def test_bad_arguments_are_refused_at_once_naming_the_valid_values(target, settings, message):
    net = net_of(small_cnn())
    image = photo()
    with pytest.raises(FeatureVisError, match=message):
        Fooling(net, image, target if target is not None else not_predicted(net, image, 1), **settings)


def test_the_prediction_itself_is_refused_and_the_runner_up_offered():
    net = net_of(small_cnn())
    image = photo()
    first, second = (not_predicted(net, image, rank) for rank in (0, 1))
    with pytest.raises(FeatureVisError) as info:
        Fooling(net, image, first)
    label = f"class {first}"
    assert str(info.value) == (
        f"the model already predicts class {first} ({label}) for this image: choose another target, "
        f"e.g. the runner-up {second} (class {second})"
    )


def test_a_nan_gradient_stops_with_the_last_good_picture():
    class NanAfter(nn.Module):
        """Linear32 with a term of value 0 whose gradient is NaN (the square root's slope at 0 times 0)."""

        def __init__(self):
            super().__init__()
            self.inner = Linear32()

        def forward(self, x):
            moved = (x - x.detach()).abs().sum()
            return self.inner(x) + torch.sqrt(moved) * 0

    net = net_of(NanAfter())
    image = photo()
    run = Fooling(net, image, not_predicted(net, image, rank=3))
    with pytest.raises(FeatureVisError, match=r"became NaN or infinite at step 1"):
        last(run.steps())
    torch.testing.assert_close(run.frame().image[None], seen(net, image), atol=1e-6, rtol=0)


# -- quality on the default model ------------------------------------------------------------------------------------
def random_targets(net: cw.Net, image, count: int, seed: int) -> list:
    """``count`` classes drawn at random, the photo's prediction left out."""
    top = not_predicted(net, image, 0)
    return random.Random(seed).sample([c for c in range(net.num_classes) if c != top], count)


@pytest.mark.parametrize(
    "name, settings",
    [("cat", {}), ("coffee", {"mode": "bounded", "epsilon": 8})],
    ids=["cat-unconstrained", "coffee-bounded-8"],
)
def test_the_default_model_is_fooled_within_100_steps_on_random_targets(default_net, name, settings):
    """The issue's thresholds (>= 95% unconstrained, >= 90% at epsilon 8) on three random targets: all three must
    succeed, with a change a person hardly sees (under 4 grey levels on average; the benchmark measures 20 targets per
    photo)."""
    image = cw.sample_image(name)
    for target in random_targets(default_net, image, 3, seed=16):
        result = fool(default_net, image, target, **settings)
        assert result.reached and result.after[0].index == target, (name, target, result.steps)
        assert result.mean_change < 4 and result.max_change <= settings.get("epsilon", 255) + 1e-3
