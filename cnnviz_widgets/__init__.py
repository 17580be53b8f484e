"""cnnviz_widgets: see inside convolutional networks from a notebook cell.

>>> import cnnviz_widgets as cw
>>> net = cw.load_model()            # offline default: EfficientNet-Lite0 with ImageNet weights
>>> img = cw.sample_image("cat")
>>> net.predict(img, k=5)
>>> cw.SaliencyExplorer(net, img)    # interactive view
"""
from . import engine
from .engine import Net, load_image, load_model, sample_image
from .widgets import SaliencyExplorer

__version__ = "0.1.0"
__all__ = ["Net", "SaliencyExplorer", "engine", "load_image", "load_model", "sample_image", "__version__"]
