"""The FeatureVisualizer's gradient ascent: the engine's visualisation, the settings it was built with and the step
it runs to, the traits that show it, and the status lines that say how far it got."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional

from ..engine.featurevis import Frame, Visualization
from ..engine.progress import Update
from .frames import image_strip
from .objective import Settings

CURVE_INTERVAL = 1.0
"""Least seconds between two sends of the objective curve while a run goes on (it grows by one value a step)."""


@dataclass
class Ascent:
    """One visualisation being optimised: ``goal`` is the step it runs to, ``first`` the step the current stretch
    (Start or Resume) began at, for the speed, and ``curve_at`` when (``time.monotonic``) the curve was last sent."""

    vis: Visualization
    settings: Settings
    goal: int
    first: int = 0
    curve_at: float = -math.inf

    def more(self, steps: int) -> Iterator[Update[Frame]]:
        """Start, or Resume: go on to ``goal``, or ``steps`` more if it got there. The updates carry no pictures but
        the last: :meth:`partial` renders one only when a frame is due. The steps left are counted at the first
        update, in the job, once a stopped job has finished its last step."""
        if self.vis.step >= self.goal:
            self.goal = self.vis.step + steps
        self.first, self.curve_at = self.vis.step, -math.inf
        return self._stretch(steps)

    def _stretch(self, steps: int) -> Iterator[Update[Frame]]:
        if self.vis.step >= self.goal:  # a stopped job reached the goal after all
            self.goal = self.vis.step + steps
        self.first = self.vis.step
        yield from self.vis.steps(self.goal - self.vis.step, every=0)

    def partial(self, seconds: float) -> Dict[str, Any]:
        """A live frame's traits, ``seconds`` into the stretch: the step, the status line, the curve (at most once per
        ``CURVE_INTERVAL``) and, last so that its observers see its step, the picture as JPEG."""
        traits: Dict[str, Any] = {"step": self.vis.step, "status": self.line(seconds)}
        now = time.monotonic()
        if now - self.curve_at >= CURVE_INTERVAL:
            traits["curve"], self.curve_at = self.vis.curve, now
        traits["frame"] = image_strip(self.vis.image())
        return traits

    def final(self) -> Dict[str, Any]:
        """The traits where a stretch ended: the picture as PNG, the step and the whole curve."""
        return {"final": image_strip(self.vis.image()), "step": self.vis.step, "curve": self.vis.curve}

    def line(self, seconds: float) -> str:
        """``step 40/256 · 12.5 steps/s · objective 3.21``, ``seconds`` into the current stretch."""
        value = self.vis.curve[-1] if self.vis.curve else math.nan
        rate = (self.vis.step - self.first) / max(seconds, 1e-9)
        return f"step {self.vis.step}/{self.goal} · {rate:.1f} steps/s · objective {value:.4g}"

    def summary(self, outcome: str, seconds: float) -> str:
        """The status line when a stretch ends ``"done"``, ``"stopped"`` or ``"failed"``."""
        if outcome == "failed":
            return f"failed at step {self.vis.step}/{self.goal}; the picture is the last good one"
        if outcome == "stopped":
            return f"stopped at {self.line(seconds)}: Resume goes on"
        return f"done: {self.line(seconds)}"


def hint(ascent: Optional[Ascent], settings: Settings, steps: int) -> str:
    """What Start (and Resume) would do with ``settings``, for the status line between runs."""
    what = f"{settings.describe()} at {settings.size} px"
    if ascent is None:
        return f"press Start to render {what} in {steps} steps"
    if settings == ascent.settings:
        return f"step {ascent.vis.step}: Resume goes on, Start begins again"
    return f"settings changed: Start begins {what}; Resume goes on with the picture's own settings"
