"""Assignments on the offline default model, with a checker: ``cw.labs.check("saliency", my_function)``.

The cs231n "Network Visualization" assignment (notebooks/04_network_visualization.ipynb) has students write saliency
maps, fooling images and the class-visualisation step; its "Style Transfer" assignment
(notebooks/05_style_transfer.ipynb) the content, Gram-matrix, style and total-variation losses. :func:`check` runs
each on fixed inputs against :mod:`.reference` and says what is wrong. The helpers are the assignments' given code:
pictures in and out of the network's normalised space, a painting to take a style from, the class visualisation's
outer loop around a student's step and style transfer's around the student's losses.
"""

from .checker import CHECKS, check
from .classvis import blur_image, class_visualization_steps, create_class_visualization, jitter
from .judging import Check, Result, student_model
from .pictures import default_net, deprocess, heatmap, painting, preprocess, strip
from .transfer import extract_features, style_transfer, style_transfer_steps

__all__ = [
    "CHECKS",
    "Check",
    "Result",
    "blur_image",
    "check",
    "class_visualization_steps",
    "create_class_visualization",
    "default_net",
    "deprocess",
    "extract_features",
    "heatmap",
    "jitter",
    "painting",
    "preprocess",
    "strip",
    "style_transfer",
    "style_transfer_steps",
    "student_model",
]
