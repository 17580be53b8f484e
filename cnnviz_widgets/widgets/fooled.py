"""The FoolingImage's run: the settings it was started with, the engine's :class:`~..engine.fooling.Fooling` and the
step it runs to, the traits that show where it is, and the status lines that say so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

import torch

from ..engine.fooling import Fooled, Fooling
from ..engine.images import ImageLike
from ..engine.model import Net, Prediction
from ..engine.progress import Update
from .frames import image_strip


@dataclass(frozen=True)
class Settings:
    """What one run depends on, frozen when Start is pressed: the class, the engine's settings and the photo's number
    (a new photo is a new run)."""

    target: int
    mode: str
    epsilon: float
    steps: int
    lr: Optional[float]
    seed: int
    photo: int

    def build(self, net: Net, image: ImageLike) -> Fooling:
        """The engine's run on ``image`` (it checks the settings and the target)."""
        return Fooling(
            net, image, self.target, mode=self.mode, epsilon=self.epsilon, steps=self.steps, lr=self.lr, seed=self.seed
        )

    def describe(self, net: Net) -> str:
        """What Start does, in a few words."""
        how = f"within {self.epsilon:g}/255 of the photo" if self.mode == "bounded" else "unconstrained"
        return f"make the model predict {self.target} ({net.label(self.target)}), {how}, in up to {self.steps} steps"


def rows(predictions: List[Prediction]) -> List[Dict[str, Any]]:
    """Top-5 rows as the front-end reads them: ``{index, label, prob}``."""
    return [p._asdict() for p in predictions]


@dataclass
class Attempt:
    """One fooling run being stepped: ``goal`` is the step it runs to, ``first`` the step the current stretch (Start or
    Resume) began at, for the speed."""

    fooling: Fooling
    settings: Settings
    goal: int
    first: int = 0

    def more(self, steps: int) -> Iterator[Update[Fooled]]:
        """Start, or Resume: go on to ``goal``, or ``steps`` more if it got there. The updates carry no frame but the
        last: :meth:`traits` makes one only when the page is ready for it.

        What is left is counted at the first update, in the job that runs it: a Resume right after Stop is made
        while the stopped job may still be finishing its step, and the new job starts once that one has ended."""
        if self.fooling.step >= self.goal:
            self.goal = self.fooling.step + steps
        self.first = self.fooling.step
        yield from self.fooling.steps(self.goal - self.fooling.step, every=0)

    def traits(self, seconds: float, final: bool) -> Dict[str, Any]:
        """The traits that show the run now: the pictures (JPEG while it goes on, PNG where it ended) last, so that
        their observers see the rest."""
        now = self.fooling.frame()
        traits: Dict[str, Any] = {
            "step": now.steps,
            "reached": now.reached,
            "after": rows(now.after),
            "gain": now.gain,
            "max_change": now.max_change,
            "mean_change": now.mean_change,
        }
        if not final:
            traits["status"] = self.line(now, seconds)
        traits["final" if final else "frame"] = image_strip(torch.stack([now.image, now.difference]))
        return traits

    def line(self, now: Fooled, seconds: float) -> str:
        """``step 12/100 · 9.5 steps/s · target #3 (12.1%) · change max 2.0, mean 0.4 /255``."""
        rate = (now.steps - self.first) / max(seconds, 1e-9)
        rank = next((i + 1 for i, p in enumerate(now.after) if p.index == now.target), None)
        where = f"target #{rank} ({100 * now.after[rank - 1].prob:.1f}%)" if rank else "target not in the top-5"
        change = f"change max {now.max_change:.1f}, mean {now.mean_change:.2f} /255"
        return f"step {now.steps}/{self.goal} · {rate:.1f} steps/s · {where} · {change}"

    def summary(self, outcome: str, seconds: float) -> str:
        """The status line when a stretch ends ``"done"``, ``"stopped"`` or ``"failed"``."""
        now = self.fooling.frame()
        if outcome == "failed":
            return f"failed at step {now.steps}; the picture is the last good one"
        label = now.after[0].label
        change = f"max change {now.max_change:.1f}/255, mean {now.mean_change:.2f}/255"
        if now.reached:  # the target, also where the run's own verdict and the top-1 shown differ by a rounding
            says = self.fooling.net.label(now.target)
            prob = next((f" ({100 * p.prob:.1f}%)" for p in now.after if p.index == now.target), "")
            return f"fooled in {now.steps} steps: the model says {says}{prob}; {change}"
        if outcome == "stopped":
            return f"stopped at step {now.steps}/{self.goal}: the model still says {label}; Resume goes on"
        return f"not fooled in {now.steps} steps: the model still says {label}; Resume tries {self.settings.steps} more"
