"""Feature inversion, texture synthesis and style transfer (Mahendran & Vedaldi 2015; Gatys et al. 2015, 2016) on
any CNN: recipes for the feature-visualisation loop whose objectives match a layer's features or Gram matrices.

``losses`` states the losses plainly (the lab's reference), ``objectives`` makes them objectives of the loop,
``features`` computes the fixed targets once, ``presets`` says which layers and weights each model uses, ``transfer``
and ``inversion`` run them, ``judge`` scores results with a network the optimisation never saw.
"""

from .features import check_layers, features
from .inversion import Inversion, InversionFrame, default_layers, psnr
from .judge import Verdict, judge, judge_network
from .losses import content_loss, gram_matrix, smooth, style_loss, tv_loss
from .objectives import Content, Match, Style
from .presets import CS231N, PRESETS, REMEDIES, Preset, generic, preset_for
from .transfer import (
    STYLE_OPTIONS,
    StyleFrame,
    Transfer,
    luminance,
    style_transfer,
    style_transfer_steps,
    texture_synthesis,
    with_colours,
)

__all__ = [
    "CS231N",
    "Inversion",
    "InversionFrame",
    "REMEDIES",
    "STYLE_OPTIONS",
    "StyleFrame",
    "Transfer",
    "Verdict",
    "default_layers",
    "judge",
    "judge_network",
    "luminance",
    "psnr",
    "style_transfer",
    "style_transfer_steps",
    "texture_synthesis",
    "with_colours",
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
