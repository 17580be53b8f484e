"""The ClassVisualizer's pictures being optimised: one engine run per recipe (and one for the facets), stepped in
turn so that they grow together, with the traits that show them and the status lines that say how far they got."""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from ..engine.classvis import ClassVisualization
from ..engine.progress import Update
from .frames import image_strip

PROBABILITY_INTERVAL = 1.0
"""Least seconds between two live updates of the pictures' class probabilities (one forward pass per picture)."""


def together(runs: Sequence[ClassVisualization], goals: Sequence[int]) -> Iterator[Update[None]]:
    """One step of each run that is short of its goal in turn, until all reach theirs: updates with the share of the
    steps taken and no picture (the view renders one only when a frame is due)."""
    total = sum(max(goal - run.step, 0) for run, goal in zip(runs, goals))
    streams = [run.steps(goal - run.step, every=0) for run, goal in zip(runs, goals) if goal > run.step]
    done = 0
    try:
        while streams:
            for stream in list(streams):
                if next(stream, None) is None:
                    streams.remove(stream)
                    continue
                done += 1
                yield Update(done / total if done < total else 1.0)
    finally:
        for stream in streams:
            if isinstance(stream, Generator):
                stream.close()


@dataclass
class Gallery:
    """The runs of one Start (``names`` say which recipe or facet each is), the step each runs to (``goals``), the
    settings they were made with, the captions, and the class probabilities of their pictures as last measured."""

    runs: List[ClassVisualization]
    names: List[str]
    goals: List[int]
    settings: Any
    first: int = 0
    probs: List[float] = field(default_factory=list)
    probs_at: float = -math.inf

    @property
    def step(self) -> int:
        """Steps taken, by all runs together."""
        return sum(run.step for run in self.runs)

    @property
    def goal(self) -> int:
        return sum(self.goals)

    def more(self, steps: Optional[int]) -> Iterator[Update[None]]:
        """Start, or Resume: on to the goals, or ``steps`` more each (``None``: each recipe's own) if all got there."""
        if all(run.step >= goal for run, goal in zip(self.runs, self.goals)):
            self.goals = [run.step + (steps if steps is not None else run.goal) for run in self.runs]
        self.first, self.probs_at = self.step, -math.inf
        return together(self.runs, self.goals)

    def images(self) -> torch.Tensor:
        """Every picture of every run, in order, ``(N, C, S, S)``."""
        return torch.cat([run.image() for run in self.runs])

    def measure(self) -> List[float]:
        """The model's probability of the class for each picture now."""
        self.probs = [p for run in self.runs for p in run.probabilities()]
        self.probs_at = time.monotonic()
        return self.probs

    def captions(self) -> List[str]:
        """One caption per picture: what made it, its step and, once measured, the class's probability."""
        texts = []
        for name, run in zip(self.names, self.runs):
            for i in range(run.vis.batch):
                texts.append(f"{name}{f' {i + 1}' if run.vis.batch > 1 else ''} · step {run.step}")
        return [f"{t} · p {p:.3f}" for t, p in zip(texts, self.probs)] if len(self.probs) == len(texts) else texts

    def partial(self, seconds: float) -> Dict[str, Any]:
        """A live frame's traits: the status line, the probabilities about once a second, then the picture."""
        traits: Dict[str, Any] = {"step": self.step, "status": self.line(seconds)}
        if time.monotonic() - self.probs_at >= PROBABILITY_INTERVAL:
            traits["probs"] = self.measure()
        traits["captions"] = self.captions()
        traits["frame"] = image_strip(self.images())
        return traits

    def final(self) -> Dict[str, Any]:
        """The traits where a stretch ended: the pictures as PNG, their probabilities and captions."""
        probs = self.measure()
        return {"final": image_strip(self.images()), "probs": probs, "captions": self.captions(), "step": self.step}

    def line(self, seconds: float) -> str:
        """``step 40/356 · 12.5 steps/s``, ``seconds`` into the current stretch."""
        rate = (self.step - self.first) / max(seconds, 1e-9)
        return f"step {self.step}/{self.goal} · {rate:.1f} steps/s"

    def summary(self, outcome: str, seconds: float) -> str:
        """The status line when a stretch ends ``"done"``, ``"stopped"`` or ``"failed"``."""
        best = f" · p(class) {', '.join(f'{p:.3f}' for p in self.probs)}" if self.probs else ""
        if outcome == "failed":
            return f"failed at step {self.step}/{self.goal}; the pictures are the last good ones{best}"
        if outcome == "stopped":
            return f"stopped at {self.line(seconds)}: Resume goes on{best}"
        return f"done: {self.line(seconds)}{best}"


def recipes(choice: str) -> Tuple[str, ...]:
    """The recipes a view's ``recipe`` setting runs: ``"both"`` is the two side by side."""
    return ("cs231n", "distill") if choice == "both" else (choice,)
