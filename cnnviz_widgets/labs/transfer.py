"""Style transfer as the cs231n assignment runs it: the given outer loop around a student's four losses.

Gatys et al. (2016) optimise the pixels of a picture so that its features at one layer match a content photo's and
the Gram matrices of its features at a few layers match a style picture's, with a total-variation penalty for
smoothness. The losses are the student's; this module is the rest, which the assignment hands out: the targets are
computed once (the content photo's features, the Gram matrices of the style picture's), then Adam changes the
picture in the network's normalised space, optionally starting afresh at a lower learning rate near the end, and
before each step but the last ten the pixels are clamped to what a picture can hold (cs231n clamps to ±1.5 in its
own normalisation).

The assignment uses SqueezeNet, whose weights cannot be fetched offline; this loop runs on the default network
(EfficientNet-Lite0) with its recipe from :func:`~..engine.style.preset_for` (the engine's own ``style.Transfer``
uses the same). cs231n's absolute weights are tuned to SqueezeNet's feature sizes; on another network, whose
features differ in scale by orders of magnitude from layer to layer, they give noise. So the recipe's weights are
relative: the loop divides each by its target's squared norm before handing it to the student's loss, which makes
every term a relative error (the losses themselves do not change). The recipe states its learning rate for pixels
in [0, 1]; the loop converts it to the normalised space it optimises in.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Generator, Optional, Sequence

import torch

from ..engine.checks import check_bool, check_choice, check_float, check_int
from ..engine.errors import SettingError
from ..engine.hooks import capture
from ..engine.images import ImageLike
from ..engine.progress import Update, last
from ..engine.replica import private
from ..engine.style import REMEDIES, check_layers, preset_for, smooth
from .classvis import valid_range
from .pictures import default_net, preprocess

ContentLoss = Callable[[float, torch.Tensor, torch.Tensor], torch.Tensor]
"""``content_loss(content_weight, content_current, content_original)``: a scalar tensor."""
GramMatrix = Callable[..., torch.Tensor]
"""``gram_matrix(features, normalize=True)``: ``(N, C, H, W)`` to ``(N, C, C)``."""
StyleLoss = Callable[[Dict[str, torch.Tensor], Sequence[str], Sequence[torch.Tensor], Sequence[float]], torch.Tensor]
"""``style_loss(feats, style_layers, style_targets, style_weights)``: a scalar tensor."""
TVLoss = Callable[[torch.Tensor, float], torch.Tensor]
"""``tv_loss(img, tv_weight)``: a scalar tensor."""
CLAMP_UNTIL_END = 10
"""The last steps run without the clamp (cs231n's: 190 of 200)."""
MIN_LR = 1e-6
"""Smallest learning rate Adam may restart with (at 0 the picture would stop changing)."""
PIXEL_UNITS = {"unit": 1.0, "byte": 255.0}
"""How many of a raw space's units make one [0, 1] unit; a normalised unit is ``1 / std`` of them."""


def extract_features(
    x: torch.Tensor, layers: Sequence[str], temperature: Optional[float] = None
) -> Dict[str, torch.Tensor]:
    """The default network's features ``(N, C, H, W)`` of ``layers`` for ``x``, differentiable with respect to
    ``x``; the forward pass stops after the deepest of them (a module called several times gives its last call).

    Parameters
    ----------
    x : torch.Tensor
        Normalised pictures ``(N, 3, H, W)``.
    layers : sequence of str
        Layer names of the default network (``cw.labs.default_net().layers()`` lists them).
    temperature : float, optional
        Even each layer's features out with SWAG's softmax at this temperature (the ``"softmax"`` remedy).
    """
    net = default_net()
    check_layers(net, layers)
    names = list(dict.fromkeys(layers))
    calls = {record.name: record.calls for record in net.layers()}
    with private(net) as model, capture(model, names, until={name: calls.get(name, 1) for name in names}) as record:
        record.forward(model, x)
        feats = {name: record[name] for name in names}
    return feats if temperature is None else {name: smooth(f, temperature) for name, f in feats.items()}


def style_transfer_steps(
    content_loss: ContentLoss,
    gram_matrix: GramMatrix,
    style_loss: StyleLoss,
    tv_loss: TVLoss,
    content_image: ImageLike,
    style_image: ImageLike,
    image_size: int,
    style_size: int,
    content_layer: str,
    content_weight: float,
    style_layers: Sequence[str],
    style_weights: Sequence[float],
    tv_weight: float,
    init_random: bool = False,
    *,
    num_iterations: Optional[int] = None,
    decay_lr_at: Optional[int] = None,
    initial_lr: Optional[float] = None,
    decayed_lr: Optional[float] = None,
    remedy: Optional[str] = None,
    seed: int = 0,
) -> Generator[Update[torch.Tensor], None, None]:
    """The assignment's style transfer as a long call: an update after every step with a copy of the picture so
    far ``(1, 3, H, W)``, normalised for the default network (``cw.labs.deprocess`` shows it).

    Parameters
    ----------
    content_loss, gram_matrix, style_loss, tv_loss : callable
        The four losses, with the assignment's signatures; ``gram_matrix`` makes the style targets.
    content_image, style_image : PIL image, array, tensor or path
        The photo whose content is kept and the picture whose style is taken.
    image_size, style_size : int
        Shorter side of each, in pixels; the result has the content image's size.
    content_layer : str
        The layer whose features are matched to the content image's.
    content_weight : float
        Passed to ``content_loss`` (divided by the target's squared norm first when the weights are relative).
    style_layers : sequence of str
        The layers whose Gram matrices are matched to the style image's.
    style_weights : sequence of float
        One weight per style layer, passed to ``style_loss`` (each divided by its target's squared norm first when
        the weights are relative).
    tv_weight : float
        Passed to ``tv_loss`` (the picture is in normalised units).
    init_random : bool
        Start from uniform noise in 0..1 (normalised) instead of the content image.
    num_iterations : int, optional
        Steps taken; by default the recipe's (200, as cs231n's).
    decay_lr_at : int, optional
        The step at which Adam starts afresh with ``decayed_lr``; by default the recipe's restart (cs231n's: 180),
        or none.
    initial_lr, decayed_lr : float, optional
        Adam's learning rates, in normalised pixel units; by default the recipe's (cs231n's: 3 and 0.1). A restart
        the recipe does not have needs ``decayed_lr`` (at least ``MIN_LR``).
    remedy : str, optional
        How features are compared, one of ``"none"`` (the weights are absolute, as cs231n's), ``"scale"`` (relative
        weights) and ``"softmax"`` (relative, after SWAG's softmax of the features); by default the recipe's.
    seed : int
        Seeds the starting noise of ``init_random``.
    """
    recipe = preset_for(default_net())
    image_size, style_size = check_int("image_size", image_size, 16), check_int("style_size", style_size, 16)
    num_iterations = check_int("num_iterations", recipe.steps if num_iterations is None else num_iterations, 1)
    step, rate = next(iter(recipe.restarts), (num_iterations, None))
    decay_lr_at = check_int("decay_lr_at", step if decay_lr_at is None else decay_lr_at, 0)
    decayed_lr = rate if decayed_lr is None else decayed_lr
    if decayed_lr is None and decay_lr_at < num_iterations:
        raise SettingError(
            f"decay_lr_at={decay_lr_at} restarts Adam before the last of {num_iterations} steps, but the recipe has "
            "no rate to restart with: give decayed_lr too (cs231n's is 0.1), or leave decay_lr_at out"
        )
    restart = {decay_lr_at: check_float("decayed_lr", decayed_lr, MIN_LR)} if decayed_lr is not None else {}
    if initial_lr is None:  # the recipe's, converted from its space to the normalised one
        std = float(torch.tensor(default_net().preprocess.std).mean())
        initial_lr = recipe.lr / (1.0 if recipe.space == "normalized" else PIXEL_UNITS[recipe.space] * std)
    initial_lr = check_float("initial_lr", initial_lr, 0)
    remedy = check_choice("remedy", recipe.remedy if remedy is None else remedy, REMEDIES)
    temperature = recipe.temperature if remedy == "softmax" else None
    init_random = check_bool("init_random", init_random)
    style_layers = list(style_layers)
    if len(style_weights) != len(style_layers):
        counts = f"{len(style_layers)} layers, {len(style_weights)} weights"
        raise SettingError(f"give one style weight per style layer: {counts}")
    layers = [content_layer, *style_layers]

    content_img = preprocess(content_image, image_size)
    with torch.no_grad():
        content_target = extract_features(content_img, layers, temperature)[content_layer].clone()
        feats = extract_features(preprocess(style_image, style_size), style_layers, temperature)
        style_targets = [gram_matrix(feats[layer].clone()) for layer in style_layers]
    if remedy != "none":  # relative weights: each term becomes a relative error
        content_weight = content_weight / max(float(content_target.pow(2).sum()), 1e-12)
        style_weights = [w / max(float(t.pow(2).sum()), 1e-12) for w, t in zip(style_weights, style_targets)]

    if init_random:
        generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
        img = torch.rand(content_img.shape, generator=generator).to(content_img)
    else:
        img = content_img.clone()
    img.requires_grad_(True)
    low, high = (bound.view(1, 3, 1, 1).to(img) for bound in valid_range())
    optimizer = torch.optim.Adam([img], lr=initial_lr)
    for t in range(num_iterations):
        if t < num_iterations - CLAMP_UNTIL_END:
            img.data.copy_(torch.maximum(torch.minimum(img.data, high), low))
        optimizer.zero_grad()
        feats = extract_features(img, layers, temperature)
        c_loss = content_loss(content_weight, feats[content_layer], content_target)
        s_loss = style_loss(feats, style_layers, style_targets, style_weights)
        t_loss = tv_loss(img, tv_weight)
        loss = c_loss + s_loss + t_loss
        loss.backward()
        if t in restart:
            optimizer = torch.optim.Adam([img], lr=restart[t])
        optimizer.step()
        yield Update((t + 1) / num_iterations, img.detach().clone())


def style_transfer(*args: Any, **kwargs: Any) -> torch.Tensor:
    """The picture the assignment's style transfer ends with, ``(1, 3, H, W)`` normalised for the default network.
    Arguments are as for :func:`style_transfer_steps`, which this runs to the end."""
    return last(style_transfer_steps(*args, **kwargs))
