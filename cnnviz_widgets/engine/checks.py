"""Checks of single argument values, with messages that name the argument and its valid values.

Every engine entry point and the settings schema (:mod:`.schema`) check numbers, flags and names with these, so
a value is refused the same way, in the same words, wherever it is given; ``error`` is the error class of the
caller's domain (an attribution option raises :class:`~.errors.AttributionError`, and so on).
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence, Type

import numpy as np

from .errors import CnnvizError, SettingError


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (numpy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)


def span(low: Optional[float], high: Optional[float], whole: bool) -> str:
    """The range ``low..high`` as a message says it after "a number": `` in 1..5``, `` >= 0``, `` <= 9`` or
    nothing."""

    def text(v: float) -> str:
        return str(int(v)) if whole else f"{v:g}"

    if low is not None and high is not None:
        return f" in {text(low)}..{text(high)}"
    if low is not None:
        return f" >= {text(low)}"
    return f" <= {text(high)}" if high is not None else ""


def check_int(
    name: str,
    value: Any,
    low: Optional[float] = None,
    high: Optional[float] = None,
    *,
    error: Type[CnnvizError] = SettingError,
) -> int:
    """``value`` as an ``int`` if it is a whole number within ``low..high`` (``3.0`` is one); else ``error``.

    Parameters
    ----------
    name : str
        The argument's name, as the message says it.
    value : object
        What was given.
    low, high : int or float, optional
        Inclusive bounds; ``None`` leaves that end open.
    error : type
        The error class raised, e.g. ``AttributionError``.
    """
    where = span(low, high, True)
    if not is_number(value) or float(value) != int(value):
        raise error(f"{name} must be a whole number{where}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise error(f"{name} must be a number{where}, got {value!r}")
    return int(value)


def check_float(
    name: str,
    value: Any,
    low: Optional[float] = None,
    high: Optional[float] = None,
    *,
    error: Type[CnnvizError] = SettingError,
) -> float:
    """``value`` as a ``float`` if it is a finite number within ``low..high``; else ``error``.

    Parameters are as for :func:`check_int`.
    """
    if not is_number(value) or (low is not None and value < low) or (high is not None and value > high):
        raise error(f"{name} must be a number{span(low, high, False)}, got {value!r}")
    return float(value)


def check_bool(name: str, value: Any, *, error: Type[CnnvizError] = SettingError) -> bool:
    """``value`` as a ``bool`` if it is ``True`` or ``False`` (numpy's too); else ``error``."""
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Sequence[Any], *, error: Type[CnnvizError] = SettingError) -> Any:
    """``value`` if it is one of ``choices``; else ``error`` listing them."""
    if value not in choices:
        raise error(f"{name} must be one of: {', '.join(map(str, choices))}; got {value!r}")
    return value
