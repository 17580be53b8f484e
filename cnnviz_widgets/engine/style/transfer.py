"""Style transfer (Gatys et al. 2016) as a recipe for the feature-visualisation loop, with its two special cases:
texture synthesis (styles only, from noise) and feature inversion (content only, from noise).

The picture's raw pixels are optimised (in the model's normalised space, where cs231n states its step sizes) to match
the content photo's features at one layer and the style pictures' Gram matrices at several, with a total-variation
penalty. Several styles blend by weights: the target Gram matrix of each layer is their weighted mean. "Keep the
content's colours" transfers luminance only (Gatys et al. 2017): content and styles are turned grey (the styles'
lightness matched to the content's) and the result's lightness is recombined with the content's colours.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from PIL import Image
from torch import nn

from ..checks import check_float, check_int
from ..dream import photo_tensor
from ..errors import SettingError
from ..featurevis import Box, FeatureVisError, Objective, Visualization
from ..images import LUMA, ImageLike, load_image
from ..model import Net
from ..progress import Update, last
from ..schema import Option, check_settings
from .features import check_layers, features
from .losses import gram_matrix, smooth
from .objectives import Content, Match, Style
from .presets import REMEDIES, Preset, preset_for

MAX_STEPS = 100_000

STYLE_OPTIONS: Tuple[Option, ...] = (
    Option("balance", "style / content", "float", 1.0, 0.0, 1e4, group="losses",
           help="Multiplies every style weight: above 1 more style, below 1 more of the content"),
    Option("tv", "total variation", "float", None, 0.0, 1e4, group="losses", optional=True,
           help="Weight of the penalty on neighbouring pixels' differences: smoother pictures (default: recipe's)"),
    Option("remedy", "remedy", "choice", None, choices=REMEDIES, group="losses", optional=True,
           help="Compare features as they are, as relative errors (scale), or after SWAG's softmax (default: recipe)"),
    Option("init", "start from", "choice", "content", choices=("content", "noise"), group="picture",
           help="Start from the content photo (faster, keeps more of it) or from noise"),
    Option("style_scale", "style scale", "float", None, 0.1, 8.0, group="picture", optional=True,
           help="Size of the style pictures over the content's: larger gives larger brush strokes"),
    Option("keep_colors", "keep the content's colours", "bool", False, group="picture",
           help="Transfer lightness only, then put the content's colours back"),
    Option("optimizer", "optimiser", "choice", "adam", choices=("adam", "lbfgs"), group="optimiser",
           help="Adam with the recipe's learning rate, or L-BFGS (Gatys et al.'s)"),
    Option("seed", "seed", "int", 0, 0, 2**31 - 1, group="optimiser", help="Seeds the noise start"),
)  # fmt: skip
"""The tunable settings of :class:`Transfer` (its keyword arguments of the same names and defaults)."""


class StyleFrame(NamedTuple):
    """A snapshot of a run: the steps taken, the picture then (``(1, C, H, W)`` in [0, 1], on the CPU) and the
    weighted loss terms at the last step (``content``, ``style``, ``tv``, ``total``)."""

    step: int
    image: torch.Tensor
    losses: Dict[str, float]


def luminance(picture: torch.Tensor) -> torch.Tensor:
    """The lightness ``(B, 1, H, W)`` of an RGB picture ``(B, 3, H, W)`` (ITU-R 601 weights)."""
    weights = torch.tensor(LUMA, dtype=picture.dtype, device=picture.device).reshape(1, 3, 1, 1)
    return (picture * weights).sum(1, keepdim=True)


def with_colours(lightness: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
    """``colours`` ``(B, 3, H, W)`` with their lightness replaced by ``lightness`` ``(B, 1, H, W)`` (YIQ's Y swapped,
    I and Q kept), in [0, 1]."""
    return (colours + (lightness - luminance(colours))).clamp(0, 1)


class Transfer:
    """Style transfer on any CNN: one picture optimised to have ``content``'s features and the ``styles``' textures.

    Parameters
    ----------
    net : Net or nn.Module
        The network whose features are matched (never changed). Its recipe (:func:`~.presets.preset_for`) gives the
        layers and weights unless ``preset`` is given.
    content : image, optional
        The photo whose content is kept. ``None``: texture synthesis (then ``init`` is noise).
    styles : image or sequence of images
        The style pictures (any size or mode: resized to the style size, turned RGB, with a note in :attr:`notes`).
        Empty: feature inversion of the content.
    style_weights : sequence of float, optional
        How much of each style the blend has (default: equal). Their Gram matrices are mixed in these proportions.
    preset : Preset, optional
        The recipe (layers, weights, TV, learning rate, sizes, steps).
    size : int, optional
        Longest side of the picture in pixels (default: the recipe's).
    steps : int, optional
        Steps of a run (default: the recipe's); :meth:`steps` with no argument runs the rest of them.
    balance, tv, remedy, init, style_scale, keep_colors, optimizer, seed
        The settings of :data:`STYLE_OPTIONS`.

    Attributes
    ----------
    curves : dict of str to list of float
        The weighted loss terms at every step taken.
    notes : list of str
        What was done to the inputs (resizing, mode conversion).
    """

    options = STYLE_OPTIONS

    def __init__(
        self,
        net: Union[Net, nn.Module],
        content: Optional[ImageLike] = None,
        styles: Union[ImageLike, Sequence[ImageLike]] = (),
        *,
        style_weights: Optional[Sequence[float]] = None,
        preset: Optional[Preset] = None,
        size: Optional[int] = None,
        steps: Optional[int] = None,
        balance: float = 1.0,
        tv: Optional[float] = None,
        remedy: Optional[str] = None,
        init: str = "content",
        style_scale: Optional[float] = None,
        keep_colors: bool = False,
        optimizer: str = "adam",
        seed: int = 0,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        given = dict(balance=balance, tv=tv, remedy=remedy, init=init, style_scale=style_scale)
        given.update(keep_colors=keep_colors, optimizer=optimizer, seed=seed)
        try:
            self.settings = s = check_settings(STYLE_OPTIONS, given)
        except SettingError as exc:
            raise FeatureVisError(str(exc)) from None
        recipe = preset if preset is not None else preset_for(self.net)
        if not isinstance(recipe, Preset):
            raise FeatureVisError(f"preset must be a style Preset (engine.style.PRESETS), got {preset!r}")
        self.preset = recipe.with_remedy(s["remedy"]) if s["remedy"] is not None else recipe
        channels = self.net.preprocess.channels
        if channels != 3:
            raise FeatureVisError(f"style transfer needs a colour (3-channel) model; {self.net.name} takes {channels}")
        pictures = _as_list(styles)
        if content is None and not pictures:
            raise FeatureVisError("nothing to match: give a content photo, one or more style pictures, or both")
        if content is None and s["balance"] == 0:
            raise FeatureVisError(
                "with no content photo and balance 0 (no style weight), nothing is matched and the picture would stay "
                "the noise it starts from: give a content photo or a balance above 0"
            )
        self.total = _count("steps", steps if steps is not None else self.preset.steps)
        side = size if size is not None else self.preset.size
        self.notes: List[str] = []
        check_layers(self.net, self.preset.layers)
        self.content = photo_tensor(content, 3, side) if content is not None else None
        height, width = self.content.shape[-2:] if self.content is not None else (side, side)
        scale = s["style_scale"] if s["style_scale"] is not None else self.preset.style_scale
        style_side = max(16, round(max(height, width) * scale))
        self.styles = [self._style(picture, i, style_side) for i, picture in enumerate(pictures)]
        self.mix = _mix(style_weights, len(self.styles))
        self.remedy = self.preset.remedy
        self.temperature = self.preset.temperature if self.remedy == "softmax" else None
        self.terms = self._terms()
        objective: Objective = sum(self.terms)  # type: ignore[assignment]
        adam = s["optimizer"] == "adam"
        self.vis = Visualization(
            self.net, objective, (height, width), native=True, param="pixel", squash="clamp", decorrelate=False,
            space=self.preset.space, transforms=False, init=self._start(height, width),
            constraint=Box() if adam else None,  # L-BFGS must take the steps it proposes; the model sees clamped pixels
            rule=s["optimizer"], lr=self.preset.lr if adam else 1.0,
            restarts=dict(self.preset.restarts) if adam else None,
            tv_sum=self.preset.tv if s["tv"] is None else s["tv"], seed=s["seed"],
        )  # fmt: skip
        self.curves: Dict[str, List[float]] = {"content": [], "style": [], "tv": [], "total": []}

    # -- set-up ---------------------------------------------------------------------------------------------
    def _style(self, picture: ImageLike, index: int, side: int) -> torch.Tensor:
        """Style picture ``index`` as ``(1, 3, h, w)`` in [0, 1], its longest side ``side``; notes what changed."""
        image = load_image(picture)
        original = getattr(picture, "mode", None) if isinstance(picture, Image.Image) else None
        if original not in (None, "RGB"):
            self.notes.append(f"style {index + 1} was {original}: used as RGB")
        tensor = photo_tensor(image, 3, side)
        if max(image.size) != side:
            h, w = tensor.shape[-2:]
            self.notes.append(f"style {index + 1} resized from {image.size[0]}x{image.size[1]} to {w}x{h} px")
        return tensor

    def _grey(self, picture: torch.Tensor, like: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``picture``'s lightness as a grey RGB picture; with ``like``, its mean and spread matched to ``like``'s."""
        y = luminance(picture)
        if like is not None:
            ref = luminance(like)
            y = (y - y.mean()) / y.std().clamp_min(1e-6) * ref.std() + ref.mean()
        return y.clamp(0, 1).expand(-1, 3, -1, -1)

    def _terms(self) -> List[Match]:
        """The content term (if there is a content photo) and one style term per style layer (if styles)."""
        keep = self.settings["keep_colors"]
        terms: List[Match] = []
        if self.content is not None:
            layer, weight = self.preset.content
            photo = self._grey(self.content) if keep else self.content
            target = self._prepared(features(self.net, photo, [layer])[layer])
            terms.append(Content(layer, target, self._weight(weight, target), self.temperature))
        if self.styles and self.settings["balance"] > 0:
            layers = [layer for layer, _ in self.preset.style]
            blends: Dict[str, List[torch.Tensor]] = {layer: [] for layer in layers}
            for picture, share in zip(self.styles, self.mix):
                shown = self._grey(picture, self.content) if keep else picture
                maps = features(self.net, shown, layers)
                for layer in layers:
                    blends[layer].append(share * gram_matrix(self._prepared(maps[layer])))
            grams = {layer: torch.stack(parts).sum(0) for layer, parts in blends.items()}
            balance = self.settings["balance"]
            terms += [
                Style(layer, grams[layer], self._weight(weight * balance, grams[layer]), self.temperature)
                for layer, weight in self.preset.style
            ]
        return terms

    def _weight(self, weight: float, target: torch.Tensor) -> float:
        """A term's weight: the recipe's, over the target's squared norm when the recipe's weights are relative."""
        return weight / max(float(target.pow(2).sum()), 1e-12) if self.remedy != "none" else weight

    def _prepared(self, maps: torch.Tensor) -> torch.Tensor:
        """Target features as the objectives see the picture's: softened when the remedy is on."""
        return maps if self.temperature is None else smooth(maps, self.temperature)

    def _start(self, height: int, width: int) -> torch.Tensor:
        """The first picture: the content photo (grey when keeping colours), or seeded uniform noise."""
        if self.settings["init"] == "content" and self.content is not None:
            return self._grey(self.content) if self.settings["keep_colors"] else self.content
        generator = torch.Generator().manual_seed(self.settings["seed"])
        return torch.rand(1, 3, height, width, generator=generator)

    # -- running --------------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Steps taken so far."""
        return self.vis.step

    def image(self) -> torch.Tensor:
        """The picture now, ``(1, 3, H, W)`` in [0, 1] on the CPU (in the content's colours when keeping them)."""
        picture = self.vis.image()
        if self.settings["keep_colors"] and self.content is not None:
            return with_colours(luminance(picture), self.content)
        return picture

    def losses(self) -> Dict[str, float]:
        """The weighted loss terms of the last step: ``content``, ``style``, ``tv`` and their ``total``."""
        parts = {"content": 0.0, "style": 0.0}
        for term in self.terms:
            if term.last is not None:
                parts[term.kind] += term.weight * float(term.last)
        parts["tv"] = self.vis.tv_sum * self.vis.penalties.get("tv_sum", 0.0)
        parts["total"] = parts["content"] + parts["style"] + parts["tv"]
        return parts

    def steps(self, steps: Optional[int] = None, every: int = 1) -> Iterator[Update[StyleFrame]]:
        """Take ``steps`` more steps (default: the rest of the run's), one update after each, with a
        :class:`StyleFrame` every ``every`` steps and after the last. Stop iterating to stop; call again to resume."""
        count = _count("steps", steps) if steps is not None else max(0, self.total - self.step)
        return self._steps(self.vis.steps(count, every))

    def _steps(self, updates: Iterator[Update]) -> Iterator[Update[StyleFrame]]:
        for update in updates:
            if self.vis.curve:
                for name, value in self.losses().items():
                    self.curves[name].append(value)
            frame = None if update.result is None else StyleFrame(self.step, self.image(), self.losses())
            yield Update(update.fraction, frame)


def _as_list(styles: Union[ImageLike, Sequence[ImageLike]]) -> List[ImageLike]:
    """The style pictures as a list (one picture given alone is a list of one)."""
    if isinstance(styles, (list, tuple)):
        return list(styles)
    return [styles]  # type: ignore[list-item]


def _mix(weights: Optional[Sequence[float]], count: int) -> List[float]:
    """The styles' shares of the blend, summing to 1 (equal by default)."""
    if weights is None:
        return [1.0 / count] * count if count else []
    if len(weights) != count:
        raise FeatureVisError(f"style_weights has {len(weights)} weights for {count} style pictures: give one each")
    values = [check_float("style weight", w, 0.0, error=FeatureVisError) for w in weights]
    if sum(values) <= 0:
        raise FeatureVisError("style_weights must not all be 0: give each style a share of the blend")
    return [w / sum(values) for w in values]


def _count(name: str, value: int) -> int:
    """A number of steps, checked."""
    return check_int(name, value, 0, MAX_STEPS, error=FeatureVisError)


def style_transfer_steps(
    net: Union[Net, nn.Module],
    content: Optional[ImageLike],
    styles: Union[ImageLike, Sequence[ImageLike]] = (),
    *,
    every: int = 10,
    **settings,
) -> Iterator[Update[StyleFrame]]:
    """The updates of a whole :class:`Transfer` run (its settings are checked before the first); stop iterating to
    stop it. ``every``: a frame every this many steps and after the last."""
    return Transfer(net, content, styles, **settings).steps(every=every)


def style_transfer(
    net: Union[Net, nn.Module], content: ImageLike, styles: Union[ImageLike, Sequence[ImageLike]], **settings
) -> torch.Tensor:
    """The stylised picture ``(1, 3, H, W)`` in [0, 1]: a :class:`Transfer` run to the end."""
    run = Transfer(net, content, styles, **settings)
    last(run.steps(every=0))
    return run.image()


def texture_synthesis(
    net: Union[Net, nn.Module], texture: Union[ImageLike, Sequence[ImageLike]], size: int = 256, **settings
) -> torch.Tensor:
    """A new ``size`` x ``size`` picture with ``texture``'s Gram statistics, grown from noise (Gatys et al. 2015)."""
    run = Transfer(net, None, texture, size=size, init="noise", **settings)
    last(run.steps(every=0))
    return run.image()
