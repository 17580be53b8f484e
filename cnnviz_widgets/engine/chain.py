"""The linear steps on the way from a model's input to a convolution: the convolutions and eval-mode batch norms
its input passes through, in the order they run, found by one probing forward pass.

Every torch call of the pass (a ``TorchFunctionMode``, as :mod:`.layers` probes receptive fields) gives what it
returns the *path* of its main input, plus what the call itself adds:

- a convolution adds itself (filters, stride, dilation, groups), called as an ``nn.Conv2d`` or as ``F.conv2d``
  on a module's weight (the TF-"SAME" wrappers of the default model);
- an eval-mode batch norm adds its per-channel scale ``weight / sqrt(running_var + eps)`` (its shift is a bias);
- element-wise calls (activations, dropout, gates, sums, constant factors) and padding add nothing: the
  nonlinearities and factors are ignored, and padding changes only the units at the border;
- any other call (max or average pooling, concatenation, reshapes, slicing, batch statistics) adds a *barrier*
  named after the call, which no chain of kernels crosses.

The main input of a call with several is the one with the output's shape and the most convolutions on its path
(the first of equals): a residual block's sum follows the block's convolutions, not the skip connection, and a
squeeze-and-excitation product ``x * gate`` (the gate has another shape) follows ``x``. The order is the order
the calls ran in, whatever order the modules were registered in; a convolution called twice counts its last call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .errors import LayerError
from .layers import _tensors
from .ops import BINARY_FUNCTIONS, BINARY_METHODS, ELEMENTWISE_FUNCTIONS, ELEMENTWISE_METHODS, bind, int_pair

PASSING = frozenset(
    {f.__name__ for f in ELEMENTWISE_FUNCTIONS}
    | {f.__name__ for f in BINARY_FUNCTIONS}
    | {name.strip("_") for name in ELEMENTWISE_METHODS | set(BINARY_METHODS)}
    | {"dropout", "dropout2d", "feature_dropout", "alpha_dropout", "clone", "contiguous", "to"}
)
"""Calls that keep a path as it is when they return their main input's shape (names without ``_``s around)."""
PADDING = frozenset({"pad", "constant_pad_nd"})


@dataclass(frozen=True, eq=False)
class Step:
    """One call on a path: ``op`` is ``"conv2d"`` (``weight``: its filters, with ``stride``, ``dilation`` and
    ``groups``), ``"batch_norm"`` (``weight``: the per-channel scale) or the name of a call that is a barrier
    (no ``weight``); ``name`` is the module whose weights the call uses (``""`` for a barrier)."""

    op: str
    name: str = ""
    weight: Optional[torch.Tensor] = None
    stride: Tuple[int, int] = (1, 1)
    dilation: Tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def barrier(self) -> bool:
        """Whether no chain of kernels crosses this step."""
        return self.weight is None


Path = Tuple[Step, ...]


def _path(t: object) -> Optional[Path]:
    return getattr(t, "_cnnviz_path", None) if isinstance(t, torch.Tensor) else None


def _convs(path: Path) -> int:
    return sum(step.op == "conv2d" for step in path)


class _PathTracker(TorchFunctionMode):
    """Tags every tensor a torch call returns with its path; keeps each convolution's output path and the
    batch norm that next reads it."""

    def __init__(self, names: Dict[int, str]):
        super().__init__()
        self.names = names
        self.convs: Dict[str, Path] = {}
        self.after: Dict[str, Step] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        tagged = [t for t in _tensors((args, kwargs)) if _path(t) is not None]
        outs = list(_tensors(out))
        if tagged and outs:
            path = self._step(func, args, kwargs, tagged, outs[0])
            for t in outs:
                t._cnnviz_path = path
        return out

    def _step(self, func, args, kwargs, tagged: List[torch.Tensor], out: torch.Tensor) -> Path:
        op = getattr(func, "__name__", type(func).__name__)
        same = [t for t in tagged if t.shape == out.shape]
        main = max(same or tagged, key=lambda t: _convs(_path(t) or ()))  # the first of equals
        before = _path(main) or ()
        if op == "conv2d" and _path(args[0] if args else kwargs.get("input")) is not None:
            a = bind("conv2d", args, kwargs)
            weight = a["weight"]
            name = self.names.get(id(weight), "conv2d")
            step = Step("conv2d", name, weight, int_pair(a["stride"]), int_pair(a["dilation"]), int(a["groups"]))
            self.convs[name] = path = (_path(a["input"]) or ()) + (step,)
            self.after.pop(name, None)
            return path
        if func is F.batch_norm:
            a = bind("batch_norm", args, kwargs)
            before = _path(a["input"]) or ()
            if a["training"] or a["running_var"] is None:
                return before + (Step("batch_norm (batch statistics)"),)
            var = a["running_var"]
            scale = (a["weight"] if a["weight"] is not None else 1) / torch.sqrt(var + a["eps"])
            step = Step("batch_norm", self.names.get(id(var), "batch_norm"), scale)
            conv = before[-1] if before else None
            if conv is not None and conv.op == "conv2d" and conv.name not in self.after:
                self.after[conv.name] = step
            return before + (step,)
        if op.strip("_") in PADDING or (op.strip("_") in PASSING and same):
            return before
        return before + (Step(op),)


def _names(model: nn.Module) -> Dict[int, str]:
    """The module that owns each parameter and buffer, by the tensor's id."""
    names: Dict[int, str] = {}
    for name, module in model.named_modules():
        for t in (*module._parameters.values(), *module._buffers.values()):
            if t is not None:
                names.setdefault(id(t), name)
    return names


def path_to(model: nn.Module, layer: str, input_shape: Sequence[int], fold: bool) -> Path:
    """The path of convolution ``layer``'s output (its last call), input side first, ending with ``layer``'s
    step and, when ``fold``, the batch norm that next reads it; without ``fold`` no batch norm steps.

    Parameters
    ----------
    model : nn.Module
        The engine's replica (the caller holds it): run once on a zero input, without gradients.
    layer : str
        The convolution's dotted name.
    input_shape : sequence of int
        ``(C, H, W)`` of the probing input.
    fold : bool
        Keep the eval-mode batch norms' scales.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x = torch.zeros((1, *input_shape), device=device, dtype=dtype)
    x._cnnviz_path = ()  # type: ignore[attr-defined]  # our tag on the tensor
    tracker = _PathTracker(_names(model))
    try:
        with torch.no_grad(), tracker:
            model(x)
    except Exception as exc:  # noqa: BLE001 - the model raises what it likes for an input it cannot take
        raise LayerError(
            f"a zero input of shape {tuple(input_shape)} (C, H, W) did not pass the model "
            f"({type(exc).__name__}: {exc}); give the shape it takes (input_shape=...)"
        ) from None
    if layer not in tracker.convs:
        raise LayerError(f"{layer!r} did not run on an input of shape {tuple(input_shape)} (C, H, W)")
    path = tracker.convs[layer]
    if fold and layer in tracker.after:
        path = path + (tracker.after[layer],)
    return path if fold else tuple(step for step in path if step.op != "batch_norm")
