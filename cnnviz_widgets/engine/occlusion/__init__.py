"""Occlusion sensitivity (Zeiler & Fergus 2014): how much the class score drops when a patch is greyed out."""

from .grid import BASELINES, Baseline, Grid, Occlusion, OcclusionError, make_fill, occlude, occlude_window
from .sweep import occlusion, occlusion_steps

__all__ = [
    "BASELINES",
    "Baseline",
    "Grid",
    "Occlusion",
    "OcclusionError",
    "make_fill",
    "occlude",
    "occlude_window",
    "occlusion",
    "occlusion_steps",
]
