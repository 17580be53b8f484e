"""Interactive views: thin anywidget classes over the engine."""

from .base import ViewWidget
from .featurevis import FeatureVisualizer
from .occlusion import OcclusionExplorer
from .saliency import SaliencyExplorer

__all__ = ["FeatureVisualizer", "OcclusionExplorer", "SaliencyExplorer", "ViewWidget"]
