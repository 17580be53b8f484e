"""Fast style transfer (Johnson et al. 2016): a feed-forward network trained for one style, which then stylises any
photo in one forward pass.

``network`` is the transformation network (instance normalisation, residual blocks, upsampling convolutions);
``training`` trains it against a loss network (the user's model, never changed), with progress, a live preview,
Stop/Resume and checkpoints, and applies it.
"""

from .network import TransformNet
from .training import DEFAULTS, FAST_OPTIONS, STEPS, FastFrame, FastStyle, LossNet, training_photos

__all__ = ["DEFAULTS", "FAST_OPTIONS", "FastFrame", "FastStyle", "LossNet", "STEPS", "TransformNet", "training_photos"]
