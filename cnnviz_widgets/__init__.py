"""cnnviz_widgets: see inside convolutional networks from a notebook cell.

>>> import cnnviz_widgets as cw
>>> net = cw.load_model()            # offline default: EfficientNet-Lite0 with ImageNet weights
>>> img = cw.sample_image("cat")
>>> net.predict(img, k=5)
>>> cw.SaliencyExplorer(net, img)    # interactive view
>>> cw.OcclusionExplorer(net, img)   # occlusion map, filling in as it is computed
>>> cw.LayerExplorer(net, img)       # every layer's maps, filters, projections, invariance
>>> cw.FeatureVisualizer(net, "_blocks.10:3")   # a picture that channel 3 of that layer likes, optimised live
>>> cw.ClassVisualizer(net, 281)     # pictures the model takes for class 281 (tabby), two recipes side by side
>>> cw.DeepDream(net, img)           # amplify what a layer sees in the photo, octave by octave
>>> cw.FoolingImage(net, img, 1)     # the cat changed a little until the model sees a goldfish, live
>>> cw.StyleTransfer(net, img, art)  # the photo painted in the style of another picture, live
>>> cw.TextureSynthesis(net, art)    # a new picture with the same texture, grown from noise
>>> cw.FeatureInversion(net, img)    # the photo rebuilt from several layers' features, side by side, live
>>> cw.FastStyleTrainer(net, art)    # a network trained, live, to paint any photo in one style at once
>>> cw.scan(net, "photos/")          # a dataset's top patches, features and predictions, cached
>>> cw.labs.check("saliency", fn)    # the cs231n assignment's checker (notebooks/04_network_visualization)
"""

from . import datasets, engine, labs
from .engine import Net, load_image, load_model, sample_image, scan
from .widgets import (
    ClassVisualizer,
    DatasetExplorer,
    DeepDream,
    FastStyleTrainer,
    FeatureInversion,
    FeatureVisualizer,
    FoolingImage,
    LayerExplorer,
    OcclusionExplorer,
    SaliencyExplorer,
    StyleTransfer,
    TextureSynthesis,
)

__version__ = "0.1.0"
__all__ = [
    "ClassVisualizer",
    "DatasetExplorer",
    "DeepDream",
    "FastStyleTrainer",
    "FeatureInversion",
    "FeatureVisualizer",
    "FoolingImage",
    "Net",
    "LayerExplorer",
    "OcclusionExplorer",
    "SaliencyExplorer",
    "StyleTransfer",
    "TextureSynthesis",
    "datasets",
    "engine",
    "labs",
    "load_image",
    "load_model",
    "sample_image",
    "scan",
    "__version__",
]
