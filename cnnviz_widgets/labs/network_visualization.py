"""The checks of the cs231n "Network Visualization" assignment: saliency maps, fooling images and the class
visualisation step, each run on fixed inputs and judged against :mod:`.reference`.

- ``saliency``: the two bundled photos with the classes the network predicts for them; the maps must equal the
  reference's to within :data:`TOLERANCE` of its largest value.
- ``fooling``: the cat photo must become a stingray and the coffee photo a tarantula (cs231n's own targets) in the
  network's eyes, each changed by at most :data:`FOOLING_BOUND` grey levels in any pixel and channel of the picture
  it stands for. The bound was measured: the reference changes these two photos by at most 19 levels (of 255), and
  no photo and target tried by more than 20, so the bound leaves room for other reasonable step rules and catches a
  picture that was destroyed or replaced (one big step changes it by well over 100).
- ``class_visualization``: one step from seeded noise; the change of the image must equal the reference's to within
  :data:`TOLERANCE`.
"""

from __future__ import annotations

import math
from typing import Any, Callable, List, Tuple

import torch

from ..engine.attribution import gradient
from ..engine.images import sample_image
from ..engine.model import Net
from ..engine.replica import private
from . import reference
from .judging import (
    EVAL_HINT,
    Check,
    Mistake,
    Result,
    call,
    left_training,
    not_a_tensor,
    recognise,
    relative_difference,
    student_model,
)

TOLERANCE = 1e-3
"""Largest difference from the reference that passes, relative to the reference's largest value."""
PHOTOS = ("cat", "coffee")
FOOLING_TARGETS = {"cat": 6, "coffee": 76}
"""The class each photo must be taken for: ImageNet's stingray and tarantula."""
FOOLING_BOUND = 32.0
"""Largest change a fooling image may make to any pixel's channel of the displayed picture, in levels of 255."""
CLASS_TARGET = 76
"""The class the class-visualisation step climbs (tarantula)."""
L2_REG, LEARNING_RATE = 1e-3, 25.0
"""The class-visualisation step's settings in the check: those of ``create_class_visualization``."""


def _photo(net: Net, name: str) -> torch.Tensor:
    return net.tensor(sample_image(name))


def check_saliency(fn: Callable[..., Any], net: Net) -> Result:
    """Judge ``compute_saliency_maps(X, y, model)`` on the two photos and their predicted classes."""
    X = torch.cat([_photo(net, name) for name in PHOTOS])
    y = torch.tensor([net.top(X[i : i + 1], 1)[0].index for i in range(len(X))], device=X.device)
    model = student_model(net)
    output, failure = call(fn, X.clone(), y.clone(), model)
    if failure:
        return Result("saliency", False, math.inf, "no map to compare", failure)
    shape = (len(X), *X.shape[2:])
    if isinstance(output, torch.Tensor) and output.shape == X.shape:
        hint = "your map has one value per colour channel: take the largest absolute value over them (dim=1)"
        return Result("saliency", False, math.inf, f"expected shape {shape}, got {tuple(output.shape)}", hint)
    wrong = not_a_tensor("saliency", output, shape)
    if wrong:
        return wrong
    expected = reference.compute_saliency_maps(X, y, student_model(net))
    difference = relative_difference(output, expected)
    detail = f"largest difference from the reference {difference:.2e} of its largest value (pass: {TOLERANCE:g})"
    if left_training(model):
        return Result("saliency", False, difference, detail, EVAL_HINT)
    if difference <= TOLERANCE:
        return Result("saliency", True, difference, detail)
    grad = gradient(net, X, y)
    abs_hint = "take the absolute value of the gradient before the largest value over the channels"
    sum_hint = "take the largest value over the colour channels (amax), not their sum or mean"
    mistakes = [
        Mistake(grad.amax(dim=1), abs_hint),
        Mistake(grad.amax(dim=1).abs(), abs_hint),
        Mistake(grad.abs().sum(dim=1), sum_hint),
        Mistake(grad.abs().mean(dim=1), sum_hint),
        Mistake(-expected, "wrong sign: a saliency map is an absolute value, never negative"),
    ]
    recognised = recognise(output, mistakes, TOLERANCE)
    if recognised is None and bool((output < 0).any()):
        recognised = f"your map has negative values; {abs_hint}"
    generic = "the gradient of each image's score for its own class y (not a loss), w.r.t. X, |.|, max over channels"
    return Result("saliency", False, difference, detail, recognised or generic)


def _shown(net: Net, x: torch.Tensor) -> torch.Tensor:
    """The normalised ``x`` in grey levels (0..255 for a displayable picture; neither clamped nor rounded, so values
    pushed beyond what a screen shows still count as the change the network sees)."""
    mean = torch.tensor(net.preprocess.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(net.preprocess.std, device=x.device).view(1, -1, 1, 1)
    return ((x * std + mean) * 255).float()


def _change(net: Net, fooling: torch.Tensor, original: torch.Tensor) -> float:
    return float((_shown(net, fooling) - _shown(net, original)).abs().max())


def _score(net: Net, x: torch.Tensor, target: int) -> float:
    with private(net) as model, torch.no_grad():
        return float(model(x)[0, target])


def check_fooling(fn: Callable[..., Any], net: Net) -> Result:
    """Judge ``make_fooling_image(X, target_y, model)``: each photo must be taken for its target, within the
    bound."""
    changes: List[Tuple[float, float]] = []  # the student's and the reference's change per photo
    for photo in PHOTOS:
        X = _photo(net, photo)
        target = FOOLING_TARGETS[photo] % net.num_classes
        model = student_model(net)
        output, failure = call(fn, X.clone(), target, model)
        if failure:
            return Result("fooling", False, math.inf, f"no fooling image for the {photo} photo", failure)
        wrong = not_a_tensor("fooling", output, tuple(X.shape))
        if wrong:
            return wrong
        output = output.detach()
        if not torch.isfinite(output).all():
            return Result("fooling", False, math.inf, "your image has NaN or infinite values", "check the step")
        change = _change(net, output, X)
        if left_training(model):
            return Result("fooling", False, change, f"largest change {change:.1f}/255 of the {photo} photo", EVAL_HINT)
        seen = net.top(output, 1)[0]
        if seen.index != target:
            detail = f"the network takes your {photo} image for {seen.label!r}, not {net.label(target)!r}"
            if _score(net, output, target) < _score(net, X, target):
                hint: str = "wrong sign: the target's score went down; step along +gradient (X += lr * g / ||g||)"
            else:
                hint = "keep stepping until the model predicts target_y (up to 100 steps of lr = 1 along g / ||g||)"
            return Result("fooling", False, change, detail, hint)
        ours = _change(net, reference.make_fooling_image(X, target, student_model(net)), X)
        changes.append((change, ours))
        if change > FOOLING_BOUND:
            detail = (
                f"your {photo} image changes a pixel by {change:.1f}/255, above the bound of {FOOLING_BOUND:g}/255 "
                f"(the reference: {ours:.1f}/255)"
            )
            hint = (
                "a fooling image must look like the original: small steps (lr = 1 along g / ||g||_2), stopping as "
                "soon as the model predicts target_y; never replace or repaint the image"
            )
            return Result("fooling", False, change, detail, hint)
    largest, ours = max(c for c, _ in changes), max(r for _, r in changes)
    detail = (
        f"both photos are taken for their targets; largest change {largest:.1f}/255 (bound {FOOLING_BOUND:g}/255, "
        f"the reference {ours:.1f}/255)"
    )
    return Result("fooling", True, largest, detail)


def check_class_visualization(fn: Callable[..., Any], net: Net) -> Result:
    """Judge ``class_visualization_update_step(img, model, target_y, l2_reg, learning_rate)``: two steps in a row
    from seeded noise (a second step shows a gradient left to pile up in ``img.grad``)."""
    size = net.preprocess.size
    start = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(net.device, net.dtype)
    img = start.clone().requires_grad_(True)
    model = student_model(net)
    firsts = []
    for _ in range(2):
        _, failure = call(fn, img, model, CLASS_TARGET, L2_REG, LEARNING_RATE)
        if failure:
            return Result("class_visualization", False, math.inf, "no step to compare", failure)
        firsts.append(img.detach().clone())
    theirs = start.clone().requires_grad_(True)
    expected = []
    for _ in range(2):
        reference.class_visualization_update_step(theirs, student_model(net), CLASS_TARGET, L2_REG, LEARNING_RATE)
        expected.append(theirs.detach().clone())
    difference = relative_difference(firsts[1] - start, expected[1] - start)
    detail = (
        f"largest difference of your two steps from the reference's {difference:.2e} of its largest value "
        f"(pass: {TOLERANCE:g})"
    )
    if left_training(model):
        return Result("class_visualization", False, difference, detail, EVAL_HINT)
    if difference <= TOLERANCE:
        return Result("class_visualization", True, difference, detail)
    update, step = firsts[0] - start, expected[0] - start
    if not update.any():
        hint = "img did not change: update it in place, img.data += learning_rate * g"
        return Result("class_visualization", False, difference, detail, hint)
    if relative_difference(update, step) <= TOLERANCE:
        hint = (
            "your first step is right but the second is not: the gradient piles up in img.grad across calls; zero it "
            "after each step (img.grad.zero_()), or take it with torch.autograd.grad"
        )
        return Result("class_visualization", False, difference, detail, hint)
    decay = 2 * LEARNING_RATE * L2_REG * start  # what the L2 term adds to a step: lr * d(l2_reg ||img||²)/d img
    mistakes = [
        Mistake(-step, "wrong sign: climb the objective, img.data += learning_rate * g"),
        Mistake(step + decay, "your step ignores the L2 term: g is the gradient of score - l2_reg * ||img||²"),
        Mistake(step + 2 * decay, "the L2 term has the wrong sign: subtract l2_reg * ||img||² from the score"),
    ]
    recognised = recognise(update, mistakes, TOLERANCE)
    generic = "g = d(score - l2_reg * ||img||²)/d img"
    return Result("class_visualization", False, difference, detail, recognised or generic)


CHECKS = (
    Check("saliency", "compute_saliency_maps", check_saliency),
    Check("fooling", "make_fooling_image", check_fooling),
    Check("class_visualization", "class_visualization_update_step", check_class_visualization),
)
"""The assignment's checks, in its order."""
