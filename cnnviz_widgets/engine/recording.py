"""Every layer's activation maps for one image, from one forward pass, so that switching layers costs nothing.

The layer explorer shows all channels of one layer at a time and lets a person flip through the layers: one
forward pass records each chosen layer's output (a bfloat16 copy on the CPU: the float32 range with three significant
digits, plenty for a picture, in half the memory), keeping as many layers as ``budget`` bytes allow. A copy, because
a later in-place operation (``ReLU(inplace=True)``, ResNet's ``out += identity``) would change the output itself.

What the pass costs beyond the plain forward pass is mostly the memory the copies take: fresh pages, which the
system must hand over one by one, cost more than converting the numbers. So the pass copies each tensor state once:

- a layer that returns the very tensor object another layer returned, unchanged since (a block returning its last
  layer's output, ``Identity``, a container), shares that copy: a tensor state is the tensor object and its version
  counter, which every in-place operation bumps (also under ``no_grad``), so a tensor changed in place since
  (``out += identity``) is copied again (a view of a copied tensor is a new object, copied too);
- a rectifier (``ReLU``, ``ReLU6``, ``Hardtanh``) whose input was copied in this pass keeps no copy of its own: its
  maps are that copy clamped, computed when asked for (bfloat16 rounding keeps order, so clamping the copy gives
  the copy of the clamped values, exactly for bounds that bfloat16 holds, such as 0 and 6). This also spares the
  copies of a rectifier called several times per pass (ResNet's blocks call theirs three times; the last call's
  output is the one kept).

Holding the float32 outputs themselves instead, and converting them later or when first shown, was measured no
faster: the forward pass then cannot reuse their memory for the next layers, so it needs twice the fresh memory.

The budget counts each copy once, however many layers share it. When the held copies exceed it, the least recently
used layers are evicted (a copy is freed once no held layer uses it); asking for an evicted layer runs one more
forward pass that records just that layer. Per-channel statistics (mean, max, fraction active) are computed when
first asked for, or when a layer is evicted, and kept for every layer, so a grid can always be sorted (computing them
for every layer during the pass would triple its time).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

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
_CPU = torch.device("cpu")


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


Bounds = Tuple[Optional[float], Optional[float]]


class _Maps:
    """A layer's held maps: a bfloat16 copy ``(C, H, W)``, shared by every layer with the same output, and the
    bounds a rectifier clamped it to (``None``: not clamped)."""

    def __init__(self, copy: torch.Tensor, bounds: Bounds = (None, None)):
        self.copy, self.bounds = copy, bounds

    def float(self) -> torch.Tensor:
        maps = self.copy.float()
        return maps if self.bounds == (None, None) else maps.clamp_(*self.bounds)


def _bounds(module: nn.Module) -> Optional[Bounds]:
    """What ``module`` clamps its input to, if it is a rectifier (the exact classes: a subclass may compute
    something else) and no forward hook of the user's can change its output; else ``None``."""
    if module._forward_hooks or torch.nn.modules.module._global_forward_hooks:
        return None
    if type(module) is nn.ReLU:
        return (0.0, None)
    if type(module) in (nn.ReLU6, nn.Hardtanh):
        return (module.min_val, module.max_val)  # type: ignore[return-value]
    return None


class _Copies:
    """The copies made in one forward pass, by tensor state (see the module's docstring). Weak references only:
    an output or a copy that is gone is never reused (so an evicted copy is freed at once, and a new tensor at a
    freed tensor's address is not mistaken for it)."""

    def __init__(self) -> None:
        self._made: Dict[Tuple[int, int], Tuple[weakref.ref, weakref.ref]] = {}

    def find(self, output: torch.Tensor) -> Optional[_Maps]:
        """The maps already made for ``output`` in its current state, if any (never for inference tensors, which
        have no version counter)."""
        if output.is_inference():
            return None
        made = self._made.get((id(output), output._version))
        return made[1]() if made is not None and made[0]() is output else None

    def add(self, output: torch.Tensor, maps: _Maps) -> None:
        if not output.is_inference():
            self._made[(id(output), output._version)] = (weakref.ref(output), weakref.ref(maps))


@contextmanager
def _recorder(model: nn.Module, layers: Sequence[str], keep: Callable[[str, _Maps], None]) -> Iterator[None]:
    """While the block runs, hand each of ``layers``' (C, H, W) outputs for image 0 to ``keep`` as it is made, each
    tensor state copied once and a rectifier's maps its copied input clamped; the hooks go in ``finally``."""
    copies = _Copies()
    handles = []

    def hook_for(name: str, bounds: Optional[Bounds]):
        given: List[Optional[_Maps]] = [None]  # a rectifier's input maps, noted before it changes them in place

        def before(_module: nn.Module, inputs: Tuple[object, ...]) -> None:
            first = inputs[0] if inputs else None
            source = copies.find(first) if isinstance(first, torch.Tensor) else None
            given[0] = source if source is not None and source.bounds == (None, None) else None

        def after(_module: nn.Module, _inputs: object, output: object) -> None:
            source, given[0] = given[0], None
            if not isinstance(output, torch.Tensor) or output.dim() != 4:
                return
            maps = copies.find(output)
            if maps is None:
                if source is not None and bounds is not None:
                    maps = _Maps(source.copy, bounds)
                else:
                    maps = _Maps(output[0].detach().to(_CPU, STORED, copy=True))
                copies.add(output, maps)
            keep(name, maps)

        return before, after

    modules = dict(model.named_modules())  # one walk; resolve_layer for the rest (and its error message)
    try:
        for name in layers:
            module = modules[name] if name and name in modules else resolve_layer(model, name)
            bounds = _bounds(module)
            before, after = hook_for(name, bounds)
            if bounds is not None:
                handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        yield
    finally:
        for handle in handles:
            handle.remove()


class Recording:
    """The activation maps of ``layers`` for one image (see the module's docstring): :meth:`maps` and :meth:`stats`
    by layer name. Made by :func:`record_layers`."""

    def __init__(self, model: ModelLike, x: torch.Tensor, layers: Sequence[str], budget: int):
        self.model, self.x, self.budget = model, x, budget
        self._maps: "OrderedDict[str, _Maps]" = OrderedDict()
        self._users: Dict[int, int] = {}  # id of a held copy -> how many held layers use it
        self._stats: Dict[str, ChannelStats] = {}
        self._seen: Dict[str, None] = {}  # the layers recorded, in order
        self.passes = 0
        self.nbytes = 0
        """Bytes the maps held now take (a copy shared by several layers counted once)."""
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
            self._stats[layer] = channel_stats(self._maps[layer].float())  # not yet evicted, so held
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

    def _keep(self, name: str, maps: _Maps) -> None:
        """Hold ``maps`` as the most recently used; evict the least recently used beyond the budget (keeping their
        statistics)."""
        self._seen[name] = None
        old = self._maps.pop(name, None)
        self._maps[name] = maps
        self._use(maps.copy, 1)
        if old is not None:
            self._use(old.copy, -1)
        self.peak = max(self.peak, self.nbytes)
        while self.nbytes > self.budget and len(self._maps) > 1:
            evicted, gone = self._maps.popitem(last=False)
            if evicted not in self._stats:
                self._stats[evicted] = channel_stats(gone.float())
            self._use(gone.copy, -1)

    def _use(self, copy: torch.Tensor, step: int) -> None:
        """One more (``step=1``) or one fewer (``-1``) held layer uses ``copy``; its bytes count while any does."""
        users = self._users.get(id(copy), 0) + step
        if users:
            self._users[id(copy)] = users
        else:
            del self._users[id(copy)]
        if users == 0 or (users == 1 and step == 1):
            self.nbytes += step * copy.numel() * copy.element_size()


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
        Most bytes the held maps take (a copy shared by several layers counted once); beyond it the least recently
        used are evicted (and recomputed when asked for). One layer is always held, even if it alone is bigger.
    """
    budget = check_int("budget", budget, 0, None, error=LayerError)
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        raise LayerError(f"x must be one normalised image (1, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    return Recording(model, x, list(layers), budget)
