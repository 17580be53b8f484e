"""The plain-PyTorch engine behind every view: no widget code below this package."""

from .activations import channel_maps
from .attribution import (
    METHODS,
    AttributionError,
    deconvnet,
    deletion_insertion,
    deletion_insertion_steps,
    explain,
    explain_steps,
    grad_cam,
    grad_cam_pp,
    gradient,
    guided_backprop,
    guided_grad_cam,
    input_x_gradient,
    integrated_gradients,
    integrated_gradients_steps,
    saliency,
    sanity_check,
    sanity_check_steps,
    smoothgrad,
    smoothgrad_steps,
)
from .errors import CnnvizError, LayerError, ScanError, SettingError
from .featurevis import VISUALIZATION_OPTIONS, FeatureVisError, Frame, Visualization, feature_visualization, visualize
from .fooling import FOOLING_OPTIONS, Fooled, Fooling, fool, fooling_steps
from .hooks import capture
from .images import ImageError, load_image, sample_image
from .layers import LayerRecord, ReceptiveField, default_cam_layer, default_layer, layers
from .model import ModelError, Net, Prediction, Preprocess, load_model
from .names import OUTPUT, resolve_layer
from .occlusion import Occlusion, OcclusionError, occlude_window, occlusion, occlusion_steps
from .progress import Update, last
from .replica import private, replica
from .scan import Scan, TopK, latest_scan, scan, scan_steps
from .schema import Option, check_settings
from .style import Inversion, Transfer, style_transfer, texture_synthesis

__all__ = [
    "Transfer",
    "style_transfer",
    "texture_synthesis",
    "AttributionError",
    "CnnvizError",
    "FOOLING_OPTIONS",
    "FeatureVisError",
    "Fooled",
    "Fooling",
    "Inversion",
    "Frame",
    "ImageError",
    "LayerError",
    "LayerRecord",
    "METHODS",
    "ModelError",
    "Net",
    "OUTPUT",
    "Occlusion",
    "Option",
    "OcclusionError",
    "Prediction",
    "Preprocess",
    "ReceptiveField",
    "Scan",
    "ScanError",
    "SettingError",
    "TopK",
    "Update",
    "VISUALIZATION_OPTIONS",
    "capture",
    "channel_maps",
    "check_settings",
    "deconvnet",
    "default_cam_layer",
    "default_layer",
    "deletion_insertion",
    "deletion_insertion_steps",
    "explain",
    "explain_steps",
    "grad_cam",
    "grad_cam_pp",
    "gradient",
    "guided_backprop",
    "guided_grad_cam",
    "input_x_gradient",
    "integrated_gradients",
    "integrated_gradients_steps",
    "last",
    "layers",
    "load_image",
    "load_model",
    "private",
    "replica",
    "occlude_window",
    "occlusion",
    "occlusion_steps",
    "resolve_layer",
    "sample_image",
    "saliency",
    "latest_scan",
    "scan",
    "scan_steps",
    "sanity_check",
    "sanity_check_steps",
    "smoothgrad",
    "smoothgrad_steps",
    "Visualization",
    "feature_visualization",
    "fool",
    "fooling_steps",
    "visualize",
]
