"""SaliencyExplorer: an image, its top-5 classes as a class picker, and a saliency heat-map over it."""
from __future__ import annotations

import time
from typing import Any, Optional

import traitlets
from torch import nn

from ..engine.images import ImageLike
from ..engine.layers import LayerError, default_cam_layer, list_choices
from ..engine.model import Net
from ..engine.saliency import LAYER_METHODS, METHODS, AttributionError, saliency
from .base import Job, ViewWidget, shows_errors
from .encoding import encode_array, png_bytes

COLORMAPS = ("inferno", "viridis", "jet", "gray")


class SaliencyExplorer(ViewWidget):
    """Which pixels made the network say this class? Pick a class, a method and (for Grad-CAM) a layer.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    image : PIL image, array, tensor, path or bytes
        The photo to explain.
    method : str
        ``"gradcam"`` (default) or ``"gradient"``.
    layer : str, optional
        Grad-CAM layer (dotted name); defaults to the last convolutional block.
    target : int, optional
        Class to explain; defaults to the top prediction.
    opacity : float
        Initial heat-map opacity (0..1); the slider then changes it in the browser only.
    colormap : str
        Initial colour map: ``inferno``, ``viridis``, ``jet`` or ``gray``.
    """

    _view = traitlets.Unicode("saliency").tag(sync=True)

    image = traitlets.Bytes(b"", help="PNG of the picture the model sees (input resolution).").tag(sync=True)
    heatmap = traitlets.Dict(help="Saliency map as {dtype, shape, buffer}, aligned with `image`.").tag(sync=True)
    predictions = traitlets.List(traitlets.Dict(), help="Top-5 rows {index, label, prob}.").tag(sync=True)
    target = traitlets.Int(0, help="Class being explained.").tag(sync=True)
    method = traitlets.Unicode("gradcam", help="Saliency method.").tag(sync=True)
    methods = traitlets.List(traitlets.Unicode(), read_only=True).tag(sync=True)
    layer = traitlets.Unicode("", help="Grad-CAM layer (dotted name).").tag(sync=True)
    layers = traitlets.List(traitlets.Dict(), read_only=True, help="Layer picker rows {name, type, shape}.").tag(
        sync=True
    )
    opacity = traitlets.Float(0.5, min=0.0, max=1.0, help="Initial overlay opacity.").tag(sync=True)
    colormap = traitlets.Unicode("inferno", help="Initial colour map.").tag(sync=True)

    def __init__(
        self,
        net: Any,
        image: ImageLike,
        *,
        method: str = "gradcam",
        layer: Optional[str] = None,
        target: Optional[int] = None,
        opacity: float = 0.5,
        colormap: str = "inferno",
    ):
        if isinstance(net, nn.Module):
            net = Net(net)
        if not isinstance(net, Net):
            raise TypeError(f"net must be a cnnviz_widgets Net (cw.load_model(...)) or an nn.Module, got {type(net).__name__}")
        if colormap not in COLORMAPS:
            raise ValueError(f"unknown colormap {colormap!r}; choose one of: {', '.join(COLORMAPS)}")
        super().__init__(opacity=opacity, colormap=colormap)
        self._net: Optional[Net] = net
        self._x = None
        self.set_trait("methods", list(METHODS))
        with self.hold_trait_notifications():
            self.method = method
            self.layer = layer if layer is not None else self._probe_layers()
        if not self.error:
            self._load(image, target)
        self.observe(self._changed, names=["target", "method", "layer"])

    # -- public ---------------------------------------------------------------------------------------------
    def set_image(self, image: ImageLike, target: Optional[int] = None) -> None:
        """Show and explain a new image (the target resets to its top prediction unless given)."""
        self._load(image, target)

    @property
    def net(self) -> Optional[Net]:
        """The network being explained (``None`` after :meth:`close`)."""
        return self._net

    def close(self) -> None:
        super().close()
        self._net = None
        self._x = None

    # -- internals ------------------------------------------------------------------------------------------
    @shows_errors
    def _load(self, image: ImageLike, target: Optional[int]) -> None:
        net = self._net
        self._x = None
        self.heatmap = {}
        self.predictions = []
        view = net.view(image)
        self._x = net.preprocess.normalise(view).to(net.device)
        self.image = png_bytes(view)
        preds = net.predict(view, k=5)
        self.predictions = [p._asdict() for p in preds]
        with self.hold_trait_notifications():
            self.target = preds[0].index if target is None else int(target)
        self._recompute()

    def _probe_layers(self) -> str:
        """Fill the layer picker from one probing forward pass; return the default Grad-CAM layer."""
        try:
            records = self._net.layers()
        except Exception as exc:  # noqa: BLE001 - a model that cannot run on its input size is shown, not raised
            self.show_error(ValueError(f"the model failed on a {self._net.preprocess.size}px test image: {exc}"))
            return ""
        spatial = [r for r in records if r.spatial and not r.passthrough]
        self.set_trait("layers", [{"name": r.name, "type": r.type, "shape": list(r.shape)} for r in spatial])
        return default_cam_layer(self._net.model, records) if spatial else ""

    def _changed(self, _change: Any) -> None:
        self._recompute()

    def _validate(self) -> Optional[str]:
        """The layer to use (``None`` for pixel methods); raises with the valid choices on bad settings."""
        if self.method not in METHODS:
            raise AttributionError(f"unknown method {self.method!r}; choose one of: {', '.join(METHODS)}")
        if self.method not in LAYER_METHODS:
            return None
        names = [row["name"] for row in self.layers]
        if not names:
            raise LayerError(
                f"this model has no layer with a spatial (C, H, W) output, which {self.method} needs; "
                f"pixel methods work: {', '.join(m for m in METHODS if m not in LAYER_METHODS)}"
            )
        if self.layer not in names:
            raise LayerError(
                f"{self.layer!r} is not a layer with a spatial (C, H, W) output; choose one of: "
                f"{list_choices(names, self.layer)}"
            )
        return self.layer

    @shows_errors
    def _recompute(self) -> None:
        if self._x is None:
            return
        layer = self._validate()
        net, x, target, method = self._net, self._x, self.target, self.method

        def work(job: Job) -> None:
            job.progress(0.0, f"computing {method}…")
            start = time.perf_counter()
            heat = saliency(net.model, x, target, method=method, layer=layer)[0]
            job.check()
            self.heatmap = encode_array(heat)
            where = f" at {layer}" if layer else ""
            job.progress(1.0, f"{method}{where} for “{net.label(target)}” in {1000 * (time.perf_counter() - start):.0f} ms")

        self.submit(work)
