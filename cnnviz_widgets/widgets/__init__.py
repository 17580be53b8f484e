"""Interactive views: thin anywidget classes over the engine."""
from .base import ViewWidget
from .saliency import SaliencyExplorer

__all__ = ["SaliencyExplorer", "ViewWidget"]
