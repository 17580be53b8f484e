"""What a FastStyleTrainer runs: its settings, frozen when Start is pressed (:class:`FastSettings`), and the engine's
:class:`~cnnviz_widgets.engine.faststyle.FastStyle` seen as a :class:`~.styling.Run` (:class:`Training`), so that the
StyleTransfer view's :class:`~.styling.Styling` streams it: the held-out photo stylised is its picture, a run's steps
its total. A lock keeps Python's :meth:`Training.apply` and checkpoints out of a training step, which changes the
weights they read."""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..engine.faststyle import FAST_OPTIONS, STEPS, FastFrame, FastStyle
from ..engine.images import ImageLike
from ..engine.model import Net
from ..engine.progress import Update
from ..engine.schema import Option

MAX_STEPS = 10**6
"""Most steps of one run of the view."""
RUN_STEPS = Option("steps", "steps", "int", STEPS, 1, MAX_STEPS, group="training",
                   help="Steps of a run; Resume at the end goes on by as many")  # fmt: skip
FAST_SETTINGS: Tuple[Option, ...] = (RUN_STEPS, *FAST_OPTIONS)
"""FastStyleTrainer's settings: the steps of a run, and the engine's."""


@dataclass(frozen=True)
class FastSettings:
    """Everything one training depends on, frozen when Start is pressed: the engine's settings and the steps of a
    run; the pictures are the view's own (not compared)."""

    engine: Tuple[Tuple[str, Any], ...]
    steps: int
    style: ImageLike = field(compare=False)
    images: Union[Sequence[ImageLike], Mapping[str, ImageLike]] = field(compare=False)
    preview: ImageLike = field(compare=False)

    def build(self, net: Net) -> "Training":
        """The engine's training (it checks everything and computes the style's Gram matrices)."""
        run = FastStyle(net, self.style, images=self.images, preview=self.preview, **dict(self.engine))
        return Training(run, self.steps)


class Training:
    """A :class:`FastStyle` as :class:`~.styling.Styling` drives it, with a lock around each step.

    Parameters
    ----------
    run : FastStyle
        The engine's training.
    total : int
        Steps of a run.
    """

    def __init__(self, run: FastStyle, total: int):
        self.run, self.total = run, total
        self.lock = threading.RLock()

    @property
    def step(self) -> int:
        return self.run.step

    @property
    def content(self) -> torch.Tensor:
        """The held-out photo (what the picture shows stylised)."""
        return self.run.preview

    @property
    def curves(self) -> Dict[str, List[float]]:
        return self.run.curves

    def steps(self, steps: Optional[int] = None, every: int = 1) -> Iterator[Update[FastFrame]]:
        """``steps`` more steps (default: a run's), each under the lock."""
        updates = self.run.steps(self.total if steps is None else steps, every)
        return self._locked(updates)

    def _locked(self, updates: Iterator[Update[FastFrame]]) -> Iterator[Update[FastFrame]]:
        try:
            while True:
                with self.lock:
                    update = next(updates, None)
                if update is None:
                    return
                yield update
        finally:
            close = getattr(updates, "close", None)
            if close is not None:
                close()

    def image(self) -> torch.Tensor:
        """The held-out photo stylised by the network as it is now, ``(1, 3, H, W)`` in [0, 1]."""
        return self.apply(self.run.preview)

    def losses(self) -> Dict[str, float]:
        """The weighted losses of the last step (none before the first)."""
        return {name: values[-1] for name, values in self.run.curves.items() if values}

    def apply(self, image: Union[ImageLike, torch.Tensor], size: Optional[int] = None) -> torch.Tensor:
        """``image`` stylised in one forward pass (:meth:`FastStyle.apply`)."""
        with self.lock:
            return self.run.apply(image, size)

    def checkpoint(self) -> bytes:
        """The checkpoint :meth:`FastStyle.save` writes, as bytes."""
        buffer = io.BytesIO()
        with self.lock:
            torch.save(self.run.state_dict(), buffer)
        return buffer.getvalue()

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write the checkpoint to ``path`` (:meth:`FastStyle.save`)."""
        with self.lock:
            return self.run.save(path)
