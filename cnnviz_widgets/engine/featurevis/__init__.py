"""Feature visualisation: optimise images so that chosen units, channels, layers or classes fire.

``objectives`` says what to maximise, ``param`` how the image is parameterised, ``transforms`` how it is
jittered for robustness, ``regularizers`` the classic penalties, ``rules`` how a step follows the gradient and what
holds the picture in bounds, and ``optimize`` runs the ascent: the one loop that DeepDream, class visualisation and
fooling images also run.
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
    guided,
    neuron,
)
from .optimize import VISUALIZATION_OPTIONS, Frame, Visualization, feature_visualization, visualize
from .param import PARAMS, SPACES, SQUASHES, ImageParam
from .regularizers import PixelRegularizers
from .rules import RULES, Ball, Box, Constraint
from .transforms import Robustness, Roll

__all__ = [
    "Ball",
    "Box",
    "Constraint",
    "FeatureVisError",
    "Frame",
    "ImageParam",
    "OUTPUT",
    "Objective",
    "PARAMS",
    "PixelRegularizers",
    "RULES",
    "Robustness",
    "Roll",
    "SPACES",
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
    "guided",
    "neuron",
    "visualize",
]
