"""The DeepDream view's settings and its run: what to amplify, declared once as a schema and frozen into
:class:`DreamSettings` when Start is pressed, and :class:`Dreaming`, the engine's dream with the step it runs to, the
traits that show it and the status lines that say how far it got."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional, Tuple

from PIL import Image

from ..engine.dream import DREAM_OPTIONS, MAX_SIDE, Dream, DreamFrame
from ..engine.featurevis import Objective, channel, class_logit, deepdream
from ..engine.images import ImageLike
from ..engine.model import Net
from ..engine.progress import Update
from ..engine.schema import Option
from .frames import image_strip

KINDS = ("layer", "channel", "class_logit")
"""What the view amplifies: a whole layer (Google's DeepDream), one channel of it, or one class logit."""

VIEW_OPTIONS: Tuple[Option, ...] = (
    Option("kind", "amplify", "choice", "layer", choices=KINDS, group="objective",
           help="what to amplify: the whole layer, one channel of it, or a class's logit"),
    Option("unit", "channel", "int", 0, group="objective", help="channel of the layer",
           when=(("kind", ("channel",)),)),
    Option("target", "class", "int", 0, group="objective", help="class whose logit is raised",
           when=(("kind", ("class_logit",)),)),
    Option("size", "size", "int", 512, low=16, high=MAX_SIDE, unit="px", group="picture",
           help="longest side of the dream: the photo is resized to it"),
)  # fmt: skip
"""The view's own settings (channel and class unbounded here: their range depends on the layer or the model, and the
engine's message names it); the engine's :data:`~cnnviz_widgets.engine.dream.DREAM_OPTIONS` follow them."""
SETTINGS = VIEW_OPTIONS + DREAM_OPTIONS


@dataclass(frozen=True)
class DreamSettings:
    """Everything one dream depends on, frozen when Start is pressed (the traits may change meanwhile)."""

    photo: Image.Image = field(compare=False)
    photo_id: int
    kind: str
    layer: str
    unit: int
    target: int
    size: int
    engine: Tuple[Tuple[str, Any], ...]
    guide: Optional[ImageLike] = field(default=None, compare=False)

    def objective(self) -> Objective:
        """What the dream raises."""
        if self.kind == "channel":
            return channel(self.layer, self.unit)
        if self.kind == "class_logit":
            return class_logit(self.target)
        return deepdream(self.layer)

    def build(self, net: Net) -> Dream:
        """The engine's dream (it checks everything, with a probing forward pass)."""
        return Dream(net, self.photo, self.objective(), guide=self.guide, size=self.size, **dict(self.engine))

    def describe(self) -> str:
        """What the dream amplifies, in a few words."""
        guided = " guided by a second picture" if self.guide is not None else ""
        return f"{self.objective()!r}{guided}"


@dataclass
class Dreaming:
    """One dream under way: ``goal`` is the step it runs to, ``first`` the step the current stretch (Start or Resume)
    began at, for the speed."""

    dream: Dream
    settings: DreamSettings
    goal: int
    first: int = 0

    def more(self) -> Iterator[Update[DreamFrame]]:
        """Start, or Resume: go on to ``goal``, or one octave's steps more (at full size) if it got there. The
        updates carry no pictures but the octave ends and the last: :meth:`partial` renders one when a frame is due.
        The steps left are counted at the first update, in the job, once a stopped job has finished its step."""
        if self.dream.step >= self.goal:
            self.goal = self.dream.step + self.dream.per_octave
        self.first = self.dream.step
        return self._stretch()

    def _stretch(self) -> Iterator[Update[DreamFrame]]:
        """The steps left, counted at the first update (in the job, once a stopped job has finished its step)."""
        self.first = self.dream.step
        yield from self.dream.steps(self.goal - self.dream.step, every=0)

    def partial(self, seconds: float) -> Dict[str, Any]:
        """A live frame's traits: the step, the octave, the norms, the status line and (last, so that its observers
        see the rest) this octave's picture as JPEG."""
        return {**self._counts(), "status": self.line(seconds), "frame": image_strip(self.dream.image())}

    def final(self) -> Dict[str, Any]:
        """The traits where a stretch ended: the full-size picture as PNG (the last good one after a failure)."""
        return {**self._counts(), "final": image_strip(self.dream.full())}

    def _counts(self) -> Dict[str, Any]:
        return {"step": self.dream.step, "octave": self.dream.octave, "norms": list(self.dream.norms)}

    def line(self, seconds: float) -> str:
        """``octave 2/4 (230x172 px) · step 14/40 · 3.1 steps/s · objective 1.23``."""
        d = self.dream
        h, w = d.sizes[d.octave]
        value = d.vis.curve[-1] if d.vis.curve else math.nan
        rate = (d.step - self.first) / max(seconds, 1e-9)
        return (
            f"octave {d.octave + 1}/{len(d.sizes)} ({w}x{h} px) · step {d.step}/{self.goal} · {rate:.1f} steps/s · "
            f"objective {value:.4g}"
        )

    def summary(self, outcome: str, seconds: float) -> str:
        """The status line when a stretch ends ``"done"``, ``"stopped"`` or ``"failed"``."""
        d = self.dream
        if outcome == "failed":
            return f"failed at step {d.step}/{self.goal}; the picture is the last good one"
        if outcome == "stopped":
            return f"stopped at {self.line(seconds)}: Resume goes on"
        rise = f"; norm {d.norm0:.3g} → {d.norms[-1]:.3g} (×{d.norms[-1] / max(d.norm0, 1e-12):.2f})" if d.norms else ""
        return f"done: {len(d.sizes)} octaves, {d.step} steps in {seconds:.1f} s{rise}"


def hint(dreaming: Optional[Dreaming], settings: DreamSettings) -> str:
    """What Start (and Resume) would do with ``settings``, for the status line between runs."""
    if dreaming is None:
        return f"press Start to dream {settings.describe()} at {settings.size} px"
    if settings == dreaming.settings:
        return f"step {dreaming.dream.step}: Resume goes on, Start dreams again from the photo"
    return f"settings changed: Start dreams {settings.describe()}; Resume goes on with the dream's own settings"
