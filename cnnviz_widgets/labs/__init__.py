"""Assignments on the offline default model, with a checker: ``cw.labs.check("saliency", my_function)``.

The cs231n "Network Visualization" assignment (notebooks/04_network_visualization.ipynb) has students write saliency
maps, fooling images and the class-visualisation step; :func:`check` runs each on fixed inputs against
:mod:`.reference` and says what is wrong. The helpers are the assignment's given code: pictures in and out of the
network's normalised space, and the class visualisation's outer loop around a student's step.
"""

from .checker import CHECKS, check
from .classvis import blur_image, class_visualization_steps, create_class_visualization, jitter
from .judging import Check, Result, student_model
from .pictures import default_net, deprocess, heatmap, preprocess, strip

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
    "heatmap",
    "jitter",
    "preprocess",
    "strip",
    "student_model",
]
