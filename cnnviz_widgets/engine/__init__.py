"""The plain-PyTorch engine behind every view: no widget code below this package."""
from .hooks import capture, model_state
from .images import ImageError, load_image, sample_image
from .layers import LayerError, LayerRecord, ReceptiveField, default_cam_layer, layers, resolve_layer
from .model import ModelError, Net, Prediction, Preprocess, load_model
from .saliency import METHODS, AttributionError, grad_cam, gradient, saliency

__all__ = [
    "AttributionError", "ImageError", "LayerError", "LayerRecord", "METHODS", "ModelError", "Net", "Prediction",
    "Preprocess", "ReceptiveField", "capture", "default_cam_layer", "grad_cam", "gradient", "layers",
    "load_image", "load_model", "model_state", "resolve_layer", "sample_image", "saliency",
]
