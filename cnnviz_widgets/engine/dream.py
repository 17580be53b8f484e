"""DeepDream (Mordvintsev, Olah and Tyka, 2015): amplify what a layer already sees in a photo, octave by octave.

Google's scheme: the photo is shrunk by ``1 / scale`` a few times (the octaves). From the smallest up, the detail
dreamt so far is upscaled to the octave's size and added to that octave's photo, and a few gradient steps raise the
objective there; the new detail is what the steps changed. Coarse octaves grow large structures, fine ones add texture,
and the final picture is the full-size photo plus all the detail.

Each octave is ONE :class:`~.featurevis.Visualization` (no loop of its own here): raw pixels in Google's byte space,
steps of ``lr / 255`` divided by the mean absolute gradient, a random circular shift of up to ``jitter`` pixels every
step, pixels kept in [0, 1], the model seeing the picture at its own size, and the gradient evaluated on tiles of at
most ``tile`` pixels so that memory stays bounded on large pictures.
"""

from __future__ import annotations

import math
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from .batching import spans
from .checks import check_int
from .errors import FeatureVisError, SettingError
from .featurevis import OUTPUT, Box, Objective, Visualization, as_objective, deepdream
from .featurevis.objectives import guided
from .featurevis.optimize import MAX_SIZE
from .featurevis.transforms import Roll
from .hooks import capture
from .images import ImageLike, load_image, pixels
from .layers import default_layer
from .model import Net
from .progress import Update, last
from .replica import private
from .schema import Option, check_settings

MAX_SIDE = MAX_SIZE
"""Longest side of a dream picture, in pixels (tiling keeps the memory of larger ones bounded, not their time)."""

DREAM_OPTIONS: Tuple[Option, ...] = (
    Option("octaves", "octaves", "int", 4, 1, 12, group="octaves",
           help="How many scales the picture is dreamt at, from the smallest up"),
    Option("scale", "octave scale", "float", 1.4, 1.05, 4.0, group="octaves",
           help="Each octave is this many times smaller than the next"),
    Option("steps", "steps per octave", "int", 10, 1, 10_000, group="octaves", unit="steps",
           help="Gradient steps at each octave"),
    Option("lr", "strength", "float", 1.5, 0.01, 100.0, group="step", unit="/255",
           help="Step size in 1/255 of the picture's range, divided by the mean absolute gradient"),
    Option("jitter", "jitter", "int", 32, 0, 512, group="step", unit="px",
           help="Largest random circular shift before each step (hides the seams of the shift)"),
    Option("tile", "tile", "int", 512, 0, MAX_SIDE, group="step", unit="px",
           help="Evaluate the gradient on tiles of at most this side (0: the whole picture at once)"),
    Option("seed", "seed", "int", 0, 0, 2**31 - 1, group="step", help="Seeds the jitter: a dream repeats"),
)  # fmt: skip
"""The tunable settings of :class:`Dream` (its keyword arguments of the same names and defaults)."""


class DreamFrame(NamedTuple):
    """A snapshot of a dream: steps taken over all octaves, the octave (0: the smallest), that octave's picture
    ``(1, C, h, w)`` in [0, 1] on the CPU, the objective before the last step, and at the end of an octave the
    full-size picture ``(1, C, H, W)`` (the photo plus the detail so far; ``None`` between octave ends)."""

    step: int
    octave: int
    image: torch.Tensor
    value: float
    full: Optional[torch.Tensor] = None


def octave_sizes(height: int, width: int, octaves: int, scale: float) -> List[Tuple[int, int]]:
    """``(h, w)`` of each octave, smallest first, the last being ``(height, width)``: each side divided by
    ``scale`` per octave down, rounded (at least 1)."""
    return [(max(1, round(height / scale**k)), max(1, round(width / scale**k))) for k in reversed(range(octaves))]


def resized(image: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """``image`` ``(B, C, h, w)`` resized to ``size`` bilinearly (antialiased when it shrinks)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrink = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def photo_tensor(image: ImageLike, channels: int, side: Optional[int]) -> torch.Tensor:
    """``image`` as ``(1, channels, H, W)`` in [0, 1], its longest side made ``side`` pixels when given."""
    picture = load_image(image)
    if side is not None:
        side = check_int("size", side, 16, MAX_SIDE, error=FeatureVisError)
        w, h = picture.size
        k = side / max(w, h)
        picture = picture.resize((max(1, round(w * k)), max(1, round(h * k))))
    elif max(picture.size) > MAX_SIDE:
        raise FeatureVisError(
            f"the image is {picture.size[0]}x{picture.size[1]} px; dreams go up to {MAX_SIDE} px on the longest side: "
            f"pass size=... (e.g. size={MAX_SIDE}) to shrink it"
        )
    return pixels(picture, channels)[None]


class Dream:
    """DeepDream on one photo: octave after octave, a :class:`~.featurevis.Visualization` raises ``objective``.

    Parameters
    ----------
    net : Net or nn.Module
        The network; a bare module gets ImageNet normalisation. Its weights and state are never changed.
    image : PIL image, array, tensor, path or bytes
        The photo to dream on, at its own size (or ``size``).
    objective : str or Objective, optional
        What to amplify: ``"layer"`` (the whole layer: mean squared activation), ``"layer:unit"`` (one channel),
        or any objective, e.g. ``featurevis.class_logit(207)``. Default: a block two thirds of the way up.
    guide : image, optional
        Dream towards this picture's features at the objective's layer instead (``objectives.guided``); needs a
        ``"layer"`` objective.
    octaves : int
        Number of scales, 1..12.
    scale : float
        Ratio between consecutive octaves' sides, 1.05..4.
    steps : int
        Gradient steps per octave.
    lr : float
        Step size in 1/255 of the picture's range, divided by the mean absolute gradient (Google's 1.5).
    jitter : int
        Largest random circular shift of the picture before each step, in pixels.
    tile : int
        Largest tile side on which the gradient is evaluated (0: no tiling). Only objectives that are means over
        positions (a layer, a channel, a guide) can be tiled; others need pictures no larger than ``tile``.
    seed : int
        Seeds the jitter: the same dream on the same device.
    size : int, optional
        Resize the photo so that its longest side has this many pixels (16..2048) first.

    Attributes
    ----------
    step : int
        Steps taken over all octaves. ``total`` is ``octaves * steps``; more steps go on at full size.
    octave : int
        The octave being dreamt (0: the smallest).
    norms : list of float
        After each finished octave, the L2 norm of what the objective reads (the amplified layer, or channel) on
        the full-size picture then. ``norm0`` is that norm on the photo itself.
    """

    options = DREAM_OPTIONS

    def __init__(
        self,
        net: Union[Net, nn.Module],
        image: ImageLike,
        objective: Union[None, str, Objective] = None,
        *,
        guide: Optional[ImageLike] = None,
        octaves: int = 4,
        scale: float = 1.4,
        steps: int = 10,
        lr: float = 1.5,
        jitter: int = 32,
        tile: int = 512,
        seed: int = 0,
        size: Optional[int] = None,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        given = dict(octaves=octaves, scale=scale, steps=steps, lr=lr, jitter=jitter, tile=tile, seed=seed)
        try:
            self.settings = check_settings(DREAM_OPTIONS, given)
        except SettingError as exc:
            raise FeatureVisError(str(exc)) from None
        prep = self.net.preprocess
        self.photo = photo_tensor(image, prep.channels, size)
        height, width = self.photo.shape[-2:]
        if objective is None:
            objective = deepdream(default_layer(self.net.model, self.net.layers()))
        self.objective = as_objective(objective)
        if guide is not None:
            self.objective = self._guided(guide)
        self.sizes = octave_sizes(height, width, self.settings["octaves"], self.settings["scale"])
        self._check_tiles()
        self.bases = [resized(self.photo, s) for s in self.sizes]
        self.total = self.settings["octaves"] * self.settings["steps"]
        self.step = 0
        self.octave = 0
        self.detail = torch.zeros_like(self.bases[0])
        self.vis = self._visualization(0)  # checks the objective and the smallest octave now, not at the first step
        self.norm0 = self.norm(self.photo)
        self.norms: List[float] = []

    # -- set-up ---------------------------------------------------------------------------------------------
    def _guided(self, guide: ImageLike) -> Objective:
        """The guided objective: the guide picture's feature vectors at the objective's layer."""
        layer = getattr(self.objective, "layer", None)
        if getattr(self.objective, "kind", None) != "layer" or layer is None:
            raise FeatureVisError(
                f"a guide is matched at a whole layer: use objective='<layer>' with it (got {self.objective!r})"
            )
        x = self.net.tensor(guide).to(self.net.device, self.net.dtype)
        with private(self.net) as model, torch.no_grad(), capture(model, [layer]) as record:
            record.forward(model, x)
            features = record[layer][0].float()
        if features.dim() != 3:
            raise FeatureVisError(
                f"a guide needs a layer with a spatial (C, H, W) output; {layer!r} gives {features.shape}"
            )
        return guided(layer, features.flatten(1))

    def _check_tiles(self) -> None:
        """Refuse a picture above the tile size for an objective that tiles cannot compute."""
        tile, (height, width) = self.settings["tile"], self.sizes[-1]
        if tile and max(height, width) > tile and not self.objective.tileable:
            raise FeatureVisError(
                f"{self.objective!r} is not a mean over positions, so its gradient cannot be computed tile by tile, "
                f"and the picture ({width}x{height} px) is larger than tile={tile}: use a layer or channel objective, "
                f"a picture of at most {tile} px (size={tile}), or tile=0 (no tiling: memory grows with the picture)"
            )

    def _visualization(self, octave: int) -> Visualization:
        """Octave ``octave``'s visualisation, starting from its photo plus the detail so far."""
        s = self.settings
        start = (self.bases[octave] + self.detail).clamp(0, 1)
        try:
            return Visualization(
                self.net, self.objective, self.sizes[octave], native=True, param="pixel", space="byte",
                decorrelate=False, squash="clamp", rule="mean_abs", lr=s["lr"], transforms=Roll(s["jitter"]),
                constraint=Box(), tile=s["tile"], init=start, seed=s["seed"] + octave,
            )  # fmt: skip
        except FeatureVisError as exc:
            h, w = self.sizes[octave]
            raise FeatureVisError(
                f"octave {octave + 1} of {len(self.sizes)} is {w}x{h} px: {exc}. Use fewer octaves, a smaller scale "
                "or a larger picture"
            ) from None

    # -- measuring ------------------------------------------------------------------------------------------
    def full(self) -> torch.Tensor:
        """The full-size picture now: the photo plus the detail dreamt so far, ``(1, C, H, W)`` in [0, 1] on the CPU."""
        detail = self.vis.image() - self.bases[self.octave]
        return (self.photo + resized(detail, self.sizes[-1])).clamp(0, 1)

    def norm(self, picture: torch.Tensor) -> float:
        """The L2 norm of what the objective reads (its channels of its layers; all logits for a class) on
        ``picture`` ``(1, C, H, W)`` in [0, 1], without gradients; tile by tile when the picture is larger than
        ``tile`` (so memory stays bounded: positions near a tile's edge then see that edge, not their neighbours)."""
        prep, tile = self.net.preprocess, self.settings["tile"] if self.objective.tileable else 0
        mean = torch.tensor(prep.mean).reshape(1, -1, 1, 1)
        std = torch.tensor(prep.std).reshape(1, -1, 1, 1)
        x = (picture - mean) / std
        height, width = x.shape[-2:]
        total = 0.0
        for rows in spans(height, tile):
            for cols in spans(width, tile):
                total += self._squares(x[..., rows, cols])
        return math.sqrt(total)

    def _squares(self, x: torch.Tensor) -> float:
        """The sum of squares of what the objective reads, for the normalised input ``x``."""
        wanted = self.objective.channels()
        hooked = sorted(name for name in wanted if name != OUTPUT)
        with private(self.net) as model, torch.no_grad(), capture(model, hooked) as record:
            logits = record.forward(model, x.to(self.net.device, self.net.dtype))
            acts: Dict[str, torch.Tensor] = {name: record[name] for name in hooked}
            if OUTPUT in wanted and isinstance(logits, torch.Tensor):
                acts[OUTPUT] = logits
            total = 0.0
            for name, act in acts.items():
                channels = wanted[name]
                picked = act if channels is None else act[:, sorted(channels)]
                total += float(picked.float().pow(2).sum())
        return total

    # -- dreaming -------------------------------------------------------------------------------------------
    def image(self) -> torch.Tensor:
        """The current octave's picture, ``(1, C, h, w)`` in [0, 1] on the CPU."""
        return self.vis.image()

    @property
    def per_octave(self) -> int:
        """Steps per octave."""
        return int(self.settings["steps"])

    def _advance(self) -> None:
        """Start the next octave once the current one has taken its steps (the last octave goes on as it is)."""
        if self.octave + 1 < len(self.sizes) and self.vis.step >= self.per_octave:
            self.detail = self.vis.image() - self.bases[self.octave]
            self.octave += 1
            self.detail = resized(self.detail, self.sizes[self.octave])
            self.vis = self._visualization(self.octave)

    def steps(self, steps: int, every: int = 1) -> Iterator[Update[DreamFrame]]:
        """Take ``steps`` more steps across the octaves, one :class:`~.progress.Update` after each; a
        :class:`DreamFrame` after every ``every``-th step overall, at the end of every octave (with the full-size
        picture) and after the last step. Stop iterating to stop; a later call goes on where this one stopped.

        Parameters
        ----------
        steps : int
            Steps to take now, 0..1,000,000 (:attr:`remaining` finishes the dream; beyond it the full-size
            picture is refined further).
        every : int
            How often a frame comes between octave ends (0: only at octave ends and after the last step).
        """
        steps = check_int("steps", steps, 0, 1_000_000, error=FeatureVisError)
        every = check_int("every", every, 0, 1_000_000, error=FeatureVisError)
        return self._steps(steps, every)

    @property
    def remaining(self) -> int:
        """Steps left until the last octave has taken its steps."""
        return max(0, self.total - self.step)

    def _frame(self, value: float, full: Optional[torch.Tensor] = None) -> DreamFrame:
        return DreamFrame(self.step, self.octave, self.vis.image(), value, full)

    def _steps(self, steps: int, every: int) -> Iterator[Update[DreamFrame]]:
        if steps == 0:
            yield Update(1.0, self._frame(self.vis.curve[-1] if self.vis.curve else math.nan))
        for done in range(1, steps + 1):
            self._advance()
            (update,) = self.vis.steps(1, every=0)
            value = update.result.value if update.result is not None else math.nan
            self.step += 1
            full = None
            if self.vis.step == self.per_octave:  # the octave's last step: measure the full-size picture
                full = self.full()
                self.norms.append(self.norm(full))
            elif done == steps and self.octave == len(self.sizes) - 1:
                full = self.full()
            shown = full is not None or done == steps or (every > 0 and self.step % every == 0)
            yield Update(done / steps, self._frame(value, full) if shown else None)


def dream_steps(
    net: Union[Net, nn.Module], image: ImageLike, objective: Union[None, str, Objective] = None, *, every: int = 1,
    **settings,
) -> Iterator[Update[DreamFrame]]:  # fmt: skip
    """The updates of a whole dream (:class:`Dream`'s arguments; checked before the first update)."""
    dream = Dream(net, image, objective, **settings)
    return dream.steps(dream.remaining, every)


def deep_dream(
    net: Union[Net, nn.Module], image: ImageLike, objective: Union[None, str, Objective] = None, **settings
) -> torch.Tensor:
    """The dreamt picture, ``(1, C, H, W)`` in [0, 1] on the CPU: :func:`dream_steps` run to the end."""
    frame = last(dream_steps(net, image, objective, every=0, **settings))
    return frame.full if frame.full is not None else frame.image
