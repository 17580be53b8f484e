"""Which layers and weights style transfer uses on each model: a recipe per known network, a rule for the others.

The famous recipes are written for VGG, whose weights cannot be fetched here; these are for the networks that can
be. SqueezeNet 1.1 gets cs231n's recipe as the lab states it. The offline default (EfficientNet-Lite0) and ResNet-18
are residual networks, whose peaky activations make plain Gram matching chase a few huge values (grid and filter
artefacts), so their recipes switch on SWAG's softmax (``temperature``). The weights were chosen by measurement
(``benchmarks/bench_style.py``): the judged result moves most of the way to the style's statistics and keeps the
content's features.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, Mapping, Optional, Tuple

from ..errors import LayerError
from ..model import DEFAULT_NAME, Net


@dataclass(frozen=True)
class Preset:
    """One model's style-transfer recipe.

    Attributes
    ----------
    name : str
        What the view shows: whose recipe, for which model.
    content : tuple of (str, float)
        The content layer and its weight.
    style : tuple of (str, float) pairs
        The style layers and their weights.
    tv : float
        Weight of the total-variation penalty (sum of squared neighbour differences).
    temperature : float or None
        SWAG's softmax temperature (``None``: plain features).
    size : int
        Longest side of the content picture, in pixels.
    style_scale : float
        Longest side of the style picture over the content's.
    steps : int
        Steps of a run.
    lr : float
        Adam's learning rate.
    restarts : mapping of int to float
        Adam starts afresh with a new rate after this many steps.
    space : str
        Where the pixels (and so ``lr`` and ``tv``) are measured: ``"normalized"`` (cs231n's) or ``"unit"``.
    """

    name: str
    content: Tuple[str, float]
    style: Tuple[Tuple[str, float], ...]
    tv: float
    temperature: Optional[float] = None
    size: int = 192
    style_scale: float = 1.0
    steps: int = 200
    lr: float = 3.0
    restarts: Mapping[int, float] = field(default_factory=dict)
    space: str = "normalized"

    @property
    def layers(self) -> Tuple[str, ...]:
        """Every layer the recipe reads."""
        return tuple(dict.fromkeys([self.content[0], *(layer for layer, _ in self.style)]))

    def without_remedy(self) -> "Preset":
        """The same recipe with plain features (no SWAG softmax): the baseline the remedy is measured against."""
        return replace(self, temperature=None, name=f"{self.name}, no remedy")


CS231N = Preset(
    name="cs231n (SqueezeNet 1.1)",
    content=("features.3", 6e-2),
    style=(("features.1", 300000.0), ("features.4", 1000.0), ("features.6", 15.0), ("features.7", 3.0)),
    tv=2e-2,
    size=192,
    style_scale=512 / 192,
    steps=200,
    lr=3.0,
    restarts={180: 0.1},
)
"""cs231n's style-transfer recipe on SqueezeNet 1.1 (its ``features`` modules 3; 1, 4, 6, 7)."""

PRESETS: Dict[str, Preset] = {
    "squeezenet1_1": CS231N,
    DEFAULT_NAME: Preset(
        name=f"measured for {DEFAULT_NAME}",
        content=("_blocks.4", 6e-2),
        style=(("_blocks.0", 300000.0), ("_blocks.2", 1000.0), ("_blocks.4", 15.0), ("_blocks.7", 3.0)),
        tv=2e-2,
        temperature=1.0,
        size=256,
        steps=200,
        lr=3.0,
        restarts={180: 0.1},
    ),
    "resnet18": Preset(
        name="measured for resnet18",
        content=("layer2", 6e-2),
        style=(("relu", 300000.0), ("layer1", 1000.0), ("layer2", 15.0), ("layer3", 3.0)),
        tv=2e-2,
        temperature=1.0,
        size=256,
        steps=200,
        lr=3.0,
        restarts={180: 0.1},
    ),
}
"""The recipe of each model, by the name :func:`~..model.load_model` gives it."""


def preset_for(net: Net) -> Preset:
    """The recipe for ``net``: its own when the model is known by name, else one built from its layers."""
    known = PRESETS.get(net.name.split(" (")[0])
    return known if known is not None else generic(net)


def generic(net: Net) -> Preset:
    """A recipe for any CNN: style from the last layer at each of the first four resolutions, content from the third,
    with SWAG's softmax (safe on plain networks, needed on residual ones)."""
    records = [record for record in net.layers() if record.spatial and not record.passthrough]
    spans = {  # containers whose modules work at several resolutions (SqueezeNet's ``features``) are no one stage
        record.name
        for record in records
        for inner in records
        if inner.name.startswith(record.name + ".") and inner.shape[1:] != record.shape[1:]
    }
    levels: Dict[Tuple[int, ...], str] = {}
    depth: Dict[Tuple[int, ...], int] = {}
    for record in records:
        key, level = record.shape[1:], record.name.count(".")
        if record.name in spans:
            continue
        if key not in levels or level <= depth[key]:  # the last of the shallowest modules at this resolution
            levels[key], depth[key] = record.name, level
    names = [levels[key] for key in sorted(levels, key=lambda hw: -hw[0] * hw[1])][:4]
    if not names:
        raise LayerError(f"{net.name} has no layer with a spatial output: style transfer needs a convolutional network")
    weights = (300000.0, 1000.0, 15.0, 3.0)[-len(names) :]
    base = PRESETS[DEFAULT_NAME]
    content = names[min(2, len(names) - 1)]
    name = f"chosen from {net.name}'s layers"
    return replace(base, name=name, content=(content, base.content[1]), style=tuple(zip(names, weights)))
