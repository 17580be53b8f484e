"""How pictures and arrays travel to the browser: PNG/JPEG bytes and ``{dtype, shape, buffer}`` binary buffers."""
from __future__ import annotations

import io
from typing import Any, Dict

import numpy as np
import torch
from PIL import Image

DTYPES = ("uint8", "float32")


def png_bytes(img: Image.Image) -> bytes:
    """Lossless PNG of ``img`` (fast settings: these are small, model-sized pictures)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, quality: int = 85) -> bytes:
    """Lossy JPEG of ``img``: a few times smaller than PNG, for live frames that the next one replaces."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_array(arr: Any, dtype: str = "float32") -> Dict[str, Any]:
    """``{dtype, shape, buffer}`` for a numpy array or tensor; ipywidgets sends ``buffer`` as a binary frame."""
    if dtype not in DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    if isinstance(arr, torch.Tensor):
        arr = arr.detach().cpu().numpy()
    data = np.ascontiguousarray(arr, dtype=dtype)
    return {"dtype": dtype, "shape": list(data.shape), "buffer": data.tobytes()}


def decode_array(wire: Dict[str, Any]) -> np.ndarray:
    """The numpy array of an :func:`encode_array` value (empty for ``{}``, an unset trait)."""
    if not wire:
        return np.zeros(0, dtype=np.float32)
    return np.frombuffer(wire["buffer"], dtype=wire["dtype"]).reshape(wire["shape"])
