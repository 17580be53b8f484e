"""The dataset patches that excite a unit most, as Zeiler & Fergus (2014) show them: for each of a channel's top-k
entries of a scan, the part of the image that the unit at the peak can see, and its deconvnet projection beside it.

A scan keeps only (image, position, value) per entry; this module fetches each image again from the scan's source,
makes the model's input as the scan did, and crops it with the unit's exact receptive field from
:mod:`.layers`. A field that reaches past the image's border is not shifted or shrunk: the crop keeps the
field's whole frame and shows the part outside the image as :data:`PADDING`, so every patch of a layer has the
same size and the unit's centre stays in the middle. The projection is drawn in the same frame: the input gradient
of that one unit under the deconvnet rule (what :func:`~.projection.channel_projection` gives at that position),
zero, and so the same grey, outside the image.

``scan`` is a :class:`~.scan.Scan` (any object with its ``layers``, ``input_shape``, ``names``, ``top`` and
``source`` attributes will do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generator, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from .checks import check_bool, check_choice, check_int
from .errors import LayerError, ScanError, note
from .layers import LayerRecord, layers
from .model import Net
from .names import list_choices, resolve_layer
from .progress import Update, last
from .projection import RULES, Box, field_box, receptive_box, signed_pixels

IMAGE_BLIND = (
    "the deconvnet projections of {layer} do not depend on the image: no max pooling below it sends its switches back, "
    "so every patch shows the unit's same fixed pattern; rule='guided_backprop' keeps what each image contributes"
)
"""The note for a layer whose deconvnet projections ignore the image (found by projecting one unit on two images)."""
PADDING = 128
"""The grey (R = G = B) that a patch shows where the unit's field lies outside the image: neutral, and the grey
of a projection's zero, so a crop and its projection show the border alike."""


@dataclass(frozen=True)
class Patch:
    """One of a channel's top entries: item ``index`` (called ``name`` in the scan) peaks with ``value`` at
    ``(y, x)`` of the layer's map.

    ``box`` ``(top, left, bottom, right)`` (bottom and right exclusive) is the unit's receptive field clipped to
    the model's input, ``field`` the same unclipped (it may reach outside the input). ``crop`` ``(h, w, 3)`` uint8
    is what the model sees inside ``field``, :data:`PADDING` outside the input; ``projection`` is the unit's
    deconvnet (or guided backprop) projection in the same frame (:func:`~.projection.signed_pixels`: mid grey is
    zero), or ``None`` when not asked for.
    """

    index: int
    name: str
    value: float
    y: int
    x: int
    box: Box
    field: Box
    crop: np.ndarray
    projection: Optional[np.ndarray]


def _record(net: Net, scan: Any, layer: str) -> LayerRecord:
    """The layer's record at the scan's input size, checked to be one the scan kept patches of."""
    resolve_layer(net.model, layer)
    scanned = list(scan.layers)
    if layer not in scanned:
        raise ScanError(
            f"layer {layer!r} has no top patches in this scan; "
            f"choose one of: {list_choices(scanned, layer) if scanned else '(none)'}, or scan it"
        )
    record = next((r for r in layers(net, tuple(scan.input_shape)) if r.name == layer), None)
    if record is None or len(record.shape) != 3:
        shape = "no output" if record is None else f"shape {record.shape} per image"
        raise ScanError(f"layer {layer!r} gives {shape}; patches need a spatial layer, one with a (C, H, W) output")
    if record.receptive_field is None:
        raise ScanError(
            f"the receptive field of layer {layer!r} cannot be followed through the network (an op that resamples "
            "the map, such as upsampling), so its patches cannot be cropped; choose a layer below it"
        )
    return record


def _input(net: Net, scan: Any, index: int) -> Tuple[torch.Tensor, np.ndarray]:
    """Item ``index`` again: the model's input ``(1, C, H, W)`` and the ``(H, W, 3)`` uint8 picture it shows."""
    item = scan.source.item(index)
    if isinstance(item, torch.Tensor):
        x, view = item.detach().float().cpu()[None], None
    else:
        view = net.preprocess.view(item)
        x = net.preprocess.normalise(view)
    if tuple(x.shape[1:]) != tuple(scan.input_shape):
        raise ScanError(
            f"item {index} ({scan.names[index]}) makes an input of shape {tuple(x.shape[1:])}, but the scan's was "
            f"{tuple(scan.input_shape)}: use the model and preprocessing that made the scan"
        )
    picture = net.preprocess.denormalise(x) if view is None else np.asarray(view)
    return x, picture


def _framed(values: np.ndarray, frame: Box, fill: Any) -> np.ndarray:
    """``values`` ``(H, W, ...)`` inside ``frame`` (a box of the same image that may reach outside it), ``fill``
    outside the image."""
    top, left, bottom, right = frame
    height, width = values.shape[:2]
    out = np.full((bottom - top, right - left, *values.shape[2:]), fill, dtype=values.dtype)
    t, l_, b, r = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
    if t < b and l_ < r:
        out[t - top : b - top, l_ - left : r - left] = values[t:b, l_:r]
    return out


def top_patches_steps(
    model: Union[nn.Module, Net], scan: Any, layer: str, channel: int, *, rule: str = "deconvnet", project: bool = True
) -> Generator[Update[List[Patch]], None, None]:
    """:func:`top_patches` as a long call: an update with the patches so far after each one (projections take a
    forward and a backward pass each)."""
    rule = check_choice("rule", rule, tuple(RULES), error=ScanError)
    project = check_bool("project", project, error=ScanError)
    net = model if isinstance(model, Net) else Net(model)  # a module: the default preprocessing
    if scan.source is None:
        raise ScanError(
            "this scan has no source to fetch its images from (it was loaded from disk or merged from shards); "
            "pass the images again: scan(model, images, ...) reopens it from its cache with them"
        )
    record = _record(net, scan, layer)
    assert record.receptive_field is not None  # checked by _record
    top = scan.top[layer]
    channel = check_int("channel", channel, 0, int(top.values.shape[0]) - 1, error=LayerError)
    entries = [j for j in range(int(top.index.shape[1])) if int(top.index[channel, j]) >= 0]
    patches: List[Patch] = []
    first: Optional[torch.Tensor] = None
    for done, j in enumerate(entries, 1):
        index, y, x = int(top.index[channel, j]), int(top.y[channel, j]), int(top.x[channel, j])
        image, picture = _input(net, scan, index)
        height, width = image.shape[-2:]
        frame = field_box(record.receptive_field, y, x)
        projection = None
        if project:
            # channel_projection at this position, without its probe and its search for the strongest position
            unit = f"{layer}:{channel}:{y}:{x}"
            found = RULES[rule](net, image, unit)[0].float().cpu()
            if first is None:
                first = image
            elif (
                done == 2 and rule == "deconvnet" and torch.equal(found, RULES[rule](net, first, unit)[0].float().cpu())
            ):
                note(IMAGE_BLIND.format(layer=layer))
            pixels = _framed(found.permute(1, 2, 0).numpy(), frame, 0.0)
            projection = signed_pixels(torch.from_numpy(pixels).permute(2, 0, 1))
        patches.append(
            Patch(
                index=index,
                name=scan.names[index],
                value=float(top.values[channel, j]),
                y=y,
                x=x,
                box=receptive_box(record.receptive_field, y, x, height, width),
                field=frame,
                crop=_framed(picture, frame, PADDING),
                projection=projection,
            )
        )
        yield Update(done / len(entries), list(patches))
    if not entries:
        yield Update(1.0, patches)


def top_patches(
    model: Union[nn.Module, Net], scan: Any, layer: str, channel: int, *, rule: str = "deconvnet", project: bool = True
) -> List[Patch]:
    """The image patches that excite ``channel`` of ``layer`` most in ``scan``, strongest first, each cropped with
    the unit's exact receptive field and with its projection beside it (Zeiler & Fergus 2014, figure 2).

    Parameters
    ----------
    model : nn.Module or Net
        The network the scan was made with (never modified); a plain module gets the default ``Preprocess``.
    scan : Scan
        A scan of the model (:func:`~.scan.scan`) whose ``layers`` hold ``layer`` and whose ``source`` can fetch
        its images again.
    layer : str
        Dotted name of a scanned layer with a spatial ``(C, H, W)`` output.
    channel : int
        Its channel, ``0..C-1``.
    rule : str
        How each unit is projected to the pixels: ``"deconvnet"`` or ``"guided_backprop"``.
    project : bool
        ``False`` crops only (no forward or backward pass).

    Returns
    -------
    list of Patch
        One per filled top-k entry of the channel, in the scan's order (largest activation first).

    Raises
    ------
    ScanError
        For a layer the scan has no patches of, or without a spatial output or a followable field, or a scan
        without its source.
    LayerError
        For a layer the model lacks or a channel out of range (both naming the valid ones).
    """
    return last(top_patches_steps(model, scan, layer, channel, rule=rule, project=project))


def strongest_crops(model: Union[nn.Module, Net], scan: Any, layer: str) -> List[Optional[np.ndarray]]:
    """Every channel of ``layer`` by its single strongest patch in ``scan``: the crop of its first top-k entry
    (as :func:`top_patches` crops it, without a projection), ``None`` for a channel with no entry; each image is
    fetched once however many channels peak on it (a view's overview of a whole layer).

    Parameters
    ----------
    model : nn.Module or Net
        The network the scan was made with (never modified).
    scan : Scan
        A scan whose ``layers`` hold ``layer`` and whose ``source`` can fetch its images again.
    layer : str
        Dotted name of a scanned layer with a spatial ``(C, H, W)`` output.
    """
    net = model if isinstance(model, Net) else Net(model)
    if scan.source is None:
        raise ScanError("this scan has no source to fetch its images from; pass the images again")
    field = _record(net, scan, layer).receptive_field
    assert field is not None  # checked by _record
    top = scan.top[layer]
    pictures: dict = {}
    crops: List[Optional[np.ndarray]] = []
    for channel in range(int(top.index.shape[0])):
        index = int(top.index[channel, 0])
        if index < 0:
            crops.append(None)
            continue
        if index not in pictures:
            pictures[index] = _input(net, scan, index)[1]
        frame = field_box(field, int(top.y[channel, 0]), int(top.x[channel, 0]))
        crops.append(_framed(pictures[index], frame, PADDING))
    return crops
