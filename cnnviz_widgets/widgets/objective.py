"""The FeatureVisualizer's settings: what to maximise, how long, how many pictures, and the engine's own options,
declared once as a schema, and frozen into :class:`Settings` when Start is pressed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ..engine.featurevis import (
    OUTPUT,
    VISUALIZATION_OPTIONS,
    FeatureVisError,
    Objective,
    Visualization,
    channel,
    channels,
    class_logit,
    deepdream,
    diversity,
    neuron,
)
from ..engine.schema import Option

KINDS = ("channel", "neuron", "layer", "class_logit")
"""What the objective picker offers: one channel (mean over positions), one neuron, a whole layer (DeepDream), one
class logit."""
CUSTOM = "custom"
"""The kind of an objective given in Python that the pickers cannot express (a sum, a direction...)."""
BATCH_MODES = ("diverse", "channels")
"""How a batch is used: diverse pictures of one objective, or one channel of the layer per picture."""


def _when(**conditions: Tuple[Any, ...]) -> Tuple[Tuple[str, Tuple[Any, ...]], ...]:
    return tuple(conditions.items())


VIEW_OPTIONS: Tuple[Option, ...] = (
    Option("kind", "objective", "choice", "channel", choices=(*KINDS, CUSTOM), group="objective",
           help="what to maximise"),
    Option("unit", "unit", "int", 0, group="objective", help="channel of the layer",
           when=_when(kind=("channel", "neuron"))),
    Option("y", "row", "int", None, optional=True, group="objective",
           help="row of the neuron in the layer's map; empty: the centre", when=_when(kind=("neuron",))),
    Option("x", "column", "int", None, optional=True, group="objective",
           help="column of the neuron in the layer's map; empty: the centre", when=_when(kind=("neuron",))),
    Option("target", "class", "int", 0, group="objective", help="class whose logit is maximised",
           when=_when(kind=("class_logit",))),
    Option("steps", "steps", "int", 256, low=1, high=1_000_000, group="run",
           help="optimiser steps per Start (Resume after the end: this many more)"),
    Option("size", "size", "int", 224, low=1, high=2048, unit="px", group="run", help="side of the pictures"),
    Option("batch", "batch", "int", 1, low=1, high=64, group="batch", help="pictures optimised together"),
    Option("batch_mode", "mode", "choice", "diverse", choices=BATCH_MODES, group="batch",
           help="diverse: different pictures of the objective; channels: one channel of the layer per picture"),
    Option("diversity", "diversity", "float", 1.0, low=0, high=1000, group="batch",
           help="weight of the diversity term (it lies in [-1, 0])", when=_when(batch_mode=("diverse",))),
)  # fmt: skip
"""The view's own settings; the engine's :data:`VISUALIZATION_OPTIONS` follow them in the form. Unit, neuron and
class have no bounds here: their range depends on the layer or the model, and the engine's message names it."""
SETTINGS = VIEW_OPTIONS + VISUALIZATION_OPTIONS


@dataclass(frozen=True)
class Settings:
    """Everything one visualisation depends on, frozen when Start is pressed (the traits may change meanwhile)."""

    kind: str
    layer: str
    unit: int
    y: Optional[int]
    x: Optional[int]
    target: int
    batch: int
    batch_mode: str
    units: Tuple[int, ...]
    diversity: float
    size: int
    engine: Tuple[Tuple[str, Any], ...]
    custom: Optional[Objective] = None

    @property
    def per_channel(self) -> bool:
        """Whether each picture of the batch renders its own channel of the layer."""
        return self.batch_mode == "channels" and self.kind == "channel"

    @property
    def channel_units(self) -> Tuple[int, ...]:
        """The channels of the "channels" mode: the ones picked, else ``batch`` channels from ``unit`` on."""
        return self.units or tuple(range(self.unit, self.unit + self.batch))

    @property
    def count(self) -> int:
        """Number of pictures optimised together."""
        return len(self.channel_units) if self.per_channel else self.batch

    def base(self) -> Objective:
        """The objective of one picture."""
        if self.kind == CUSTOM and self.custom is not None:
            return self.custom
        if self.kind == "channel":
            return channel(self.layer, self.unit)
        if self.kind == "neuron":
            return neuron(self.layer, self.unit, self.y, self.x)
        if self.kind == "layer":
            return deepdream(self.layer)
        if self.kind == "class_logit":
            return class_logit(self.target)
        raise FeatureVisError(f"unknown objective kind {self.kind!r}; choose one of: {', '.join(KINDS)}")

    def objective(self) -> Objective:
        """The objective of the whole batch."""
        if self.per_channel:
            return channels(self.layer, self.channel_units)
        if self.count == 1:
            return self.base()
        if self.batch_mode == "channels":
            raise FeatureVisError(
                f"the channels batch mode renders one channel of the layer per image, so it needs the channel "
                f"objective (now {self.kind}); use the diverse mode for {self.batch} images of one {self.kind} "
                "objective"
            )
        return self.base() + self.diversity * diversity(self.layer)

    def describe(self) -> str:
        """What the run renders, in a few words."""
        if self.per_channel:
            return f"channels {', '.join(map(str, self.channel_units))} of {self.layer!r}"
        return repr(self.base()) if self.count == 1 else f"{self.count} diverse images of {self.base()!r}"

    def captions(self) -> List[str]:
        """One caption per picture of the batch."""
        if self.per_channel:
            return [f"{self.layer}:{u}" for u in self.channel_units]
        if self.count == 1:
            return [repr(self.base())]
        return [f"{self.base()!r} · {i + 1}/{self.count}" for i in range(self.count)]

    def build(self, net: Any) -> Visualization:
        """The engine's visualisation (it checks everything, with one probing forward pass)."""
        return Visualization(net, self.objective(), self.size, batch=self.count, **dict(self.engine))


def adopt(objective: Objective) -> Dict[str, Any]:
    """The settings that show ``objective`` in the pickers (one channel, neuron, layer or class of the whole batch);
    ``{"kind": CUSTOM, ...}`` for one they cannot express."""
    kind, batch = getattr(objective, "kind", None), getattr(objective, "batch", None)
    if kind not in KINDS or batch is not None:
        layers = sorted(objective.layers - {OUTPUT})
        return {"kind": CUSTOM, **({"layer": layers[0]} if layers else {})}
    fields = {"class_logit": ("index",), "layer": ("layer",), "channel": ("layer", "unit")}
    names = fields.get(kind, ("layer", "unit", "y", "x"))
    found = {"target" if name == "index" else name: getattr(objective, name) for name in names}
    return {"kind": kind, **found}
