"""Live pictures for views that stream an optimisation: a batch as one picture, paced by the view's acks.

The view acknowledges each frame once it has drawn it (``{"type": "frame_ack", "seq": n}``); the pacer lets the
next frame go only then, so a slow browser never builds up a backlog, and frames that are not due are skipped,
never queued: the next one sent is the newest.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from PIL import Image


class FramePacer:
    """Back-pressure for a stream of frames: at most one unacknowledged frame in flight.

    A frame is due when the view has acknowledged the last one and ``interval`` has passed since it was sent,
    or when ``patience`` has passed without an acknowledgement, so a closed or absent view never stalls the
    stream (it gets one frame per ``patience``). Frame numbers keep growing across runs, so a late
    acknowledgement of an old frame never counts for a new one.

    Parameters
    ----------
    interval : float
        Least time between two frames, in seconds.
    patience : float
        How long to wait for an acknowledgement before sending anyway, in seconds.
    clock : callable
        Seconds on a monotonic clock (tests substitute their own).
    """

    def __init__(self, interval: float, patience: float, clock: Callable[[], float] = time.monotonic):
        self.interval, self.patience, self.clock = interval, patience, clock
        self.seq = 0
        self.acked = 0
        self.sent_at = -math.inf

    def due(self) -> bool:
        """Whether a frame may be sent now."""
        waited = self.clock() - self.sent_at
        return waited >= self.patience or (self.acked >= self.seq and waited >= self.interval)

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
