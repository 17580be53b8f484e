"""The FeatureVisualizer's settings: what to maximise, how long, how many pictures, and the engine's own options,
declared once as a schema, frozen into :class:`Settings` when Start is pressed, and held by :class:`ObjectiveView`
with the pickers' state (the objective kinds on offer, a custom objective, whether the class was chosen)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import traitlets

from ..engine.featurevis import (
    OUTPUT,
    VISUALIZATION_OPTIONS,
    FeatureVisError,
    Objective,
    Visualization,
    as_objective,
    channel,
    channels,
    class_logit,
    deepdream,
    diversity,
    neuron,
)
from ..engine.layers import default_layer
from ..engine.schema import Option, describe
from .photo import layer_rows
from .stream import StreamView

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


def form(kinds: Sequence[str], classes: int) -> List[Dict[str, Any]]:
    """The settings form for a model with ``classes`` classes, offering the objective ``kinds``."""
    schema = describe(SETTINGS)
    for entry in schema:
        if entry["name"] == "kind":
            entry["choices"] = list(kinds)
        if entry["name"] == "target":
            entry.update(low=0, high=classes - 1)
    return schema


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


class ObjectiveView(StreamView[Settings]):
    """The settings half of the FeatureVisualizer: its settings as traits, filled from the constructor's arguments
    (:meth:`_choose`) and frozen by :meth:`freeze`."""

    SETTINGS = SETTINGS

    kind = traitlets.Unicode("channel", help="What to maximise: channel, neuron, layer, class_logit (or custom).").tag(
        sync=True
    )
    layer = traitlets.Unicode("", help="Layer of the objective (dotted name).").tag(sync=True)
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    units = traitlets.List(traitlets.Int(), help="Channels of the 'channels' batch mode (empty: from `unit` on).").tag(
        sync=True
    )
    class_label = traitlets.Unicode("", help="Name of class `target`.").tag(sync=True)

    _custom: Optional[Objective] = None
    """An objective given in Python that the pickers cannot express (the "custom" kind)."""
    _targeted = False
    """Whether the class was chosen (a new photo then keeps it), or is the photo's top class."""

    def _choose(self, layer: Optional[str], objective: Union[None, str, Objective], units: Sequence[int],
                settings: Dict[str, Any]) -> None:  # fmt: skip
        """Fill the settings from the constructor's arguments, each checked as it is set, and the form's schema."""
        net, records = self._net, self._net.layers()
        self.set_trait("layers", layer_rows(records))
        self._targeted = settings.get("target") is not None
        with self.hold_trait_notifications():
            self.size = net.preprocess.size
            self.layer = layer if layer is not None else default_layer(net.model, records)
            if objective is not None:
                self._adopt(as_objective(objective))
            self.units = list(units)
            for name, value in settings.items():
                setattr(self, name, value)
        self.set_trait("schema", form(self._kinds(), net.num_classes))
        self.freeze()

    def freeze(self) -> Settings:
        """The current settings, frozen; a kind or batch mode the view cannot run raises naming the valid ones."""
        engine = tuple((o.name, getattr(self, o.name)) for o in VISUALIZATION_OPTIONS)
        settings = Settings(
            self.kind, self.layer, self.unit, self.y, self.x, self.target, self.batch, self.batch_mode,
            tuple(self.units), self.diversity, self.size, engine, self._custom,
        )  # fmt: skip
        settings.objective()  # the batch mode fits the kind
        return settings

    @traitlets.validate("kind")
    def _check_kind(self, proposal: Any) -> str:
        kinds = self._kinds()
        if proposal.value not in kinds:
            raise FeatureVisError(f"unknown objective kind {proposal.value!r}; choose one of: {', '.join(kinds)}")
        return proposal.value

    def _kinds(self) -> List[str]:
        """The objective kinds on offer: "custom" only while a custom objective is kept."""
        return [*KINDS, CUSTOM] if self._custom is not None else list(KINDS)

    def _adopt(self, objective: Objective) -> None:
        """Show ``objective`` in the pickers, or keep it as the custom kind."""
        found = adopt(objective)
        if found["kind"] == CUSTOM:
            self._custom = objective
        if found["kind"] == "class_logit":
            self._targeted = True
        for name, value in found.items():
            setattr(self, name, value)

    def _on_target(self, _change: Any) -> None:
        """Name the class (the form shows its name beside the number)."""
        self.class_label = self._net.label(self.target)
