"""Interactive views: thin anywidget classes over the engine."""

from .base import ViewWidget
from .classvis import ClassVisualizer
from .datasets import DatasetExplorer
from .dream import DeepDream
from .faststyle import FastStyleTrainer
from .featurevis import FeatureVisualizer
from .fooling import FoolingImage
from .inversion import FeatureInversion
from .layers import LayerExplorer
from .occlusion import OcclusionExplorer
from .saliency import SaliencyExplorer
from .style import StyleTransfer, TextureSynthesis

__all__ = [
    "ClassVisualizer",
    "DatasetExplorer",
    "DeepDream",
    "FastStyleTrainer",
    "FeatureInversion",
    "FeatureVisualizer",
    "FoolingImage",
    "LayerExplorer",
    "OcclusionExplorer",
    "SaliencyExplorer",
    "StyleTransfer",
    "TextureSynthesis",
    "ViewWidget",
]
