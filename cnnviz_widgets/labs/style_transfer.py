"""The checks of the cs231n "Style Transfer" assignment: content loss, Gram matrix, style loss and total-variation
loss, each run on fixed inputs and judged against :mod:`.reference` (the engine's own losses).

Each check runs the student's function on small hand-made tensors and on real features of the two bundled photos
(the network's, at its style-transfer recipe's layers, seen at 144 x 96 pixels: not square, so that a height
mixed up with a width shows). A result must equal the reference's to within :data:`TOLERANCE` of its largest
value, and must still depend on the inputs through autograd (the loop backpropagates through it). A wrong result is
compared with what each classic mistake produces (an unnormalised Gram matrix, a missing transpose, images of a
batch mixed, total variation over one axis only, ``abs`` for a square, a mean for a sum, a forgotten weight...) to
name it in the hint. The student's function gets copies of the inputs, so it may change them freely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from ..engine.images import pixels, sample_image
from ..engine.model import Net
from ..engine.style import CS231N, features, preset_for
from . import reference
from .judging import Check, Mistake, Result, call, recognise, relative_difference

TOLERANCE = 1e-5
"""Largest difference from the reference that passes, relative to the reference's largest value."""
RECOGNISED = 1e-3
"""How close a wrong result must come to a mistake's to be named as that mistake (float sums in another order
differ by far less)."""
PHOTOS = ("cat", "coffee")
SIDES = (144, 96)
"""Width and height, in pixels, at which the photos are seen (both are 3:2)."""
DETACHED_HINT = (
    "your result does not depend on the inputs through autograd (made with .item(), numpy or torch.tensor(...)?): "
    "the loop could not backpropagate through it; compute it with torch operations on the tensors you get"
)


@dataclass(frozen=True)
class Case:
    """One fixed input of a check: what it is (for messages), the arguments, the reference's result, the results of
    known mistakes, and hints for known wrong shapes of the result."""

    what: str
    args: Tuple[Any, ...]
    expected: torch.Tensor
    mistakes: Sequence[Mistake] = ()
    shapes: Mapping[Tuple[int, ...], str] = field(default_factory=dict)


def _copy(arg: Any) -> Any:
    """A fresh copy of a tensor (keeping whether it requires grad), or of each tensor of a dict or list."""
    if isinstance(arg, torch.Tensor):
        return arg.detach().clone().requires_grad_(arg.requires_grad)
    if isinstance(arg, dict):
        return {key: _copy(value) for key, value in arg.items()}
    if isinstance(arg, (list, tuple)):
        return type(arg)(_copy(value) for value in arg)
    return arg


def _needs_grad(arg: Any) -> bool:
    if isinstance(arg, dict):
        return any(map(_needs_grad, arg.values()))
    if isinstance(arg, (list, tuple)):
        return any(map(_needs_grad, arg))
    return isinstance(arg, torch.Tensor) and arg.requires_grad


def judge(name: str, fn: Callable[..., Any], cases: Sequence[Case], generic: str) -> Result:
    """Run ``fn`` on copies of each case's arguments; the first case it gets wrong fails the check with the hint of
    the mistake recognised (else ``generic``), and passing all of them passes it."""
    worst = 0.0
    for case in cases:
        output, failure = call(fn, *map(_copy, case.args))
        if failure:
            if "KeyError" in failure:
                failure += "; index feats by the layer's name, feats[style_layers[i]], not by its position i"
            return Result(name, False, math.inf, f"no result for {case.what}", failure)
        if not isinstance(output, torch.Tensor):
            detail = f"expected a tensor for {case.what}, got a {type(output).__name__}"
            return Result(name, False, math.inf, detail, DETACHED_HINT)
        if case.expected.dim() == 0 and output.numel() == 1:
            output = output.reshape(())
        if output.shape != case.expected.shape:
            shape = tuple(output.shape)
            detail = f"expected shape {tuple(case.expected.shape)} for {case.what}, got {shape}"
            return Result(name, False, math.inf, detail, case.shapes.get(shape, "check what you return"))
        difference = relative_difference(output, case.expected)
        detail = f"difference from the reference {difference:.2e} of its largest value on {case.what}"
        if difference > TOLERANCE:
            hint = recognise(output, case.mistakes, RECOGNISED) or _ratio(output, case.expected) or generic
            return Result(name, False, difference, f"{detail} (pass: {TOLERANCE:g})", hint)
        if _needs_grad(case.args) and not output.requires_grad:
            return Result(name, False, difference, detail, DETACHED_HINT)
        worst = max(worst, difference)
    detail = f"largest difference from the reference {worst:.2e} of its largest value (pass: {TOLERANCE:g})"
    return Result(name, True, worst, detail)


def _ratio(output: torch.Tensor, expected: torch.Tensor) -> Optional[str]:
    """A hint when ``output``, several values, is ``expected`` times one number (a normalisation gone wrong)."""
    if expected.numel() == 1:
        return None
    output, expected = output.detach(), expected.detach()
    scale = float((output * expected).sum() / expected.pow(2).sum().clamp_min(1e-30))
    if scale == 0 or relative_difference(output, scale * expected) > RECOGNISED:
        return None
    return f"your result is the reference's times {scale:.6g}: check the weight and the normalisation"


def _photos() -> torch.Tensor:
    """The two photos, ``(2, 3, 96, 144)`` in [0, 1]."""
    return torch.stack([pixels(sample_image(photo).resize(SIDES)) for photo in PHOTOS])


def _features(net: Net, layers: Sequence[str]) -> Dict[str, torch.Tensor]:
    """The network's features of the two photos at ``layers``, each ``(2, C, H, W)``."""
    each = [features(net, picture[None], layers) for picture in _photos()]
    return {layer: torch.cat([f[layer] for f in each]) for layer in layers}


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_content_loss(fn: Callable[..., Any], net: Net) -> Result:
    """Judge ``content_loss(content_weight, content_current, content_original)``: hand-made tensors, then the cat's
    and the coffee's features at the recipe's content layer."""
    layer, weight = preset_for(net).content
    feats = _features(net, [layer])[layer]
    hand = torch.randn(2, 1, 3, 4, 5, generator=_generator(0))
    inputs = [(2.5, hand[0], hand[1], "two hand-made (1, 3, 4, 5) tensors"), (weight, feats[:1], feats[1:], layer)]
    cases = []
    for w, current, original, what in inputs:
        d = current - original
        expected = reference.content_loss(w, current, original)
        mistakes = [
            Mistake(w * d.pow(2).mean(), "the content loss is the sum of the squared differences, not their mean"),
            Mistake(d.pow(2).sum(), "multiply the sum by content_weight"),
            Mistake(w * d.norm(), "the squared distance: the sum of squares, without a square root"),
            Mistake(w * d.abs().sum(), "square the differences (abs gives the L1 distance)"),
        ]
        args = (w, current.clone().requires_grad_(True), original)
        cases.append(Case(f"the features of {what}", args, expected, mistakes))
    return judge("content_loss", fn, cases, "content_weight * sum((content_current - content_original) ** 2)")


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], x.shape[1], -1)


def check_gram_matrix(fn: Callable[..., Any], net: Net) -> Result:
    """Judge ``gram_matrix(features, normalize)``: a hand-made batch of two with as many channels as positions (so
    that F F, without the transpose, can be computed), the same unnormalised, then real features of both photos."""
    layer = preset_for(net).style[0][0]
    square = torch.randn(2, 4, 2, 2, generator=_generator(1))
    transpose_hint = "missing transpose: the Gram matrix is F Fᵀ, F being the (C, H·W) features of one image"
    cases = []
    for x, normalize, what in [
        (square, True, "a hand-made (2, 4, 2, 2) batch"),
        (square, False, "a hand-made (2, 4, 2, 2) batch with normalize=False"),
        (_features(net, [layer])[layer], True, f"both photos' features at {layer}"),
    ]:
        batch, channels, height, width = x.shape
        flat, size = _flat(x), channels * height * width
        scale = size if normalize else 1
        mixed = flat.transpose(0, 1).reshape(channels, -1) @ flat.transpose(0, 1).reshape(channels, -1).T
        mixing_hint = (
            "one Gram matrix per image: keep the batch apart, (B, C, H·W) @ (B, H·W, C); yours mixes the batch's images"
        )
        mistakes = [
            Mistake(mixed.expand(batch, -1, -1) / scale, mixing_hint),
            Mistake(mixed.expand(batch, -1, -1) / (scale * batch), mixing_hint),
        ]
        if normalize:
            unnormalised = "Gram not normalised: divide F Fᵀ by C·H·W (the values per image) when normalize is True"
            mistakes.append(Mistake(reference.gram_matrix(x, False), unnormalised))
        if channels == height * width:
            mistakes += [
                Mistake(flat @ flat / scale, transpose_hint),
                Mistake(flat @ flat / size, transpose_hint),
                Mistake(flat.transpose(1, 2) @ flat / scale, f"{transpose_hint} (Fᵀ F compares positions)"),
            ]
        if not normalize:
            ignored = "normalize=False must return F Fᵀ as it is: your function ignores the flag"
            mistakes.insert(0, Mistake(reference.gram_matrix(x, True), ignored))
        shapes = {
            (channels, channels): mixing_hint,
            (1, channels, channels): mixing_hint,
            (batch * channels, batch * channels): mixing_hint,
            (batch, height * width, height * width): f"{transpose_hint} (Fᵀ F compares positions)",
        }
        x = x.clone().requires_grad_(True)
        cases.append(Case(what, (x, normalize), reference.gram_matrix(x, normalize).detach(), mistakes, shapes))
    return judge("gram_matrix", fn, cases, "F Fᵀ per image, F the (C, H·W) features; divided by C·H·W if normalize")


def _style_case(
    what: str,
    feats: Dict[str, torch.Tensor],
    layers: List[str],
    targets: List[torch.Tensor],
    weights: List[float],
) -> Case:
    w = torch.tensor(weights)

    def weighted(grams: List[torch.Tensor], term: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return (w * torch.stack([term(g - t) for g, t in zip(grams, targets)])).sum()

    grams = [reference.gram_matrix(feats[layer]) for layer in layers]
    raw = [reference.gram_matrix(feats[layer], False) for layer in layers]
    terms = torch.stack([(g - t).pow(2).sum() for g, t in zip(grams, targets)])
    mistakes = [
        Mistake(terms.sum(), "style loss forgetting weights: multiply each layer's term by its style weight"),
        Mistake(w[-1] * terms[-1], "add up the terms of every style layer (loss += ...); yours keeps only the last"),
        Mistake(
            weighted(raw, lambda d: d.pow(2).sum()),
            "the targets are normalised Gram matrices: compare them with gram_matrix(feats[layer]) (normalize=True)",
        ),
        Mistake(
            weighted(grams, lambda d: d.pow(2).mean()),
            "each term is the sum of the squared differences between the Gram matrices, not their mean",
        ),
        Mistake(
            weighted(grams, torch.norm),
            "each term is the squared distance: the sum of squares, without a square root",
        ),
    ]
    feats = {name: f.clone().requires_grad_(True) for name, f in feats.items()}
    # the engine's hint says layers are indices; names work the same (feats[layer] of a dict)
    expected = reference.style_loss(feats, layers, targets, weights).detach()
    return Case(what, (feats, layers, targets, weights), expected, mistakes)


def check_style_loss(fn: Callable[..., Any], net: Net) -> Result:
    """Judge ``style_loss(feats, style_layers, style_targets, style_weights)``: hand-made features of three layers
    (two of them style layers) and targets, then the cat's features and the coffee's Gram matrices at the recipe's
    layers."""
    recipe = preset_for(net)
    g = _generator(2)
    hand = {"a": torch.randn(1, 3, 4, 5, generator=g), "b": torch.randn(1, 5, 3, 3, generator=g)}
    hand["c"] = torch.randn(1, 2, 6, 4, generator=g)
    targets = [reference.gram_matrix(torch.randn(1, 2, 3, 3, generator=g)), reference.gram_matrix(hand["a"] + 1)]
    layers = [layer for layer, _ in recipe.style]
    real = _features(net, recipe.layers)
    cat = {name: f[:1] for name, f in real.items()}
    coffee = [reference.gram_matrix(real[layer][1:]) for layer in layers]
    weights = [w for _, w in recipe.style]
    cases = [
        _style_case("hand-made features of layers a, b, c (style layers c, a)", hand, ["c", "a"], targets, [2.0, 0.5]),
        _style_case("the cat's features and the coffee's Gram matrices", cat, layers, coffee, weights),
    ]
    generic = "sum over i of style_weights[i] * sum((gram_matrix(feats[style_layers[i]]) - style_targets[i]) ** 2)"
    return judge("style_loss", fn, cases, generic)


def check_tv_loss(fn: Callable[..., Any], net: Net) -> Result:
    """Judge ``tv_loss(img, tv_weight)``: a hand-made (1, 3, 5, 7) image, then the cat photo (normalised) with
    cs231n's weight (not the recipe's, which may be 0 and would then pass any function that returns 0)."""
    cat = net.preprocess.normalise(sample_image("cat").resize(SIDES))
    one_axis = (
        "TV over one axis only: add the squared differences of vertical neighbours (along H) and of horizontal ones "
        "(along W)"
    )
    twice = "you counted one axis twice: one term along H (img[:, :, 1:, :] - img[:, :, :-1, :]), one along W"
    cases = []
    for img, w, what in [
        (torch.randn(1, 3, 5, 7, generator=_generator(3)), 0.7, "a hand-made (1, 3, 5, 7) image"),
        (cat, CS231N.tv, "the cat photo"),
    ]:
        down, across = img.diff(dim=2), img.diff(dim=3)
        rows, columns = down.pow(2).sum(), across.pow(2).sum()
        mistakes = [
            Mistake(w * rows, one_axis),
            Mistake(w * columns, one_axis),
            Mistake(2 * w * rows, twice),
            Mistake(2 * w * columns, twice),
            Mistake(w * (down.abs().sum() + across.abs().sum()), "TV with abs: square the differences instead"),
            Mistake(rows + columns, "multiply the sum by tv_weight"),
            Mistake(w * (down.pow(2).mean() + across.pow(2).mean()), "sum the squared differences, not their mean"),
            Mistake(
                w * (rows + columns + img.diff(dim=1).pow(2).sum()),
                "neighbouring pixels differ along the height and the width (dims 2 and 3), not the channels (dim 1)",
            ),
        ]
        img = img.clone().requires_grad_(True)
        cases.append(Case(what, (img, w), reference.tv_loss(img, w).detach(), mistakes))
    generic = "tv_weight * (sum of squared differences of vertical neighbours + of horizontal neighbours)"
    return judge("tv_loss", fn, cases, generic)


CHECKS = (
    Check("content_loss", "content_loss", check_content_loss),
    Check("gram_matrix", "gram_matrix", check_gram_matrix),
    Check("style_loss", "style_loss", check_style_loss),
    Check("tv_loss", "tv_loss", check_tv_loss),
)
"""The assignment's checks, in its order."""
