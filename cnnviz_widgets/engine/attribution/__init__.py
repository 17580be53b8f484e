"""Which pixels matter: gradient, SmoothGrad, integrated gradients, guided backprop, deconvnet and the
Grad-CAM family, all reached through :func:`explain` / :func:`saliency`, plus the checks that tell a
faithful map from a pretty one (:func:`sanity_check`, :func:`deletion_insertion`).

One short module per method; ``methods.METHODS`` is the registry a widget draws its picker from.
"""

from ..errors import AttributionError
from .cam import grad_cam, grad_cam_pp, guided_grad_cam, upsample
from .faithfulness import Curves, deletion_insertion, deletion_insertion_steps
from .gradients import gradient, input_x_gradient
from .guided import deconvnet, guided_backprop, rectifier_rule
from .integrated import integrated_gradients, integrated_gradients_steps, quadrature
from .methods import LAYER_METHODS, METHODS, Explanation, Method, Option, explain, explain_steps, get_method, saliency
from .sanity import SanityCheck, rank_correlation, sanity_check, sanity_check_steps
from .smoothgrad import smoothgrad, smoothgrad_steps
from .targets import Target, Unit

__all__ = [
    "AttributionError",
    "Curves",
    "Explanation",
    "LAYER_METHODS",
    "METHODS",
    "Method",
    "Option",
    "rectifier_rule",
    "SanityCheck",
    "Target",
    "Unit",
    "deconvnet",
    "deletion_insertion",
    "deletion_insertion_steps",
    "explain",
    "explain_steps",
    "get_method",
    "grad_cam",
    "grad_cam_pp",
    "gradient",
    "guided_backprop",
    "guided_grad_cam",
    "input_x_gradient",
    "integrated_gradients",
    "integrated_gradients_steps",
    "quadrature",
    "rank_correlation",
    "saliency",
    "sanity_check",
    "sanity_check_steps",
    "smoothgrad",
    "smoothgrad_steps",
    "upsample",
]
