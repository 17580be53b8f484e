"""What the StyleTransfer and TextureSynthesis views share: their settings (the engine's
:data:`~cnnviz_widgets.engine.style.STYLE_OPTIONS`, the picture's size and the steps of a run), the blend and layer
weights, all frozen into :class:`StyleSettings` when Start is pressed, and :class:`Styling`, the engine's
:class:`~cnnviz_widgets.engine.style.Transfer` with the step it runs to, the traits that show it and the status lines
that say how far it got (also of a FastStyleTrainer's training: any :class:`Run`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Generic, Iterator, List, Mapping, Optional, Protocol, Sequence, Tuple, TypeVar, Union

import torch

from ..engine.checks import check_float
from ..engine.dream import MAX_SIDE
from ..engine.featurevis import FeatureVisError
from ..engine.images import ImageError, ImageLike, load_image
from ..engine.model import Net
from ..engine.progress import Update
from ..engine.schema import Option
from ..engine.style import STYLE_OPTIONS, Preset, Transfer, check_layers
from ..engine.style.transfer import MAX_STEPS
from .encoding import png_bytes
from .frames import image_strip

CURVE_INTERVAL = 1.0
"""Least seconds between two sends of the loss curves while a run goes on (they grow by one value a step)."""
THUMBNAIL = 128
"""Longest side in pixels of the content and style thumbnails."""
MAX_WEIGHT = 1e7
"""Largest weight of a style picture or a style layer."""

SIZE = Option("size", "size", "int", None, 16, MAX_SIDE, group="picture", optional=True, unit="px",
              help="Longest side of the picture, the content photo resized to it (default: the recipe's)")  # fmt: skip
STEPS = Option("steps", "steps", "int", None, 1, MAX_STEPS, group="optimiser", optional=True,
               help="Steps of a run; Resume at the end goes on by as many (default: the recipe's)")  # fmt: skip
TRANSFER_SETTINGS: Tuple[Option, ...] = (SIZE, STEPS, *STYLE_OPTIONS)
"""StyleTransfer's settings: the picture's size, the steps of a run, and the engine's."""
TEXTURE_SETTINGS: Tuple[Option, ...] = (
    replace(SIZE, default=256, optional=False, help="Side of the square texture"),
    STEPS,
    *(o for o in STYLE_OPTIONS if o.name not in ("balance", "init", "keep_colors")),
)
"""TextureSynthesis's settings: no content photo, so no balance with it, no start from it and no colours to keep."""

Layers = Union[None, Sequence[str], Mapping[str, float]]


def style_layers(net: Net, preset: Preset, layers: Layers) -> Tuple[Tuple[str, float], ...]:
    """The style layers and their weights: the recipe's, or ``layers`` (``{name: weight}``, or names: sharing the
    recipe's total style weight equally when its weights are relative, each keeping its own recipe weight when they
    are absolute, as cs231n's, tuned to each layer), checked against the model."""
    if layers is None:
        return preset.style
    if isinstance(layers, str) or not isinstance(layers, (Sequence, Mapping)):
        raise FeatureVisError(f"layers must be a list of layer names or a {{name: weight}} dict, got {layers!r}")
    if not layers:
        raise FeatureVisError("layers is empty: give at least one style layer (or None for the recipe's)")
    if isinstance(layers, Mapping):
        pairs = [(str(name), weight) for name, weight in layers.items()]
    elif preset.remedy == "none":
        own = dict(preset.style)
        missing = [str(name) for name in layers if name not in own]
        if missing:
            raise FeatureVisError(
                f"the recipe {preset.name} has no weight for {', '.join(missing)}, and its weights are absolute (tuned "
                "to each layer, so none can be shared out): give layers as a {layer: weight} dict"
            )
        pairs = [(str(name), own[name]) for name in layers]
    else:
        share = sum(weight for _, weight in preset.style) / len(layers)
        pairs = [(str(name), share) for name in layers]
    names = [name for name, _ in pairs]
    check_layers(net, names)
    return tuple(zip(names, check_weights("the layers' weights", [w for _, w in pairs], len(pairs))))


def check_weights(name: str, weights: Any, count: int) -> Tuple[float, ...]:
    """``weights`` as ``count`` numbers in 0..MAX_WEIGHT, or an error saying what is wanted."""
    if isinstance(weights, (str, bytes)) or not isinstance(weights, Sequence) or len(weights) != count:
        wanted = f"a list of {count} number(s) in 0..{MAX_WEIGHT:g}, one each"
        raise FeatureVisError(f"{name} must be {wanted}; got {weights!r}")
    return tuple(check_float(f"each of {name}", w, 0.0, MAX_WEIGHT, error=FeatureVisError) for w in weights)


@dataclass(frozen=True)
class StyleSettings:
    """Everything one run depends on, frozen when Start is pressed (the traits may change meanwhile): the engine's
    settings, the size and steps (``None``: the recipe's), each style picture's share of the blend and each style
    layer's weight."""

    engine: Tuple[Tuple[str, Any], ...]
    size: Optional[int]
    steps: Optional[int]
    mix: Tuple[float, ...]
    layers: Tuple[Tuple[str, float], ...]
    content: Optional[ImageLike] = field(default=None, compare=False)
    styles: Tuple[ImageLike, ...] = field(default=(), compare=False)

    def build(self, net: Net, preset: Preset) -> Transfer:
        """The engine's run (it checks everything and computes the targets: a few forward passes)."""
        if self.content is None and not any(weight for _, weight in self.layers):
            raise FeatureVisError(
                "every style layer's weight is 0 and there is no content photo: nothing would be matched and the "
                "picture would stay the noise it starts from; give a layer a weight above 0"
            )
        recipe = replace(preset, style=self.layers)
        mix = self.mix if self.styles else None
        return Transfer(net, self.content, list(self.styles), style_weights=mix, preset=recipe, size=self.size,
                        steps=self.steps, **dict(self.engine))  # fmt: skip


class Run(Protocol):
    """What :class:`Styling` drives: the engine's :class:`~cnnviz_widgets.engine.style.Transfer`, or anything with its
    steps taken, steps of a run, content picture (``None``: a texture), loss curves, picture and last losses."""

    @property
    def step(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def content(self) -> Optional[torch.Tensor]: ...
    @property
    def curves(self) -> Dict[str, List[float]]: ...
    def steps(self, steps: Optional[int] = None, every: int = 1) -> Iterator[Update[Any]]: ...
    def image(self) -> torch.Tensor: ...
    def losses(self) -> Dict[str, float]: ...


R = TypeVar("R", bound=Run)


@dataclass
class Styling(Generic[R]):
    """One run under way: ``goal`` is the step it runs to, ``first`` the step the current stretch (Start or Resume)
    began at, for the speed, and ``curves_at`` when (``time.monotonic``) the curves were last sent; ``settings`` are
    the frozen settings it was started with."""

    transfer: R
    settings: Any
    goal: int
    first: int = 0
    curves_at: float = -math.inf

    def more(self) -> Iterator[Update[Any]]:
        """Start, or Resume: go on to ``goal``, or a run's steps more if it got there. The updates carry no pictures:
        :meth:`partial` renders one only when a frame is due."""
        self.curves_at = -math.inf
        return self._stretch()

    def _stretch(self) -> Iterator[Update[Any]]:
        """The steps left, counted at the first update (in the job, once a stopped job has finished its step)."""
        run = self.transfer
        if run.step >= self.goal:
            self.goal = run.step + run.total
        self.first = run.step
        yield from run.steps(self.goal - run.step, every=0)

    def curves(self) -> Dict[str, List[float]]:
        return {name: list(values) for name, values in self.transfer.curves.items()}

    def partial(self, seconds: float) -> Dict[str, Any]:
        """A live frame's traits: the step, the status line, the curves (at most once per ``CURVE_INTERVAL``) and,
        last so that its observers see its step, the picture as JPEG."""
        traits: Dict[str, Any] = {"step": self.transfer.step, "status": self.line(seconds)}
        now = time.monotonic()
        if now - self.curves_at >= CURVE_INTERVAL:
            traits["curves"], self.curves_at = self.curves(), now
        traits["frame"] = image_strip(self.transfer.image())
        return traits

    def final(self) -> Dict[str, Any]:
        """The traits where a stretch ended: the picture as PNG, the step and the whole curves."""
        return {"final": image_strip(self.transfer.image()), "step": self.transfer.step, "curves": self.curves()}

    def line(self, seconds: float) -> str:
        """``step 40/200 · 12.5 steps/s · loss 3.21 (content 1.2, style 2.0, tv 0)``."""
        run = self.transfer
        rate = (run.step - self.first) / max(seconds, 1e-9)
        losses = run.losses() if run.step else {}
        terms = ("content", "style", "tv") if run.content is not None else ("style", "tv")
        parts = ", ".join(f"{name} {losses[name]:.3g}" for name in terms if name in losses)
        loss = f" · loss {losses['total']:.4g} ({parts})" if losses else ""
        return f"step {run.step}/{self.goal} · {rate:.1f} steps/s{loss}"

    def summary(self, outcome: str, seconds: float) -> str:
        """The status line when a stretch ends ``"done"``, ``"stopped"`` or ``"failed"``."""
        if outcome == "failed":
            return f"failed at step {self.transfer.step}/{self.goal}; the picture is the last good one"
        if outcome == "stopped":
            return f"stopped at {self.line(seconds)}: Resume goes on"
        return f"done: {self.line(seconds)}"


def hint(styling: Optional[Styling], settings: Any, what: str) -> str:
    """What Start (and Resume) would do with ``settings``, for the status line between runs."""
    if styling is None:
        return f"press Start to {what}"
    if settings == styling.settings:
        return f"step {styling.transfer.step}: Resume goes on, Start begins again"
    return "settings changed: Start begins again with them; Resume goes on with the picture's own settings"


def thumbnails(pictures: Sequence[ImageLike], name: str) -> List[bytes]:
    """Each picture as a PNG whose longest side is at most :data:`THUMBNAIL` pixels; an unreadable one raises naming
    it (``"style 2: ..."``)."""
    out = []
    for i, image in enumerate(pictures):
        try:
            picture = load_image(image).copy()
        except ImageError as exc:
            raise ImageError(f"{name} {i + 1}: {exc}") from None
        picture.thumbnail((THUMBNAIL, THUMBNAIL))
        out.append(png_bytes(picture))
    return out
