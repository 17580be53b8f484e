"""Feature inversion, texture synthesis and style transfer (Mahendran & Vedaldi 2015; Gatys et al. 2015, 2016) on
any CNN: recipes for the feature-visualisation loop whose objectives match a layer's features or Gram matrices.

``losses`` states the losses plainly (the lab's reference), ``objectives`` makes them objectives of the loop,
``features`` computes the fixed targets once, ``presets`` says which layers and weights each model uses.
"""

from .features import check_layers, features
from .losses import content_loss, gram_matrix, smooth, style_loss, tv_loss
from .objectives import Content, Match, Style
from .presets import CS231N, PRESETS, Preset, generic, preset_for

__all__ = [
    "CS231N",
    "Content",
    "Match",
    "PRESETS",
    "Preset",
    "Style",
    "check_layers",
    "content_loss",
    "features",
    "generic",
    "gram_matrix",
    "preset_for",
    "smooth",
    "style_loss",
    "tv_loss",
]
