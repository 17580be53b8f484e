"""Interactive views: thin anywidget classes over the engine."""

from .base import ViewWidget
from .datasets import DatasetExplorer
from .featurevis import FeatureVisualizer
from .fooling import FoolingImage
from .layers import LayerExplorer
from .occlusion import OcclusionExplorer
from .saliency import SaliencyExplorer

__all__ = [
    "DatasetExplorer",
    "FeatureVisualizer",
    "FoolingImage",
    "LayerExplorer",
    "OcclusionExplorer",
    "SaliencyExplorer",
    "ViewWidget",
]
