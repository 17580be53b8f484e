"""What the engine tells the user beyond its results: the one base of every error it raises on purpose (so a
view can tell its own complete messages, shown as they are, from a failure inside torch or the user's model,
shown with its type), and notes about a result that is not what the name of the method promises."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, List, Optional


class CnnvizError(Exception):
    """Base of cnnviz_widgets' errors; each also derives from the built-in it refines (mostly ``ValueError``),
    so ``except ValueError`` keeps working."""


class ArgumentTypeError(CnnvizError, TypeError):
    """An argument of the wrong type; the message names what is accepted."""


class CnnvizWarning(UserWarning):
    """A result that differs from what its method's name promises (e.g. guided backprop without rectifiers)."""


_NOTES: ContextVar[Optional[List[str]]] = ContextVar("cnnviz_notes", default=None)


def note(message: str) -> None:
    """Warn with ``message`` and hand it to the innermost :func:`collecting` block of this thread or task, so a
    view can show it beside the result (``warnings.catch_warnings`` is process-wide, not per thread)."""
    collected = _NOTES.get()
    if collected is not None:
        collected.append(message)
    warnings.warn(message, CnnvizWarning, stacklevel=3)


@contextmanager
def collecting() -> Iterator[List[str]]:
    """The notes the block's engine calls make, in order."""
    notes: List[str] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


class SettingError(CnnvizError, ValueError):
    """A setting outside its option's valid values (see :mod:`.schema`); the message names the option and them."""


class LayerError(CnnvizError, ValueError):
    """A layer name or unit that does not exist in the model; the message lists valid choices."""


class ImageError(CnnvizError, ValueError):
    """An input that cannot be read as an image; the message says what is accepted."""


class ModelError(CnnvizError, ValueError):
    """A model that cannot be loaded; the message says what to do instead."""


class AttributionError(CnnvizError, ValueError):
    """The input, target or model cannot be attributed; the message says what was expected."""


class OcclusionError(CnnvizError, ValueError):
    """Bad window, stride, baseline or input for occlusion; the message names the valid choices."""


class FeatureVisError(CnnvizError, ValueError):
    """A feature-visualisation request that cannot run; the message names the valid choices."""


class ViewError(CnnvizError, ValueError):
    """A view's setting or request that cannot be honoured; the message names the valid choices."""


class SetupError(CnnvizError, RuntimeError):
    """The installation lacks a part (the front-end bundle); the message says how to add it."""


class ScanError(CnnvizError, ValueError):
    """A dataset scan that cannot run as asked; the message says what is accepted."""
