"""The FeatureInversion view's settings and its run: the settings declared once as a schema and frozen into
:class:`InversionSettings` when Start is pressed, and :class:`Inverting`, the engine's
:class:`~..engine.style.Inversion` with the step it runs to, the traits that show it (the photo and one
reconstruction per layer side by side, each captioned with its PSNR) and the status lines that say how far it got."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from PIL import Image

from ..engine.dream import MAX_SIDE
from ..engine.model import Net
from ..engine.progress import Update
from ..engine.schema import Option
from ..engine.style import Inversion, InversionFrame, preset_for, psnr
from ..engine.style.inversion import INVERSION_TV
from ..engine.style.transfer import MAX_STEPS
from .frames import image_strip

SETTINGS: Tuple[Option, ...] = (
    Option("size", "size", "int", None, 16, MAX_SIDE, group="picture", unit="px", optional=True,
           help="longest side of the photo and its reconstructions (empty: the model's recipe's)"),
    Option("steps", "steps", "int", 200, 1, MAX_STEPS, group="optimiser",
           help="steps per layer of a run (Resume takes as many more once they are done)"),
    Option("tv", "total variation", "float", INVERSION_TV, 0.0, 1e4, group="optimiser",
           help="weight of the smoothness prior: higher keeps deep layers' reconstructions from filling with noise"),
    Option("seed", "seed", "int", 0, 0, 2**31 - 1, group="optimiser",
           help="seeds the noise every reconstruction starts from"),
)  # fmt: skip
"""The view's settings (the layers are picked apart, in the layer list): the keyword arguments of
:class:`~..engine.style.Inversion` of the same names."""


@dataclass(frozen=True)
class InversionSettings:
    """Everything one run depends on, frozen when Start is pressed (the traits may change meanwhile)."""

    photo: Image.Image = field(compare=False)
    photo_id: int
    layers: Tuple[str, ...]
    size: Optional[int]
    steps: int
    tv: float
    seed: int

    def build(self, net: Net) -> Inversion:
        """The engine's inversion (it checks the layers and computes each one's target features)."""
        return Inversion(
            net, self.photo, list(self.layers), size=self.size, steps=self.steps, tv=self.tv, seed=self.seed
        )

    def describe(self, net: Net) -> str:
        """What Start does, in a few words."""
        side = self.size if self.size is not None else preset_for(net).size
        count = f"{len(self.layers)} layer{'s' if len(self.layers) != 1 else ''}"
        return f"reconstruct the photo from {count} ({', '.join(self.layers)}) at {side} px, {self.steps} steps each"


@dataclass
class Inverting:
    """One inversion under way: ``goal`` is the step each layer's reconstruction runs to, ``first`` the step the
    current stretch (Start or Resume) began at, for the speed, ``decibels`` each reconstruction's PSNR as last shown."""

    inversion: Inversion
    settings: InversionSettings
    goal: int
    first: int = 0
    decibels: List[float] = field(default_factory=list)

    def more(self) -> Iterator[Update[InversionFrame]]:
        """Start, or Resume: go on to ``goal``, or ``settings.steps`` more if it got there. The updates carry no
        pictures but the last: :meth:`partial` renders them only when a frame is due."""
        if self.inversion.step >= self.goal:
            self.goal = self.inversion.step + self.settings.steps
        return self._stretch()

    def _stretch(self) -> Iterator[Update[InversionFrame]]:
        """The steps left, counted at the first update (in the job, once a stopped job has finished its round)."""
        self.first = self.inversion.step
        yield from self.inversion.steps(self.goal - self.inversion.step, every=0)

    def traits(self, seconds: float, final: bool) -> Dict[str, Any]:
        """The traits that show where the run is: the step, each layer's PSNR, the captions, the status line while it
        goes on, and (last, so that its observers see the rest) the photo and the reconstructions side by side, as a
        JPEG frame while it goes on or as PNG where a stretch ended."""
        images = self.inversion.images()
        photo = self.inversion.photo
        assert photo is not None
        self.decibels = [psnr(image, photo) for image in images]
        traits: Dict[str, Any] = {"step": self.inversion.step, "psnr": self.decibels, "captions": self.captions()}
        strip = image_strip(torch.cat([photo, *images]))
        return {**traits, "final": strip} if final else {**traits, "status": self.line(seconds), "frame": strip}

    def captions(self) -> List[str]:
        """``photo``, then each layer's name and its reconstruction's PSNR against the photo."""
        return ["photo"] + [f"{layer} · {db_text(db)}" for layer, db in zip(self.inversion.layers, self.decibels)]

    def line(self, seconds: float) -> str:
        """``step 40/200 per layer · 3 layers · 5.1 steps/s``, ``seconds`` into the current stretch."""
        step, count = self.inversion.step, len(self.inversion.layers)
        rate = (step - self.first) * count / max(seconds, 1e-9)
        return f"step {step}/{self.goal} per layer · {count} layer{'s' if count != 1 else ''} · {rate:.1f} steps/s"

    def summary(self, outcome: str, seconds: float) -> str:
        """The status line when a stretch ends ``"done"``, ``"stopped"`` or ``"failed"``."""
        step = self.inversion.step
        if outcome == "failed":
            return f"failed at step {step}/{self.goal}; the pictures are the last good ones"
        if outcome == "stopped":
            return f"stopped at {self.line(seconds)}: Resume goes on"
        best = max(range(len(self.decibels)), key=lambda i: self.decibels[i]) if self.decibels else None
        kept = (
            f"; closest to the photo: {self.inversion.layers[best]} ({db_text(self.decibels[best])})"
            if best is not None
            else ""
        )
        return f"done: {step} steps per layer in {seconds:.1f} s{kept}"


def db_text(value: float) -> str:
    """A PSNR as a caption says it: ``21.6 dB``, or ``∞ dB`` for an exact copy."""
    return "∞ dB" if math.isinf(value) else f"{value:.1f} dB"


def hint(inverting: Optional[Inverting], settings: InversionSettings, net: Net) -> str:
    """What Start (and Resume) would do with ``settings``, for the status line between runs."""
    if inverting is None:
        return f"press Start to {settings.describe(net)}"
    if settings == inverting.settings:
        return f"step {inverting.inversion.step}: Resume goes on, Start begins again from noise"
    return f"settings changed: Start will {settings.describe(net)}; Resume goes on with the run's own settings"
