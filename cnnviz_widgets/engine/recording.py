"""Every layer's activation maps for one image, from one forward pass, so that switching layers costs nothing.

The layer explorer shows all channels of one layer at a time and lets a person flip through the layers: one
forward pass records each chosen layer's output (a bfloat16 copy on the CPU: the float32 range with three significant
digits, plenty for a picture, in half the memory, which also makes the pass cheaper), keeping as
many layers as ``budget`` bytes allow. When a layer does not fit, the least recently used ones are evicted; asking
for an evicted layer runs one more forward pass that records just that layer. Per-channel statistics (mean, max,
fraction active) are computed when first asked for, or when a layer is evicted, and kept for every layer, so a grid
can always be sorted (computing them for every layer during the pass would triple its time).
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Sequence

import torch
from torch import nn

from .checks import check_int
from .errors import LayerError
from .names import resolve_layer
from .replica import ModelLike, private

RECORD_BUDGET_BYTES = 256 * 2**20
"""Default bytes the recorded maps of one image may take (bfloat16 on the CPU)."""
STORED = torch.bfloat16
"""How the maps are held."""


@dataclass(frozen=True)
class ChannelStats:
    """Per channel of a layer ``(C,)``: the mean activation, the largest one, and the share of positions above 0."""

    mean: torch.Tensor
    max: torch.Tensor
    active: torch.Tensor


def channel_stats(maps: torch.Tensor) -> ChannelStats:
    """The statistics of ``maps`` ``(C, H, W)``."""
    flat = maps.float().flatten(1)
    return ChannelStats(flat.mean(1), flat.max(1).values, (flat > 0).float().mean(1))


def _size(maps: torch.Tensor) -> int:
    return maps.numel() * maps.element_size()


@contextmanager
def _recorder(model: nn.Module, layers: Sequence[str], keep: Callable[[str, torch.Tensor], None]) -> Iterator[None]:
    """While the block runs, hand each of ``layers``' (C, H, W) outputs for image 0 to ``keep`` as it is made; the
    hooks go in ``finally``. A copy, because a later in-place operation (``ReLU(inplace=True)``) would change it."""
    handles = []

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                keep(name, output[0].detach().to("cpu", STORED, copy=True))

        return hook

    try:
        for name in layers:
            handles.append(resolve_layer(model, name).register_forward_hook(hook_for(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


class Recording:
    """The activation maps of ``layers`` for one image (see the module's docstring): :meth:`maps` and :meth:`stats`
    by layer name. Made by :func:`record_layers`."""

    def __init__(self, model: ModelLike, x: torch.Tensor, layers: Sequence[str], budget: int):
        self.model, self.x, self.budget = model, x, budget
        self._maps: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        self._stats: Dict[str, ChannelStats] = {}
        self._seen: Dict[str, None] = {}  # the layers recorded, in order
        self.passes = 0
        self.nbytes = 0
        """Bytes the maps held now take."""
        self.peak = 0
        """Most bytes the held maps took at any moment, including during a forward pass."""
        self._run(layers)
        self.layers = tuple(self._seen)
        """The layers recorded: those asked for that have a (C, H, W) output."""

    @property
    def held(self) -> List[str]:
        """The layers whose maps are held now, least recently used first."""
        return list(self._maps)

    def maps(self, layer: str) -> torch.Tensor:
        """``layer``'s maps ``(C, H, W)`` as float32 on the CPU: held, or recorded again with one forward pass."""
        self._known(layer)
        if layer not in self._maps:
            self._run([layer])  # evicted: its maps come back with one more forward pass
        self._maps.move_to_end(layer)
        return self._maps[layer].float()

    def stats(self, layer: str) -> ChannelStats:
        """``layer``'s per-channel statistics (kept for every layer, held or evicted)."""
        self._known(layer)
        if layer not in self._stats:
            self._stats[layer] = channel_stats(self._maps[layer])  # not yet evicted, so held
        return self._stats[layer]

    def _known(self, layer: str) -> None:
        if layer not in self._seen:
            raise LayerError(
                f"{layer!r} has no recorded (C, H, W) maps; the recorded layers are: {', '.join(self.layers)}"
            )

    def _run(self, layers: Sequence[str]) -> None:
        """One forward pass recording ``layers``, each kept as it is made (evicting beyond the budget at once)."""
        with private(self.model) as twin, torch.no_grad(), _recorder(twin, layers, self._keep):
            twin(self.x)
        self.passes += 1

    def _keep(self, name: str, maps: torch.Tensor) -> None:
        """Hold ``maps`` as the most recently used; evict the least recently used beyond the budget (keeping their
        statistics)."""
        self._seen[name] = None
        old = self._maps.pop(name, None)
        self.nbytes += _size(maps) - (0 if old is None else _size(old))
        self._maps[name] = maps
        self.peak = max(self.peak, self.nbytes)
        while self.nbytes > self.budget and len(self._maps) > 1:
            evicted, gone = self._maps.popitem(last=False)
            if evicted not in self._stats:
                self._stats[evicted] = channel_stats(gone)
            self.nbytes -= _size(gone)


def record_layers(
    model: ModelLike, x: torch.Tensor, layers: Sequence[str], budget: int = RECORD_BUDGET_BYTES
) -> Recording:
    """Record the activation maps of ``layers`` for the image ``x`` in one forward pass (never modifying ``model``).

    Parameters
    ----------
    model : nn.Module or Net
        The network.
    x : torch.Tensor
        One normalised image ``(1, C, H, W)`` on the model's device.
    layers : sequence of str
        Dotted layer names, in the order a person flips through them; layers without a (C, H, W) output are
        left out (their :meth:`Recording.maps` names the recorded ones).
    budget : int
        Most bytes the held maps take; beyond it the least recently used are evicted (and recomputed when asked
        for). One layer is always held, even if it alone is bigger.
    """
    budget = check_int("budget", budget, 0, None, error=LayerError)
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        raise LayerError(f"x must be one normalised image (1, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    return Recording(model, x, list(layers), budget)
