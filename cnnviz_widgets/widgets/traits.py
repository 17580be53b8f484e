"""Traits whose values serialise themselves for the browser, so a view sets plain Python values: arrays (and
tensors) travel as ``{dtype, shape, buffer}``, heat-maps add the quantity their colour bar names, pictures travel as
PNG or JPEG bytes. Python code reads back what it set (an array, a :class:`Heatmap`, a PIL image)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
import traitlets
from PIL import Image

from .encoding import decode_array, encode_array, jpeg_bytes, png_bytes


def as_array(value: Any, dtype: str) -> np.ndarray:
    """``value`` (an array, a tensor or a list) as a read-only contiguous array of ``dtype``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.array(value, dtype=dtype, order="C")  # a copy: later changes by the caller do not leak in
    array.setflags(write=False)
    return array


class Array(traitlets.TraitType):
    """A numpy array (tensors and lists are converted; ``None`` when unset), sent as ``{dtype, shape, buffer}``."""

    info_text = "an array, a tensor or None"

    def __init__(self, dtype: str = "float32", **kwargs: Any):
        super().__init__(default_value=None, allow_none=True, **kwargs)
        self.dtype = dtype
        self.tag(sync=True, to_json=self.to_json, from_json=self.from_json)

    def validate(self, obj: Any, value: Any) -> Optional[np.ndarray]:
        return None if value is None else as_array(value, self.dtype)

    def to_json(self, value: Optional[np.ndarray], _widget: Any) -> Dict[str, Any]:
        return {} if value is None else encode_array(value, self.dtype)

    def from_json(self, wire: Dict[str, Any], _widget: Any) -> Optional[np.ndarray]:
        return decode_array(wire) if wire else None


@dataclass(frozen=True, eq=False)
class Heatmap:
    """A map ``(H, W)`` (or a stack of them), what it measures (the caption of its colour bar) and, for a map made
    of sliding windows, their ``(window, stride)`` in pixels (the hover names the window under the mouse); equal
    when all are (so setting an equal map sends nothing)."""

    values: np.ndarray
    quantity: str
    grid: Optional[Tuple[int, int]] = None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Heatmap)
            and (self.quantity, self.grid) == (other.quantity, other.grid)
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking value: not a dict key


class HeatmapTrait(traitlets.TraitType):
    """A :class:`Heatmap` (``None`` when unset), sent as ``{dtype, shape, buffer, quantity}``."""

    info_text = "a Heatmap(values, quantity) or None"

    def __init__(self, **kwargs: Any):
        super().__init__(default_value=None, allow_none=True, **kwargs)
        self.tag(sync=True, to_json=heatmap_json)

    def validate(self, obj: Any, value: Any) -> Optional[Heatmap]:
        if value is None:
            return None
        if not isinstance(value, Heatmap):
            self.error(obj, value)
        return Heatmap(as_array(value.values, "float32"), value.quantity, value.grid)


def heatmap_json(value: Optional[Heatmap], _widget: Any = None) -> Dict[str, Any]:
    """The wire form of a heat-map: ``{}`` for none."""
    if value is None:
        return {}
    grid = {} if value.grid is None else {"grid": {"window": value.grid[0], "stride": value.grid[1]}}
    return {**encode_array(value.values), "quantity": value.quantity, **grid}


class HeatmapDict(traitlets.Dict):
    """``{name: Heatmap}`` (the compare grid), each sent as :func:`heatmap_json`."""

    def __init__(self, **kwargs: Any):
        super().__init__(value_trait=HeatmapTrait(), **kwargs)
        self.tag(sync=True, to_json=lambda value, _w: {k: heatmap_json(v) for k, v in value.items()})


class Picture(traitlets.TraitType):
    """A PIL image (``None`` when unset), sent as PNG (lossless) or JPEG (small, for live frames) bytes."""

    info_text = "a PIL image or None"

    def __init__(self, format: str = "png", **kwargs: Any):
        super().__init__(default_value=None, allow_none=True, **kwargs)
        self.encode = {"png": png_bytes, "jpeg": jpeg_bytes}[format]
        self.tag(sync=True, to_json=self.to_json)

    def validate(self, obj: Any, value: Any) -> Optional[Image.Image]:
        if value is not None and not isinstance(value, Image.Image):
            self.error(obj, value)
        return value

    def to_json(self, value: Optional[Image.Image], _widget: Any) -> bytes:
        return b"" if value is None else self.encode(value)


class Checked(traitlets.TraitType):
    """A synced trait whose values the view checks with its method named ``check`` (raising with the valid choices)
    whenever it is set, also inside ``hold_trait_notifications`` (where ``@traitlets.validate`` would check too late
    for ipywidgets' ``set_state`` to keep the old value): from Python the error raises, from the page it goes to the
    banner and the control shows the value in use again."""

    def __init__(self, default_value: Any, check: str, **kwargs: Any):
        super().__init__(default_value=default_value, **kwargs)
        self.check = check
        self.tag(sync=True)

    def validate(self, obj: Any, value: Any) -> Any:
        return getattr(obj, self.check)(value)
