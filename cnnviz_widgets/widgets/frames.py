"""Live pictures for views that stream an optimisation: a batch as one picture, paced by the view's acks.

The view acknowledges each frame once it has drawn it (``{"type": "ack", "seq": n}``); the pacer lets a new frame go
only while few enough frames are unacknowledged, so a slow browser never builds up a backlog, and frames that are not
due are skipped, never queued: the next one sent is the newest.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from PIL import Image


class FramePacer:
    """Back-pressure for a stream of frames: at most ``in_flight`` unacknowledged frames on their way.

    A frame is due when fewer than ``in_flight`` frames are unacknowledged and ``interval`` has passed since the last
    one was sent, or when ``patience`` has passed since then whatever the acknowledgements, so a closed or absent view
    never stalls the stream (after the first ``in_flight`` frames it gets one per ``patience``). An acknowledgement
    of frame ``n`` counts for every frame up to ``n`` (a view draws only the newest picture it has). Frame numbers
    keep growing across runs, so a late acknowledgement of an old frame never counts for a new one.

    With two frames in flight the round trip (encode, send, decode, draw, ack) overlaps the next frame's interval
    instead of adding to it, so the rate is ``1 / interval`` as long as a round trip takes less than two intervals.

    Parameters
    ----------
    interval : float
        Least time between two frames, in seconds.
    patience : float
        How long after a frame to send the next one anyway, unacknowledged, in seconds.
    in_flight : int
        How many frames may be unacknowledged when the next one is due (at least 1).
    clock : callable
        Seconds on a monotonic clock (tests substitute their own).
    """

    def __init__(
        self,
        interval: float,
        patience: float,
        *,
        in_flight: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ):
        if in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, got {in_flight}")
        self.interval, self.patience, self.in_flight, self.clock = interval, patience, in_flight, clock
        self.seq = 0
        self.acked = 0
        self.sent_at = -math.inf

    def due(self) -> bool:
        """Whether a frame may be sent now."""
        waited = self.clock() - self.sent_at
        return waited >= self.patience or (self.seq - self.acked < self.in_flight and waited >= self.interval)

    def sent(self) -> int:
        """Record that a frame is being sent now; its number (what the view acknowledges)."""
        self.seq += 1
        self.sent_at = self.clock()
        return self.seq

    def ack(self, seq: int) -> None:
        """The view has drawn frame ``seq`` (numbers never sent are ignored)."""
        if seq <= self.seq:
            self.acked = max(self.acked, seq)


def image_strip(images: torch.Tensor) -> Image.Image:
    """A batch ``(B, 3, H, W)`` with values in [0, 1] as one RGB picture, the images side by side ``(H, B * W)``;
    a grey batch ``(B, 1, H, W)`` becomes grey RGB (R = G = B)."""
    b, _, height, width = images.shape
    pixels = (images.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).expand(b, 3, height, width)
    return Image.fromarray(pixels.permute(2, 0, 3, 1).reshape(height, b * width, 3).numpy())
