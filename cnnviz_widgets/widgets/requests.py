"""What the front-end asks of a view: one vocabulary of requests, each handled by the method marked ``@on(type)``.

The front-end sends ``{"type": ..., **fields}`` (``js/src/core/requests.ts`` holds the same union); a view's
handlers are collected from its class and its bases when the class is made, so a subclass adds or overrides a
handler with one decorated method and no ``if/elif`` chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, TypeVar

from ..engine.errors import ViewError

REQUESTS = ("run", "stop", "resume", "reset", "select", "sample", "upload", "ack", "checkpoint")
"""Every request type: Run/Start (``what`` names a saliency analysis), Stop, Resume, Reset, a click on the map at
pixel ``(y, x)``, a bundled sample photo by ``name``, an uploaded file (``name`` and one buffer), a live frame
acknowledged by its ``seq``, and Download checkpoint (answered with the file in a message)."""
HANDLES = "_cnnviz_request"

F = TypeVar("F", bound=Callable[..., Any])


def on(kind: str) -> Callable[[F], F]:
    """Mark a view method as the handler of requests of type ``kind``, one of :data:`REQUESTS`."""
    if kind not in REQUESTS:
        raise ValueError(f"unknown request type {kind!r}; choose one of: {', '.join(REQUESTS)}")

    def mark(method: F) -> F:
        setattr(method, HANDLES, kind)
        return method

    return mark


def handlers(cls: type) -> Dict[str, Callable[..., Any]]:
    """The request handlers of ``cls`` by type, a subclass' overriding its bases'."""
    found: Dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for attr in vars(klass).values():
            kind = getattr(attr, HANDLES, None)
            if kind is not None:
                found[kind] = attr
    return found


@dataclass(frozen=True)
class Request:
    """One request from the front-end: its type, its fields and its binary attachments (uploads)."""

    type: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    buffers: List[bytes] = field(default_factory=list)

    def whole(self, name: str) -> int:
        """Field ``name`` as a whole number; a :class:`ViewError` saying what the request lacks otherwise."""
        value = self.fields.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ViewError(f"a {self.type!r} request needs a whole number {name!r}, got {value!r}")
        return value

    def text(self, name: str, default: str = "") -> str:
        """Field ``name`` as text (``default`` when absent)."""
        value = self.fields.get(name, default)
        if not isinstance(value, str):
            raise ViewError(f"a {self.type!r} request needs text in {name!r}, got {value!r}")
        return value
