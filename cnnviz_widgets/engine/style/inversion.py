"""Feature inversion (Mahendran & Vedaldi 2015): from noise, find a picture whose features at one layer match a photo's.

What comes back shows what the layer keeps: early layers give the photo back almost exactly, deep ones keep the
objects' parts and lose colour, position and detail. Several layers are inverted side by side, one step each in turn,
so their reconstructions converge together (the figure of "how much survives at each depth").
"""

from __future__ import annotations

import math
from typing import Iterator, List, NamedTuple, Optional, Sequence, Union

import torch
from torch import nn

from ..checks import check_float, check_int
from ..featurevis import FeatureVisError
from ..images import ImageLike
from ..model import Net
from ..progress import Update
from .presets import Preset, preset_for
from .transfer import MAX_STEPS, Transfer

INVERSION_LR = 0.05
"""Adam's step on [0, 1] pixels."""
INVERSION_TV = 1e-4
"""Default weight of the total-variation prior (sum of squared neighbour differences, against a relative feature
error of at most about 1): enough to keep deep layers' reconstructions from filling with noise."""


class InversionFrame(NamedTuple):
    """The steps taken per layer, each layer's reconstruction ``(1, 3, H, W)`` in [0, 1] and its feature loss."""

    step: int
    images: List[torch.Tensor]
    losses: List[float]


def psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of ``image`` against ``reference`` (both in [0, 1])."""
    mse = float((image.float() - reference.float()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def default_layers(net: Net) -> List[str]:
    """The model's style layers (shallow to deep) and its deepest spatial layer (called once: not a shared ReLU)."""
    records = [record for record in net.layers() if record.spatial and not record.passthrough and record.calls == 1]
    layers = list(dict.fromkeys([*(layer for layer, _ in preset_for(net).style), records[-1].name]))
    order = {record.name: i for i, record in enumerate(records)}
    return sorted(layers, key=lambda name: order.get(name, -1))


class Inversion:
    """Reconstructions of ``image`` from each of ``layers``, optimised side by side.

    Parameters
    ----------
    net : Net or nn.Module
        The network (never changed).
    image : image
        The photo whose features are inverted.
    layers : sequence of str, optional
        Layers to invert from (default: :func:`default_layers`).
    size : int, optional
        Longest side of the pictures in pixels (default: the model's recipe's).
    steps : int
        Steps of a run, per layer.
    tv : float
        Weight of the total-variation prior.
    seed : int
        Seeds the noise every reconstruction starts from.
    """

    def __init__(
        self,
        net: Union[Net, nn.Module],
        image: ImageLike,
        layers: Optional[Sequence[str]] = None,
        *,
        size: Optional[int] = None,
        steps: int = 200,
        tv: float = INVERSION_TV,
        seed: int = 0,
    ):
        self.net = net if isinstance(net, Net) else Net(net)
        self.layers = list(layers) if layers is not None else default_layers(self.net)
        if not self.layers:
            raise FeatureVisError("give at least one layer to invert from")
        self.total = check_int("steps", steps, 0, MAX_STEPS, error=FeatureVisError)
        tv = check_float("tv", tv, 0.0, 1e4, error=FeatureVisError)
        side = size if size is not None else preset_for(self.net).size
        self.runs = [
            Transfer(
                self.net, image, [], init="noise", seed=seed,
                preset=Preset(
                    name=f"inversion of {layer}", content=(layer, 1.0), style=(), tv=tv, remedy="scale", size=side,
                    steps=self.total, lr=INVERSION_LR, space="unit",
                ),
            )
            for layer in self.layers
        ]  # fmt: skip
        self.photo = self.runs[0].content

    @property
    def step(self) -> int:
        """Steps taken so far by each reconstruction."""
        return self.runs[0].step

    def images(self) -> List[torch.Tensor]:
        """Each layer's reconstruction now, ``(1, 3, H, W)`` in [0, 1] on the CPU."""
        return [run.image() for run in self.runs]

    def psnr(self) -> List[float]:
        """Each reconstruction's PSNR against the photo, in dB."""
        assert self.photo is not None
        return [psnr(picture, self.photo) for picture in self.images()]

    def steps(self, steps: Optional[int] = None, every: int = 1) -> Iterator[Update[InversionFrame]]:
        """Take ``steps`` more steps per layer (default: the rest of the run), one update after each round, with a frame
        every ``every`` rounds and after the last. Stop iterating to stop; call again to resume."""
        count = check_int("steps", steps, 0, MAX_STEPS, error=FeatureVisError) if steps is not None else None
        every = check_int("every", every, 0, MAX_STEPS, error=FeatureVisError)
        return self._steps(max(0, self.total - self.step) if count is None else count, every)

    def _steps(self, count: int, every: int) -> Iterator[Update[InversionFrame]]:
        runs = [run.steps(count, every=0) for run in self.runs]
        for done in range(1, count + 1):
            for updates in runs:
                next(updates)
            shown = done == count or (every > 0 and self.step % every == 0)
            yield Update(done / count, self._frame() if shown else None)
        if count == 0:
            yield Update(1.0, self._frame())

    def _frame(self) -> InversionFrame:
        return InversionFrame(self.step, self.images(), [run.losses()["content"] for run in self.runs])
