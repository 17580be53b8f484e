"""Which layers and weights style transfer uses on each model: a recipe per known network, a rule for the others.

The famous recipes are written for VGG, whose weights cannot be fetched here; these are for the networks that can
be. SqueezeNet 1.1 gets cs231n's recipe as the lab states it. The offline default (EfficientNet-Lite0) and ResNet-18
are residual networks, whose activations differ in scale by orders of magnitude from layer to layer, so that absolute
weights tuned for one network make another's result noise; their recipes compare relative errors (``remedy``), and
SWAG's softmax of the features is there to switch on. The layers and weights were chosen by measurement
(``benchmarks/bench_style.py``, judged by a network the optimisation never saw).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Sequence, Tuple

from ..errors import FeatureVisError, LayerError
from ..model import DEFAULT_NAME, Net

REMEDIES = ("none", "scale", "softmax")
"""How features are compared: as they are (cs231n's absolute weights); scaled, each loss divided by its target's squared
norm so that it is a relative error and one set of weights suits any layer of any model; or scaled after SWAG's
softmax of the features."""


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
        Weight of the total-variation penalty (sum of squared neighbour differences of the raw pixels).
    remedy : str
        One of :data:`REMEDIES`; the weights are relative unless it is ``"none"``.
    temperature : float
        SWAG's softmax temperature, for ``remedy="softmax"``.
    size : int
        Longest side of the content picture, in pixels.
    style_scale : float
        Longest side of the style picture over the content's.
    steps : int
        Steps of a run.
    lr : float
        Adam's learning rate.
    restarts : tuple of (int, float) pairs
        Adam starts afresh with a new rate after this many steps.
    space : str
        Where the pixels (and so ``lr`` and ``tv``) are measured: ``"normalized"`` (cs231n's) or ``"unit"``.
    """

    name: str
    content: Tuple[str, float]
    style: Tuple[Tuple[str, float], ...]
    tv: float
    remedy: str = "none"
    temperature: float = 3.0
    size: int = 192
    style_scale: float = 1.0
    steps: int = 200
    lr: float = 3.0
    restarts: Tuple[Tuple[int, float], ...] = ()
    space: str = "normalized"

    def with_remedy(self, remedy: str) -> "Preset":
        """This recipe compared by ``remedy``. The weights of an absolute recipe (``"none"``) mean nothing as relative
        ones, so switching it to ``"scale"`` or ``"softmax"`` takes the relative weights of :func:`measured` on the
        same layers; a relative recipe has no absolute weights to switch to."""
        if remedy == self.remedy or "none" not in (remedy, self.remedy):
            return replace(self, remedy=remedy)
        if remedy == "none":
            raise FeatureVisError(
                f"the recipe {self.name!r} has relative weights, which are no absolute ones: remedy 'none' needs a "
                "recipe with absolute weights (e.g. engine.style.CS231N, for SqueezeNet 1.1); use 'scale' or 'softmax'"
            )
        relative = measured(self.name, self.content[0], [layer for layer, _ in self.style])
        return replace(relative, name=f"{self.name}, relative weights", remedy=remedy, size=self.size)

    @property
    def layers(self) -> Tuple[str, ...]:
        """Every layer the recipe reads."""
        return tuple(dict.fromkeys([self.content[0], *(layer for layer, _ in self.style)]))


CS231N = Preset(
    name="cs231n (SqueezeNet 1.1)",
    content=("features.3", 6e-2),
    style=(("features.1", 300000.0), ("features.4", 1000.0), ("features.6", 15.0), ("features.7", 3.0)),
    tv=2e-2,
    size=192,
    style_scale=512 / 192,
    steps=200,
    lr=3.0,
    restarts=((180, 0.1),),
)
"""cs231n's style-transfer recipe on SqueezeNet 1.1 (its ``features`` modules 3; 1, 4, 6, 7), absolute weights."""


def measured(model: str, content: str, style: Sequence[str]) -> Preset:
    """A recipe of relative weights (content 1, style 30 shared by the layers), Adam at 0.05 on [0, 1] pixels, 200
    steps at 256 px, no total variation (it blurred the cat's fur and kept no more of it): what
    ``benchmarks/bench_style.py`` found best on the default model."""
    share = 30.0 / len(style)
    return Preset(
        name=f"measured for {model}", content=(content, 1.0), style=tuple((layer, share) for layer in style), tv=0.0,
        remedy="scale", size=256, steps=200, lr=0.05, space="unit",
    )  # fmt: skip


PRESETS: Dict[str, Preset] = {
    "squeezenet1_1": CS231N,
    DEFAULT_NAME: measured(
        DEFAULT_NAME, "_blocks.4", ("_conv_stem", "_blocks.0", "_blocks.2", "_blocks.4", "_blocks.7")
    ),
    "resnet18": measured("resnet18", "layer2", ("conv1", "relu", "layer1", "layer2", "layer3")),
}
"""The recipe of each model, by the name :func:`~..model.load_model` gives it."""


def preset_for(net: Net) -> Preset:
    """The recipe for ``net``: its own when the model is known by name, else one built from its layers."""
    known = PRESETS.get(net.name.split(" (")[0])
    return known if known is not None else generic(net)


def generic(net: Net) -> Preset:
    """A recipe for any CNN: style from the last layer at each of the first four resolutions, content from the third,
    with relative weights."""
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
    return replace(measured(net.name, names[min(2, len(names) - 1)], names), name=f"chosen from {net.name}'s layers")
