"""The browser's side of a view, played in Python: every request and control change travels the comm path a real
front-end uses (custom messages, state updates, buffers or base64 markers as the view's wire mode says), so tests and
scripts drive a view the way a person does, without reaching into private methods.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from .widgets.base import ViewWidget
from .widgets.encoding import MESSAGE_BUFFERS, message_buffers, to_base64


class Frontend:
    """Sends what the front-end would send to ``widget``, and keeps what the view sends the page besides its state
    (``received``: each message's content and attachments, decoded from either wire mode).

    Parameters
    ----------
    widget : ViewWidget
        The view to drive.
    ack : bool
        Acknowledge every live frame as soon as it is sent, as a browser that keeps up does.
    """

    def __init__(self, widget: ViewWidget, *, ack: bool = False):
        self.widget = widget
        self.sent: List[Dict[str, Any]] = []
        self.received: List[Tuple[Any, List[bytes]]] = []
        comm = widget.comm
        if comm is not None:
            deliver = comm.send

            def receive(data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
                if isinstance(data, dict) and data.get("method") == "custom":
                    self.received.append(message_buffers(data.get("content"), buffers))
                deliver(data=data, metadata=metadata, buffers=buffers)

            comm.send = receive
        if ack:
            widget.observe(lambda change: self.ack(change.new), names="frame_seq")

    def send(self, kind: str, *, buffers: Iterable[bytes] = (), **fields: Any) -> None:
        """One request ``{"type": kind, **fields}`` with its attachments, as the view's codec sends it."""
        content: Dict[str, Any] = {"type": kind, **fields}
        attached = [bytes(b) for b in buffers]
        wire: List[memoryview] = []
        if attached and self.widget._wire == "base64":
            content[MESSAGE_BUFFERS] = to_base64(attached)
        else:
            wire = [memoryview(b) for b in attached]
        self.raw(content, wire)

    def raw(self, content: Any, buffers: Iterable[Any] = ()) -> None:
        """A message with exactly this content and these binary buffers (for malformed ones)."""
        self.sent.append(content)
        self.widget._handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": list(buffers)}
        )

    def set(self, **state: Any) -> None:
        """Change synced traits as the view's controls do (a value the trait refuses is logged, not raised)."""
        self.widget._handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})

    def run(self, what: Optional[str] = None) -> None:
        """Press Run (Start), or a saliency analysis' button: ``what="sanity"`` or ``"faithfulness"``."""
        if what:
            self.send("run", what=what)
        else:
            self.send("run")

    def stop(self) -> None:
        """Press Stop."""
        self.send("stop")

    def resume(self) -> None:
        """Press Resume."""
        self.send("resume")

    def reset(self) -> None:
        """Press Reset."""
        self.send("reset")

    def select(self, y: int, x: int) -> None:
        """Click the map at pixel ``(y, x)`` of the model's input picture."""
        self.send("select", y=y, x=x)

    def sample(self, name: str) -> None:
        """Choose a bundled sample photo in the image picker."""
        self.send("sample", name=name)

    def upload(self, name: str, data: bytes) -> None:
        """Upload a file through the image picker."""
        self.send("upload", buffers=[data], name=name)

    def checkpoint(self) -> None:
        """Press Download checkpoint (the view answers with the file in a message: see ``received``)."""
        self.send("checkpoint")

    def ack(self, seq: int) -> None:
        """Report live frame ``seq`` as drawn."""
        self.send("ack", seq=seq)

    def dismiss(self) -> None:
        """Close the error banner."""
        self.set(error="")
