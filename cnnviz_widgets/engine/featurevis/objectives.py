"""What feature visualisation maximises: scores of a batch's activations that compose like lucent's.

``channel("layer4", 7) - 0.5 * diversity("layer4")`` is an objective; so is the string ``"layer4:7"``.
Every objective knows the layers it reads (the forward pass stops after the deepest) and checks its units
against the activation shapes of a probing pass before any optimisation starts. Higher is better.
"""

from __future__ import annotations

from typing import Callable, Dict, FrozenSet, Optional, Sequence, Tuple, Union, cast

import torch
import torch.nn.functional as F

from ..checks import check_int
from ..errors import FeatureVisError
from ..names import OUTPUT, split_unit

Acts = Dict[str, torch.Tensor]
Shapes = Dict[str, Tuple[int, ...]]


class Objective:
    """A differentiable score of the activations of one batch of images, to be maximised.

    Objectives add, subtract and scale: ``a + b``, ``a - 0.5 * b``, ``-a``, ``sum([a, b])``.
    """

    layers: FrozenSet[str] = frozenset()
    tileable = False
    """Whether the score is a mean over positions, so a large picture can be scored tile by tile (DeepDream's tiles)."""

    def __call__(self, acts: Acts) -> torch.Tensor:
        """The score (a scalar tensor) of the activations ``acts`` (layer name -> ``(B, ...)`` tensor)."""
        raise NotImplementedError

    def check(self, shapes: Shapes, batch: int) -> None:
        """Raise :class:`FeatureVisError` if a unit or batch index does not exist at these shapes."""

    def channels(self) -> Dict[str, Optional[FrozenSet[int]]]:
        """The channels read of each layer (``None``: all): the model need not compute the others."""
        return dict.fromkeys(self.layers)

    def __add__(self, other: "Objective") -> "Objective":
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum((self, other))

    def __radd__(self, other: object) -> "Objective":
        if other == 0:  # sum([a, b]) starts from 0
            return self
        return NotImplemented

    def __sub__(self, other: "Objective") -> "Objective":
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum((self, Scaled(other, -1.0)))

    def __neg__(self) -> "Objective":
        return Scaled(self, -1.0)

    def __mul__(self, factor: float) -> "Objective":
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            return NotImplemented
        return Scaled(self, float(factor))

    __rmul__ = __mul__

    def __truediv__(self, factor: float) -> "Objective":
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor == 0:
            return NotImplemented
        return Scaled(self, 1.0 / float(factor))


class Sum(Objective):
    """The sum of several objectives."""

    def __init__(self, terms: Sequence[Objective]):
        self.terms: Tuple[Objective, ...] = tuple(
            t for term in terms for t in (term.terms if isinstance(term, Sum) else (term,))
        )
        self.layers = frozenset().union(*(t.layers for t in self.terms))
        self.tileable = all(t.tileable for t in self.terms)

    def __call__(self, acts: Acts) -> torch.Tensor:
        return cast(torch.Tensor, sum(t(acts) for t in self.terms))  # terms are never empty: a tensor

    def check(self, shapes: Shapes, batch: int) -> None:
        for t in self.terms:
            t.check(shapes, batch)

    def channels(self) -> Dict[str, Optional[FrozenSet[int]]]:
        merged: Dict[str, Optional[FrozenSet[int]]] = {}
        for term in self.terms:
            for layer, wanted in term.channels().items():
                if layer in merged:
                    before = merged[layer]
                    wanted = None if wanted is None or before is None else before | wanted
                merged[layer] = wanted
        return merged

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.terms)).replace("+ -", "- ")


class Scaled(Objective):
    """An objective times a constant."""

    def __init__(self, term: Objective, factor: float):
        self.term, self.factor, self.layers, self.tileable = term, factor, term.layers, term.tileable

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.factor * self.term(acts)

    def check(self, shapes: Shapes, batch: int) -> None:
        self.term.check(shapes, batch)

    def channels(self) -> Dict[str, Optional[FrozenSet[int]]]:
        return self.term.channels()

    def __repr__(self) -> str:
        return f"-{self.term!r}" if self.factor == -1 else f"{self.factor:g} * {self.term!r}"


class Term(Objective):
    """An objective on one layer, optionally on one image of the batch."""

    kind = ""

    def __init__(self, layer: str, batch: Optional[int] = None):
        if not isinstance(layer, str):
            raise FeatureVisError(f"a layer is named by its dotted name (a str), got {layer!r}")
        self.layer, self.batch, self.layers = layer, _position("batch", batch), frozenset([layer])

    def select(self, acts: Acts) -> torch.Tensor:
        """This layer's activations, of the one batch image if the term has one (a batch of one then)."""
        act = acts[self.layer]
        return act if self.batch is None else act[self.batch : self.batch + 1]

    def check(self, shapes: Shapes, batch: int) -> None:
        if self.batch is not None and self.batch >= batch:
            raise FeatureVisError(
                f"{self!r} reads image {self.batch} of the batch, but the batch has {batch} (0..{batch - 1})"
            )

    def _where(self) -> str:
        return "" if self.batch is None else f", batch={self.batch}"


def _index(what: str, value: object, signed: bool = False) -> int:
    """A whole number, >= 0 unless ``signed`` (classes and units are range-checked against the model later,
    where the message can name the valid range)."""
    return check_int(what, value, None if signed else 0, error=FeatureVisError)


def _position(what: str, value: object) -> Optional[int]:
    """A batch index or a neuron's row or column: a whole number >= 0, or ``None``."""
    return None if value is None else _index(what, value)


def _channels(shape: Tuple[int, ...], layer: str) -> int:
    if len(shape) < 1:
        raise FeatureVisError(f"layer {layer!r} has no channels (output shape {shape})")
    return shape[0]


def _check_unit(layer: str, shape: Tuple[int, ...], unit: int) -> None:
    count = _channels(shape, layer)
    if not 0 <= unit < count:
        raise FeatureVisError(
            f"unit {unit} is out of range for layer {layer!r}: it has {count} channels (0..{count - 1})"
        )


class Channel(Term):
    """Mean activation of one channel over all positions (lucent's ``channel``)."""

    kind = "channel"
    tileable = True

    def __init__(self, layer: str, unit: int, batch: Optional[int] = None):
        super().__init__(layer, batch)
        self.unit = _index("unit", unit, signed=True)

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.select(acts)[:, self.unit].mean()

    def channels(self) -> Dict[str, Optional[FrozenSet[int]]]:
        return {self.layer: frozenset([self.unit])}

    def check(self, shapes: Shapes, batch: int) -> None:
        super().check(shapes, batch)
        _check_unit(self.layer, shapes[self.layer], self.unit)

    def __repr__(self) -> str:
        return f"channel({self.layer!r}, {self.unit}{self._where()})"


class Neuron(Term):
    """Activation of one channel at one position (the centre by default)."""

    kind = "neuron"

    def __init__(
        self, layer: str, unit: int, y: Optional[int] = None, x: Optional[int] = None, batch: Optional[int] = None
    ):
        super().__init__(layer, batch)
        self.unit, self.y, self.x = _index("unit", unit, signed=True), _position("y", y), _position("x", x)

    def channels(self) -> Dict[str, Optional[FrozenSet[int]]]:
        return {self.layer: frozenset([self.unit])}

    def position(self, shape: Tuple[int, ...]) -> Tuple[int, int]:
        """``(y, x)`` at a ``(C, H, W)`` shape: the given one, or the centre."""
        return (shape[1] // 2 if self.y is None else self.y, shape[2] // 2 if self.x is None else self.x)

    def __call__(self, acts: Acts) -> torch.Tensor:
        act = self.select(acts)
        y, x = self.position(act.shape[1:])
        return act[:, self.unit, y, x].mean()

    def check(self, shapes: Shapes, batch: int) -> None:
        super().check(shapes, batch)
        shape = shapes[self.layer]
        if len(shape) != 3:
            raise FeatureVisError(
                f"a neuron objective needs a layer with a spatial (C, H, W) output; {self.layer!r} outputs {shape}. "
                "Use a channel objective on it, or pick a convolutional layer"
            )
        _check_unit(self.layer, shape, self.unit)
        y, x = self.position(shape)
        if y >= shape[1] or x >= shape[2]:
            raise FeatureVisError(
                f"position ({y}, {x}) is outside layer {self.layer!r}'s {shape[1]}x{shape[2]} map at this image size "
                f"(y 0..{shape[1] - 1}, x 0..{shape[2] - 1})"
            )

    def __repr__(self) -> str:
        where = "" if self.y is None and self.x is None else f", y={self.y}, x={self.x}"
        return f"neuron({self.layer!r}, {self.unit}{where}{self._where()})"


class DeepDream(Term):
    """Mean squared activation of a whole layer: amplify whatever the layer already sees (DeepDream)."""

    kind = "layer"
    tileable = True

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.select(acts).pow(2).mean()

    def __repr__(self) -> str:
        return f"deepdream({self.layer!r}{self._where()})"


class ClassLogit(Term):
    """One pre-softmax class score (maximising the softmax works worse: it can win by lowering the others)."""

    kind = "class_logit"

    def __init__(self, index: int, batch: Optional[int] = None):
        super().__init__(OUTPUT, batch)
        self.index = _index("class index", index, signed=True)

    def __call__(self, acts: Acts) -> torch.Tensor:
        return self.select(acts)[:, self.index].mean()

    def check(self, shapes: Shapes, batch: int) -> None:
        super().check(shapes, batch)
        count = _channels(shapes[OUTPUT], "output")
        if not 0 <= self.index < count:
            raise FeatureVisError(f"class {self.index} is out of range: the model has {count} classes (0..{count - 1})")

    def __repr__(self) -> str:
        return f"class_logit({self.index}{self._where()})"


class Direction(Term):
    """Projection of every position's channel vector on a direction, averaged (a unit vector gives
    ``channel``): for directions found by PCA, NMF or a probe rather than single units."""

    kind = "direction"
    tileable = True

    def __init__(self, layer: str, vector: Union[Sequence[float], torch.Tensor], batch: Optional[int] = None):
        super().__init__(layer, batch)
        v = torch.as_tensor(vector, dtype=torch.float32).flatten()
        if v.numel() == 0 or not torch.isfinite(v).all() or v.norm() == 0:
            raise FeatureVisError("a direction must be a non-zero vector of finite numbers, one per channel")
        self.vector = v / v.norm()

    def __call__(self, acts: Acts) -> torch.Tensor:
        act = self.select(acts)
        v = self.vector.to(act.device, act.dtype).reshape(1, -1, *([1] * (act.dim() - 2)))
        return (act * v).sum(1).mean()

    def check(self, shapes: Shapes, batch: int) -> None:
        super().check(shapes, batch)
        count = _channels(shapes[self.layer], self.layer)
        if self.vector.numel() != count:
            raise FeatureVisError(
                f"the direction has {self.vector.numel()} entries but layer {self.layer!r} has {count} channels"
            )

    def __repr__(self) -> str:
        return f"direction({self.layer!r}, <{self.vector.numel()} values>{self._where()})"


class Guided(Term):
    """DeepDream guided by another picture (Mordvintsev et al.'s guide): at every position, the best dot product of
    the channel vector with any of the guide's channel vectors, averaged; the gradient pulls each position towards
    the guide feature it already resembles most."""

    kind = "guided"
    tileable = True

    def __init__(self, layer: str, features: torch.Tensor, batch: Optional[int] = None):
        super().__init__(layer, batch)
        feats = torch.as_tensor(features, dtype=torch.float32)
        if feats.dim() != 2 or feats.shape[1] == 0 or not torch.isfinite(feats).all():
            raise FeatureVisError("guide features must be a (channels, positions) tensor of finite numbers")
        self.features = feats

    def __call__(self, acts: Acts) -> torch.Tensor:
        act = self.select(acts)
        flat = act.flatten(2).transpose(1, 2)  # (B, positions, C)
        scores = flat @ self.features.to(act.device, act.dtype)  # (B, positions, guide positions)
        return scores.max(dim=2).values.mean()

    def check(self, shapes: Shapes, batch: int) -> None:
        super().check(shapes, batch)
        count = _channels(shapes[self.layer], self.layer)
        if self.features.shape[0] != count:
            raise FeatureVisError(
                f"the guide has {self.features.shape[0]} channels but layer {self.layer!r} has {count}: take its "
                "features at the same layer"
            )

    def __repr__(self) -> str:
        return f"guided({self.layer!r}, <{self.features.shape[1]} guide positions>{self._where()})"


class Diversity(Term):
    """Minus the mean cosine similarity between the batch images' Gram matrices at a layer: pushes a batch
    towards different styles of the same feature (Olah et al. 2017). Needs a batch of 2 or more."""

    kind = "diversity"

    def __call__(self, acts: Acts) -> torch.Tensor:
        act = acts[self.layer]
        b, c = act.shape[:2]
        feats = act.reshape(b, c, -1)
        gram = F.normalize((feats @ feats.transpose(1, 2)).reshape(b, -1), dim=1)
        sim = gram @ gram.T
        return -(sim.sum() - sim.diagonal().sum()) / (b * (b - 1))

    def check(self, shapes: Shapes, batch: int) -> None:
        if batch < 2:
            raise FeatureVisError("a diversity objective compares the images of a batch: use batch=2 or more")

    def __repr__(self) -> str:
        return f"diversity({self.layer!r})"


def channel(layer: str, unit: int, batch: Optional[int] = None) -> Objective:
    """Mean activation of channel ``unit`` of ``layer`` (of batch image ``batch``, or of all)."""
    return Channel(layer, unit, batch)


def neuron(
    layer: str, unit: int, y: Optional[int] = None, x: Optional[int] = None, batch: Optional[int] = None
) -> Objective:
    """Activation of channel ``unit`` of ``layer`` at ``(y, x)``; the centre of the map by default."""
    return Neuron(layer, unit, y, x, batch)


def deepdream(layer: str, batch: Optional[int] = None) -> Objective:
    """Mean squared activation of all of ``layer`` (the "layer" objective of DeepDream)."""
    return DeepDream(layer, batch)


def class_logit(index: int, batch: Optional[int] = None) -> Objective:
    """The pre-softmax score of class ``index``."""
    return ClassLogit(index, batch)


def direction(layer: str, vector: Union[Sequence[float], torch.Tensor], batch: Optional[int] = None) -> Objective:
    """Projection of ``layer``'s channel vectors on ``vector`` (normalised), averaged over positions."""
    return Direction(layer, vector, batch)


def guided(layer: str, features: torch.Tensor, batch: Optional[int] = None) -> Objective:
    """DeepDream on ``layer`` guided by a picture whose ``(channels, positions)`` ``features`` at that layer are given:
    each position moves towards the guide feature it matches best."""
    return Guided(layer, features, batch)


def diversity(layer: str) -> Objective:
    """Minus the similarity of the batch's Gram matrices at ``layer`` (0 at best); add it with a weight:
    ``channel("layer4", 7) + 0.5 * diversity("layer4")``."""
    return Diversity(layer)


def channels(layer: str, units: Sequence[int]) -> Objective:
    """Image ``i`` of the batch maximises channel ``units[i]``: one run renders several channels."""
    if len(units) == 0:
        raise FeatureVisError("channels() needs at least one unit")
    return Sum([Channel(layer, u, batch=i) for i, u in enumerate(units)])


def as_objective(spec: Union[Objective, str]) -> Objective:
    """An objective from itself or a string: ``"layer"`` (DeepDream), ``"layer:unit"`` (channel),
    ``"layer:unit:y:x"`` (neuron)."""
    if isinstance(spec, Objective):
        return spec
    if not isinstance(spec, str) or not spec:
        raise FeatureVisError(
            f"an objective is an Objective or a string 'layer', 'layer:unit' or 'layer:unit:y:x', got {spec!r}"
        )
    parsed = split_unit(spec)
    if parsed is None:
        raise FeatureVisError(
            f"cannot read {spec!r}: after the layer name come whole numbers, 'layer:unit' or 'layer:unit:y:x'"
        )
    layer, values = parsed
    makers: Dict[int, Callable[..., Objective]] = {0: deepdream, 1: channel, 3: neuron}
    if len(values) not in makers:
        raise FeatureVisError(f"cannot read {spec!r}: write 'layer', 'layer:unit' or 'layer:unit:y:x'")
    return makers[len(values)](layer, *values)
