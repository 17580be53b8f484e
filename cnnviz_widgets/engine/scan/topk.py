"""The items of a dataset that excite each channel of a layer most: a bounded top-k, never all activations.

Zeiler & Fergus's "top patches" of a unit are the images whose map for that unit peaks highest, each shown
around its peak. A scan keeps, per channel, only the k best (value, item, position) so far: each batch's maps are
reduced to one peak per item and channel (its largest value and where it is), then merged with the kept ones.

The order is total, so the result does not depend on how the items were split or in which order the parts were
merged: higher value first, and between equal values the smaller dataset index (a peak's position is the first
largest one in row-major order). ``merge`` is therefore associative and commutative, and a scan split into shards
gives exactly the top-k of the whole scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch

_LAST = torch.iinfo(torch.int64).max
"""Sort key of an empty slot's index: after every real item."""


Peaks = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""Per item and channel ``(n, C)``: the largest value of its map, and the row and column where it is."""


def peaks(maps: torch.Tensor) -> Peaks:
    """Per item and channel of ``maps`` ``(n, C, H, W)``: the largest value and its row and column, each ``(n, C)``
    on the CPU (values float32, NaN counted as -inf; the first largest position in row-major order)."""
    flat = maps.detach().flatten(2)
    values, where = flat.max(2)
    values = values.float().nan_to_num(nan=float("-inf")).cpu()
    where = where.cpu()
    width = maps.shape[-1]
    return values, where // width, where % width


@dataclass(frozen=True)
class TopK:
    """Per channel, the ``k`` items whose map peaks highest: ``values`` ``(C, k)`` descending (-inf in empty
    slots), the items' dataset ``index`` (-1 when empty) and the peak's position ``y``, ``x`` in the layer's map
    (-1 when empty)."""

    values: torch.Tensor
    index: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor

    @property
    def k(self) -> int:
        """Slots per channel."""
        return int(self.values.shape[1])

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.values.shape[0])

    @classmethod
    def empty(cls, channels: int, k: int) -> "TopK":
        """No item seen yet: ``channels`` rows of ``k`` empty slots."""
        none = torch.full((channels, k), -1, dtype=torch.int64)
        return cls(torch.full((channels, k), float("-inf")), none, none.clone(), none.clone())

    def add(self, maps: torch.Tensor, indices: torch.Tensor) -> "TopK":
        """The top-k after also seeing ``maps`` ``(n, C, H, W)`` of the items ``indices`` ``(n,)``."""
        values, y, x = peaks(maps)
        return self.add_peaks(values, y, x, indices)

    def add_peaks(self, values: torch.Tensor, y: torch.Tensor, x: torch.Tensor, indices: torch.Tensor) -> "TopK":
        """The top-k after also seeing the items ``indices`` ``(n,)`` whose peaks are ``values``, ``y``, ``x``
        ``(n, C)`` (what :func:`peaks` returns)."""
        if values.shape[1] != self.channels:
            raise ValueError(f"maps have {values.shape[1]} channels, this top-k {self.channels}")
        index = indices.to(torch.int64).cpu()[None].expand(self.channels, -1)
        return self._keep(values.t(), index, y.t(), x.t())

    def merge(self, other: "TopK") -> "TopK":
        """The top-k of the items both have seen (associative and commutative: see the module's docstring)."""
        if other.values.shape != self.values.shape:
            raise ValueError(f"cannot merge top-k of shape {tuple(other.values.shape)} into {tuple(self.values.shape)}")
        return self._keep(other.values, other.index, other.y, other.x)

    def _keep(self, values: torch.Tensor, index: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> "TopK":
        """The best ``k`` per row of these columns and the kept ones, in the module's total order."""
        columns = [torch.cat([mine, new], 1) for mine, new in ((self.values, values), (self.index, index))]
        columns += [torch.cat([self.y, y], 1), torch.cat([self.x, x], 1)]
        by_index = torch.where(columns[1] < 0, _LAST, columns[1]).argsort(dim=1, stable=True)
        columns = [c.gather(1, by_index) for c in columns]
        best = columns[0].argsort(dim=1, descending=True, stable=True)[:, : self.k]
        return TopK(*(c.gather(1, best) for c in columns))
