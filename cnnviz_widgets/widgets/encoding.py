"""How pictures and arrays travel to the browser: PNG/JPEG bytes and ``{dtype, shape, buffer}`` arrays, sent as
binary buffers or, where the widget manager drops buffers (Colab), as base64 text in the JSON state.

Trait values always hold bytes; :func:`to_base64` rewrites only the state on its way out, so the Python API is the
same in both wire modes. The front-end's ``js/src/codec.ts`` reads both forms and sends uploads the same way.
"""

from __future__ import annotations

import base64
import io
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image

DTYPES = ("uint8", "float32")
WIRE_MODES = ("buffers", "base64")
WIRE_ENV = "CNNVIZ_WIRE"
"""Environment variable that forces a wire mode (``buffers`` or ``base64``) instead of detecting Colab."""
MARKER = "$b64"
"""Key of the ``{"$b64": "<base64>"}`` object that stands for one binary value in base64 mode."""
MESSAGE_BUFFERS = "$buffers"
"""Key of a front-end message's content that carries its attachments as markers in base64 mode."""
_BINARY = (bytes, bytearray, memoryview)


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


def wire_mode(environ: Mapping[str, str] = os.environ, modules: Mapping[str, Any] = sys.modules) -> str:
    """How binary values travel between kernel and browser: ``"base64"`` in Colab, whose custom widget manager does
    not deliver binary buffers reliably, ``"buffers"`` elsewhere, unless ``CNNVIZ_WIRE`` says otherwise.

    Parameters
    ----------
    environ : mapping
        Environment to read ``CNNVIZ_WIRE`` from (empty or unset: detect).
    modules : mapping
        Imported modules; ``google.colab`` among them means the kernel runs in Colab.

    Returns
    -------
    str
        ``"buffers"`` or ``"base64"``.

    Raises
    ------
    ValueError
        If ``CNNVIZ_WIRE`` is set to anything else.
    """
    forced = environ.get(WIRE_ENV, "")
    if forced:
        if forced not in WIRE_MODES:
            raise ValueError(f"{WIRE_ENV}={forced!r} is not a wire mode; choose one of: {', '.join(WIRE_MODES)}")
        return forced
    return "base64" if "google.colab" in modules else "buffers"


def to_base64(value: Any) -> Any:
    """``value`` with every bytes-like object in it, at any depth of dicts, lists and tuples, replaced by a
    ``{"$b64": "<base64>"}`` marker, so that it is plain JSON; ``value`` itself is left as it is.

    Parameters
    ----------
    value : any
        A widget state or part of one.

    Returns
    -------
    any
        A copy of the containers with markers in place of binary values (tuples become lists, as in JSON).
    """
    if isinstance(value, _BINARY):
        return {MARKER: base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {key: to_base64(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_base64(item) for item in value]
    return value


def from_base64(value: Any) -> Any:
    """The inverse of :func:`to_base64`: every ``{"$b64": "<base64>"}`` marker in ``value`` back to bytes.

    Parameters
    ----------
    value : any
        JSON-like data, e.g. a message from the front-end.

    Returns
    -------
    any
        A copy of the containers with bytes in place of markers.

    Raises
    ------
    ValueError
        If a marker's text is not valid base64.
    """
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get(MARKER), str):
            return base64.b64decode(value[MARKER], validate=True)
        return {key: from_base64(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_base64(item) for item in value]
    return value


def message_buffers(content: Any, buffers: Optional[Sequence[Any]]) -> Tuple[Any, List[bytes]]:
    """A front-end message's content and its attachments as bytes, however they travelled: as binary buffers, or as
    markers in the content's ``"$buffers"`` list (base64 mode), which is taken out of the content.

    Parameters
    ----------
    content : any
        The message's JSON content.
    buffers : sequence of bytes-like, optional
        The message's binary buffers.

    Returns
    -------
    content : any
        The content without ``"$buffers"``.
    buffers : list of bytes
        The binary buffers, then the decoded markers.

    Raises
    ------
    ValueError
        If ``"$buffers"`` is not a list of valid markers.
    """
    attached = [bytes(b) for b in buffers or ()]
    if not (isinstance(content, dict) and MESSAGE_BUFFERS in content):
        return content, attached
    content = dict(content)
    encoded = content.pop(MESSAGE_BUFFERS)
    decoded = from_base64(encoded) if isinstance(encoded, list) else None
    if decoded is None or not all(isinstance(b, bytes) for b in decoded):
        raise ValueError(f'a message\'s "{MESSAGE_BUFFERS}" must be a list of {{"{MARKER}": "<base64>"}} objects')
    return content, attached + decoded
