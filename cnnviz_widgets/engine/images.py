"""Turning whatever the user holds (PIL image, array, tensor, path, bytes) into one checked RGB image."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image

from .errors import ImageError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLES = {"cat": "cat.png", "coffee": "coffee.png"}
MIN_SIDE = 16
MAX_PIXELS = 100_000_000  # decompression-bomb guard: a 100-megapixel image is ~300 MB as RGB
LUMA = (0.299, 0.587, 0.114)
"""ITU-R 601-2 luma weights of R, G and B: how a colour picture becomes grey (PIL's ``"L"`` mode)."""

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor, str, Path, bytes]


ACCEPTED = (
    "a PIL image, a path or bytes of an image file, an (H, W), (H, W, 1|3|4) or (3, H, W) array of uint8, "
    "uint16 or floats in [0, 1], or a (3, H, W) / (1, 3, H, W) float tensor in [0, 1]"
)


def sample_image(name: str = "cat") -> Image.Image:
    """A bundled sample photo as an RGB PIL image.

    Parameters
    ----------
    name : str
        ``"cat"`` (scikit-image's Chelsea) or ``"coffee"``.
    """
    if name not in SAMPLES:
        raise ImageError(f"unknown sample {name!r}; choose one of: {', '.join(SAMPLES)}")
    return load_image(DATA_DIR / SAMPLES[name])


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels first -> channels last
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ImageError(f"cannot read an array of shape {arr.shape} as an image; expected {ACCEPTED}")
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageError("the image contains NaN or infinite values")
        if arr.min() < 0 or arr.max() > 1:
            raise ImageError(
                f"float images must lie in [0, 1], got values in [{arr.min():.3g}, {arr.max():.3g}]; "
                "divide 0-255 data by 255, or pass uint8"
            )
        arr = (arr * 255.0).round().astype(np.uint8)
    else:
        raise ImageError(f"unsupported pixel type {arr.dtype}; expected {ACCEPTED}")
    return Image.fromarray(np.ascontiguousarray(arr))


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB with alpha composited on white and 16-bit/float modes scaled, not clipped."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray((arr.clip(0, top) / top * 255).round().astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def load_image(obj: ImageLike) -> Image.Image:
    """Read ``obj`` as an RGB PIL image, or raise :class:`ImageError` saying what is accepted.

    Parameters
    ----------
    obj : PIL.Image, numpy.ndarray, torch.Tensor, str, Path or bytes
        Grayscale, RGBA, palette and 16-bit inputs are converted; images smaller than 16 pixels on a side or
        larger than 100 megapixels are refused.
    """
    if isinstance(obj, (str, Path, bytes)):
        source = io.BytesIO(obj) if isinstance(obj, bytes) else obj
        if not isinstance(obj, bytes) and not Path(obj).is_file():
            raise ImageError(f"no image file at {str(obj)!r}; pass a path to an existing file or {ACCEPTED}")
        try:
            with Image.open(source) as opened:
                _check_size(opened.size)
                opened.load()
                img = opened.copy()
        except Image.DecompressionBombError as exc:
            raise ImageError(f"image refused as too large: {exc}") from None
        except (OSError, SyntaxError) as exc:
            raise ImageError(f"could not read an image from this {type(obj).__name__} ({exc})") from None
    elif isinstance(obj, Image.Image):
        img = obj
    elif isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ImageError(f"got a batch of {t.shape[0]} images; pass one image (1, 3, H, W) or (3, H, W)")
            t = t[0]
        img = _from_array(t.float().numpy() if t.is_floating_point() else t.numpy())
    elif isinstance(obj, np.ndarray):
        img = _from_array(obj)
    else:
        raise ImageError(f"cannot read a {type(obj).__name__} as an image; expected {ACCEPTED}")
    _check_size(img.size)
    return _to_rgb(img)


def _check_size(size) -> None:
    w, h = size
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"image is {w}x{h} pixels; the smallest accepted side is {MIN_SIDE} pixels")
    if w * h > MAX_PIXELS:
        raise ImageError(f"image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS // 1_000_000}")


def pixels(img: Image.Image, channels: int = 3) -> torch.Tensor:
    """``img`` as a ``(channels, H, W)`` float32 tensor in [0, 1]: RGB for 3 channels, grey for 1.

    Parameters
    ----------
    img : PIL.Image
        Any mode; it is converted to ``"RGB"``, or to ``"L"`` (ITU-R 601-2 luma, :data:`LUMA`) for one channel.
    channels : int
        1 or 3.
    """
    if channels not in (1, 3):
        raise ImageError(f"pictures have 1 (grey) or 3 (RGB) channels, got {channels!r}")
    arr = torch.from_numpy(np.array(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32))
    return (arr[None] if channels == 1 else arr.permute(2, 0, 1)) / 255.0
