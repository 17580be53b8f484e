"""Feature visualisation: optimise images so that chosen units, channels, layers or classes fire.

``objectives`` says what to maximise, ``param`` how the image is parameterised, ``transforms`` how it is
jittered for robustness, ``regularizers`` the classic penalties, and ``optimize`` runs the ascent.
"""

from .objectives import (
    OUTPUT,
    FeatureVisError,
    Objective,
    as_objective,
    channel,
    channels,
    class_logit,
    deepdream,
    direction,
    diversity,
    neuron,
)
from .optimize import VISUALIZATION_OPTIONS, Frame, Visualization, feature_visualization, visualize
from .param import PARAMS, SQUASHES, ImageParam
from .regularizers import PixelRegularizers
from .transforms import Robustness

__all__ = [
    "FeatureVisError",
    "Frame",
    "ImageParam",
    "OUTPUT",
    "Objective",
    "PARAMS",
    "PixelRegularizers",
    "Robustness",
    "SQUASHES",
    "VISUALIZATION_OPTIONS",
    "Visualization",
    "as_objective",
    "channel",
    "channels",
    "class_logit",
    "deepdream",
    "direction",
    "diversity",
    "feature_visualization",
    "neuron",
    "visualize",
]
