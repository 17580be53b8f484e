"""Interactive views: thin anywidget classes over the engine."""
from .base import ViewWidget
from .occlusion import OcclusionExplorer
from .saliency import SaliencyExplorer

__all__ = ["OcclusionExplorer", "SaliencyExplorer", "ViewWidget"]
