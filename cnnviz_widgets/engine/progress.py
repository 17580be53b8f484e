"""The one protocol of the engine's long calls: a generator of :class:`Update`\\ s.

A long call (integrated gradients, an occlusion sweep, gradient ascent...) yields an update after every chunk
of work: the share done and, where it has one, a partial result. The last update of a run has ``fraction``
1.0 and the final result. To stop, the caller stops iterating (or closes the generator): the call holds no
lock, hook or mode of the model between updates, so nothing is left behind, and a widget can report progress
and check for Stop between any two updates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Iterable, Optional, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Update(Generic[T]):
    """Progress of a long call: the share of its work done (0..1) and its result so far, if it has one."""

    fraction: float
    result: Optional[T] = None


def last(updates: Iterable[Update[T]]) -> T:
    """Run a long call to the end and return its final result (the plain function of every ``*_steps`` one).

    Parameters
    ----------
    updates : iterable of Update
        The call's generator.
    """
    result: Optional[T] = None
    for update in updates:
        result = update.result
    if result is None:
        raise RuntimeError("the call ended without a final result")
    return result
