"""Layers by dotted name, their output shapes, and their receptive fields in input pixels.

Receptive fields are propagated through every torch call of one probing forward pass (a
``TorchFunctionMode``), so functional code (``F.pad``, ``F.max_pool2d``, ``x + y``) counts as much as
modules do. Each 4-D tensor carries, per axis, the field ``size``, the ``stride`` between neighbouring
units and the ``offset``: the input-pixel coordinate (pixel centres at 0, 1, ...) of unit 0's field centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .errors import LayerError
from .names import list_choices, resolve_layer
from .ops import bind, pair, pool_stride
from .replica import ModelLike, private

Pair = Tuple[float, float]


def _axes(value: Callable[[int], float]) -> Pair:
    """A (height, width) pair from a function of the axis."""
    return value(0), value(1)


@dataclass(frozen=True)
class ReceptiveField:
    """Where a unit of a spatial layer looks in the input image, per axis (height, width)."""

    size: Pair
    stride: Pair
    offset: Pair

    def union(self, other: "ReceptiveField") -> "ReceptiveField":
        """The field covering both (an element-wise op of two aligned tensors sees both inputs)."""

        def low(rf: "ReceptiveField", axis: int) -> float:
            return min(rf.offset[axis] - (rf.size[axis] - 1) / 2, other.offset[axis] - (other.size[axis] - 1) / 2)

        def high(rf: "ReceptiveField", axis: int) -> float:
            return max(rf.offset[axis] + (rf.size[axis] - 1) / 2, other.offset[axis] + (other.size[axis] - 1) / 2)

        return ReceptiveField(
            _axes(lambda a: high(self, a) - low(self, a) + 1),
            _axes(lambda a: max(self.stride[a], other.stride[a])),
            _axes(lambda a: (low(self, a) + high(self, a)) / 2),
        )

    def window(self, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1)) -> "ReceptiveField":
        """The field after a sliding window (convolution or pooling) with the given geometry."""
        return ReceptiveField(
            _axes(lambda a: self.size[a] + (kernel[a] - 1) * dilation[a] * self.stride[a]),
            _axes(lambda a: self.stride[a] * stride[a]),
            _axes(lambda a: self.offset[a] + ((kernel[a] - 1) * dilation[a] / 2 - padding[a]) * self.stride[a]),
        )

    def shifted(self, before: Pair) -> "ReceptiveField":
        """The field after padding ``before`` units at the top/left (indices move, the field does not)."""
        return ReceptiveField(self.size, self.stride, _axes(lambda a: self.offset[a] - before[a] * self.stride[a]))


@dataclass(frozen=True)
class LayerRecord:
    """One module as seen in a probing forward pass."""

    name: str
    type: str
    shape: Tuple[int, ...]  # output shape without the batch dimension (last call)
    calls: int
    receptive_field: Optional[ReceptiveField]  # None for non-spatial outputs or ops we cannot follow

    @property
    def spatial(self) -> bool:
        """True for (C, H, W) outputs with more than one position: candidates for CAMs and unit pickers."""
        return len(self.shape) == 3 and self.shape[1] * self.shape[2] > 1

    @property
    def passthrough(self) -> bool:
        """Identity and padding layers: their output repeats their input's features, so pickers hide them."""
        return self.type == "Identity" or self.type.endswith(("Pad1d", "Pad2d", "Pad3d"))


def _field(t) -> Optional[ReceptiveField]:
    return getattr(t, "_cnnviz_rf", None) if isinstance(t, torch.Tensor) else None


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


_WINDOW_OPS = {"conv2d", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "lp_pool2d"}


class _FieldTracker(TorchFunctionMode):
    """Attaches a :class:`ReceptiveField` to every 4-D tensor a torch call produces."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        first = args[0] if args else None
        for t in _tensors(out):
            if t.dim() == 4:
                rf, before = self._propagate(name, first, args, kwargs, t), _field(t)
                if rf is not None:  # an in-place op (x += y) widens the field its tensor already had
                    t._cnnviz_rf = rf if before is None else before.union(rf)
        return out

    @staticmethod
    def _propagate(name, first, args, kwargs, out) -> Optional[ReceptiveField]:
        rf_in = _field(first)
        if name in _WINDOW_OPS and rf_in is not None:
            a = bind(name, args, kwargs)
            if name == "conv2d":
                kernel = tuple(a["weight"].shape[-2:])
                dilation = pair(a["dilation"])
                padding = a["padding"]
                if padding == "valid":
                    padding = 0
                elif padding == "same":
                    padding = tuple((k - 1) * d / 2 for k, d in zip(kernel, dilation))
                return rf_in.window(kernel, pair(a["stride"]), pair(padding), dilation)
            kernel = pair(a["kernel_size"])
            padding = pair(a.get("padding", 0))  # lp_pool2d does not pad
            dilation = pair(a.get("dilation", 1))  # nor does average pooling dilate
            return rf_in.window(kernel, pool_stride(a["stride"], kernel), padding, dilation)
        if name in ("pad", "constant_pad_nd") and rf_in is not None:
            pad = list(bind(name, args, kwargs)["pad"])
            left = pad[0] if len(pad) >= 1 else 0
            top = pad[2] if len(pad) >= 3 else 0
            return rf_in.shifted((top, left))
        # Any other op that keeps the spatial grid: the union of its aligned spatial inputs.
        aligned = (_field(t) for t in _tensors((args, kwargs)) if t.dim() == 4 and t.shape[-2:] == out.shape[-2:])
        fields = [rf for rf in aligned if rf is not None]
        if not fields:
            return None
        merged = fields[0]
        for rf in fields[1:]:
            merged = merged.union(rf)
        return merged


def layers(model: ModelLike, input_shape: Sequence[int] = (3, 224, 224)) -> List[LayerRecord]:
    """Probe ``model`` with one zero image and list its submodules in the order their calls finish.

    Parameters
    ----------
    model : nn.Module
        Any module taking an image batch; its replica is run once in eval mode without gradients.
    input_shape : sequence of int
        ``(C, H, W)`` of one image, without the batch dimension.

    Returns
    -------
    list of LayerRecord
        One record per called submodule (the root excluded) with output shape, number of calls and, for
        spatial outputs, the receptive field in input pixels.
    """
    with private(model) as model, torch.no_grad():
        names = {m: n for n, m in model.named_modules() if n}
        seen: Dict[str, LayerRecord] = {}
        order: List[str] = []

        def hook(module, _inputs, output):
            name = names[module]
            out = output if isinstance(output, torch.Tensor) else next(iter(_tensors(output)), None)
            shape = tuple(out.shape[1:]) if out is not None else ()
            calls = seen[name].calls + 1 if name in seen else 1
            rf = _field(out) if out is not None and out.dim() == 4 else None
            seen[name] = LayerRecord(name, type(module).__name__, shape, calls, rf)
            if name in order:
                order.remove(name)
            order.append(name)

        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        x = torch.zeros((1, *input_shape), device=device, dtype=dtype)
        x._cnnviz_rf = ReceptiveField((1, 1), (1, 1), (0, 0))  # type: ignore[attr-defined]  # our tag on the tensor
        handles = [m.register_forward_hook(hook) for m in names]
        try:
            with _FieldTracker():
                model(x)
        finally:
            for handle in handles:
                handle.remove()
    return [seen[name] for name in order]


def blocks(model: nn.Module, records: Sequence[LayerRecord]) -> List[LayerRecord]:
    """The spatial layers called once that have parameterised children (ResNet's ``layer3``, EfficientNet's
    MBConv blocks), in call order; the spatial layers called once if there are none.

    Raises :class:`LayerError` for a model without any spatial layer.
    """
    spatial = [r for r in records if r.spatial and r.calls == 1 and not r.passthrough]
    if not spatial:
        raise LayerError("this model has no layer with a spatial (C, H, W) output")
    modules = dict(model.named_modules())
    found = [r for r in spatial if any(any(True for _ in c.parameters()) for c in modules[r.name].children())]
    return found or spatial


def default_layer(model: nn.Module, records: Sequence[LayerRecord]) -> str:
    """A block two thirds of the way up the network: mid-level features (textures, patterns) that read well
    as pictures and thumbnails (the default of the unit pickers)."""
    pool = blocks(model, records)
    return pool[(2 * (len(pool) - 1)) // 3].name


def cam_layer(model: nn.Module, records: Sequence[LayerRecord], layer: Optional[str] = None) -> str:
    """The Grad-CAM family's layer: ``layer`` if it has a spatial ``(C, H, W)`` output, else the default
    (:func:`default_cam_layer`); a :class:`LayerError` for a name the model lacks (closest names first), for a
    layer without such an output (naming those that have one) or for a model without any.

    Parameters
    ----------
    model : nn.Module
        The network.
    records : sequence of LayerRecord
        Its layer table (``Net.layers()``).
    layer : str, optional
        A dotted layer name; ``None`` for the default.
    """
    names = [r.name for r in records if r.spatial and not r.passthrough]
    if not names:
        raise LayerError("this model has no layer with a spatial (C, H, W) output, which the Grad-CAM family needs")
    if layer is None:
        return default_cam_layer(model, records)
    resolve_layer(model, layer)
    if layer not in names:
        raise LayerError(
            f"{layer!r} is not a layer with a spatial (C, H, W) output; choose one of: {list_choices(names, layer)} "
            "(the Grad-CAM family needs one)"
        )
    return layer


def default_cam_layer(model: nn.Module, records: Sequence[LayerRecord]) -> str:
    """The last convolutional block: for torchvision's ResNets ``layer4``, for SqueezeNet ``features``, for
    EfficientNet-Lite its last MBConv block; models without blocks get their last spatial layer."""
    return blocks(model, records)[-1].name
