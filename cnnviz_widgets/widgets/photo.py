"""What views of one photo share: the network, the picture it sees, its top-5 classes as a class picker,
bundled samples and uploads, the overlay look (opacity, colour map) the browser starts with, and the rows of
the layer picker.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..engine.errors import ArgumentTypeError, ViewError
from ..engine.images import SAMPLES, ImageError, ImageLike, load_image, sample_image
from ..engine.layers import LayerRecord
from ..engine.model import Net, Prediction
from .base import ViewWidget
from .requests import Request, on
from .traits import Picture as PictureTrait

COLORMAPS = ("inferno", "viridis", "jet", "gray")
MAX_UPLOAD_BYTES = 20 * 2**20
"""Largest image file the view may upload (the front-end refuses bigger files before sending them)."""
TOP_K = 5


class Picture(NamedTuple):
    """A photo made ready for a view: the RGB picture the model sees, its input tensor, top predictions, and
    what fitting it to the model's input did to its shape (``Net.fit_note``; empty when nothing)."""

    view: Image.Image
    x: torch.Tensor
    predictions: List[Prediction]
    notice: str


def check_colormap(colormap: Any) -> None:
    """Raise naming the colour maps unless ``colormap`` is one of them."""
    if colormap not in COLORMAPS:
        raise ViewError(f"unknown colormap {colormap!r}; choose one of: {', '.join(COLORMAPS)}")


def as_net(net: Any) -> Net:
    """``net`` as a :class:`Net` (a bare module gets ImageNet preprocessing); an error naming what is accepted."""
    if isinstance(net, nn.Module):
        return Net(net)
    if not isinstance(net, Net):
        raise ArgumentTypeError(
            f"net must be a cnnviz_widgets Net (cw.load_model(...)) or an nn.Module, got {type(net).__name__}"
        )
    return net


def prepare(net: Net, image: ImageLike) -> Picture:
    """Read ``image`` and run the model on it once; raises (a bad file, a model that fails) before a view shows it.

    The predictions come from the same input tensor the explanations use (the picture is preprocessed once).
    """
    image = load_image(image)
    view = net.view(image)
    x = net.tensor(image)
    return Picture(view, x, net.top(x, TOP_K), net.fit_note(image) or "")


def read_upload(name: str, buffers: Sequence[bytes]) -> Image.Image:
    """The picture of an uploaded file (checked: one buffer, its size, then its content); problems name the file."""
    if len(buffers) != 1:
        raise ImageError(f"an upload carries its file as one binary buffer, got {len(buffers)}")
    data = buffers[0]
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"{name} is {len(data) / 2**20:.1f} MB; uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        return load_image(data)
    except ImageError as exc:
        raise ImageError(f"{name}: {exc}") from None


def check_target(net: Net, target: Any) -> int:
    """``target`` as a class index of ``net``; an error naming the valid range otherwise."""
    classes = net.num_classes
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < classes:
        raise ViewError(f"target must be a class index in 0..{classes - 1}, got {target!r}")
    return int(target)


def layer_rows(records: Sequence[LayerRecord]) -> List[Dict[str, Any]]:
    """The layer picker's rows ``{name, type, shape}``: layers with a spatial (C, H, W) output, pass-throughs
    (identity, padding) left out."""
    return [
        {"name": r.name, "type": r.type, "shape": list(r.shape)} for r in records if r.spatial and not r.passthrough
    ]


class NetView(ViewWidget):
    """Base of the views about one network: it holds the network until :meth:`close`."""

    def __init__(self, net: Net, **traits: Any):
        super().__init__(**traits)
        self._held: Optional[Net] = net

    @property
    def net(self) -> Optional[Net]:
        """The network being explained (``None`` after :meth:`close`)."""
        return self._held

    @property
    def _net(self) -> Net:
        """The network, for the view's own work; a closed view has none."""
        if self._held is None:
            raise ViewError("this view is closed; make a new one")
        return self._held

    def close(self) -> None:
        super().close()
        self._held = None


class PhotoView(NetView):
    """Base of the views that explain one photo: subclasses react to a new picture in :meth:`_loaded`.

    Parameters
    ----------
    net : Net or nn.Module
        The network, e.g. ``cw.load_model()``; a bare module gets ImageNet preprocessing.
    opacity : float
        Initial heat-map opacity (0..1); the view's slider then changes it in the browser only.
    colormap : str
        Initial colour map: ``inferno``, ``viridis``, ``jet`` or ``gray``.
    """

    image = PictureTrait(help="The picture the model sees (input resolution), sent as PNG.")
    notice = traitlets.Unicode(
        "", help="What fitting the photo to the model's input did to its shape (e.g. squashed); empty when nothing."
    ).tag(sync=True)
    sample = traitlets.Unicode("", help="Name of the bundled sample shown; empty for any other picture.").tag(sync=True)
    samples = traitlets.List(traitlets.Unicode(), read_only=True, help="Names of the bundled sample photos.").tag(
        sync=True
    )
    predictions = traitlets.List(traitlets.Dict(), help="Top-5 rows {index, label, prob}.").tag(sync=True)
    target = traitlets.Int(0, help="Class being explained.").tag(sync=True)
    opacity = traitlets.Float(0.5, min=0.0, max=1.0, help="Initial overlay opacity.").tag(sync=True)
    colormap = traitlets.Unicode("inferno", help="Initial colour map.").tag(sync=True)

    def __init__(self, net: Net, *, opacity: float, colormap: str):
        """Subclasses check all their arguments (:func:`as_net`, :func:`prepare`, their own) before calling this,
        which opens the view's comm: a bad argument raises without leaving a half-made view behind."""
        check_colormap(colormap)
        super().__init__(net, opacity=opacity, colormap=colormap)
        self._x: Optional[torch.Tensor] = None
        self._image_id = 0
        self.set_trait("samples", list(SAMPLES))

    def set_image(self, image: ImageLike, target: Optional[int] = None) -> None:
        """Show a new image (the target resets to its top prediction unless given).

        Parameters
        ----------
        image : PIL image, array, tensor, path or bytes
            The photo; an unreadable one raises :class:`ImageError` (from the view's picker: the banner says why)
            and the current picture stays.
        target : int, optional
            Class to explain; defaults to the top prediction.
        """
        self._show(prepare(self._net, image), target)

    def close(self) -> None:
        super().close()
        self._x = None

    @on("sample")
    def _on_sample(self, request: Request) -> None:
        name = request.text("name")
        self.set_image(sample_image(name))
        self.sample = name

    @on("upload")
    def _on_upload(self, request: Request) -> None:
        self._upload(request.text("name") or "the file", request.buffers)

    def _upload(self, name: str, buffers: Sequence[bytes]) -> None:
        self.set_image(read_upload(name, buffers))

    def _show(self, picture: Picture, target: Optional[int]) -> None:
        """Make ``picture`` the view's photo and let the subclass react."""
        self._x, self._image_id = picture.x, self._image_id + 1
        with self.hold_sync():
            self.sample = ""
            self.image = picture.view
            self.notice = picture.notice
            self.predictions = [p._asdict() for p in picture.predictions]
        self._loaded(picture.predictions, target)

    def _loaded(self, preds: List[Prediction], target: Optional[int]) -> None:
        """React to a new picture (``self._x``), given its top predictions and the class asked for, if any."""
        raise NotImplementedError
