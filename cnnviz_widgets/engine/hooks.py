"""Hooks that live exactly as long as one call: model-state guards and activation capture.

Every context manager here restores what it changed in ``finally``, so after any engine call, whether it
returned or raised, the model has no extra hooks and the same ``training``/``requires_grad`` flags.
Hooks and flags belong to the model, not to a thread, so ``model_state`` also serialises engine calls on
one model: a widget's background job and a notebook cell never see each other's activations.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from typing import Collection, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from .layers import resolve_layer


_locks: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def _lock_for(model: nn.Module) -> threading.RLock:
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.RLock()
        return lock


def _tree(model: nn.Module) -> Tuple[List[nn.Module], List[nn.Parameter]]:
    """Every submodule and parameter of ``model``, each once: what ``modules()`` and ``parameters()`` give,
    in one walk without building names (it runs on every engine call, so its cost shows on small models)."""
    modules: List[nn.Module] = []
    params: Dict[int, nn.Parameter] = {}
    seen, stack = set(), [model]
    while stack:
        module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        modules.append(module)
        params.update((id(p), p) for p in module._parameters.values() if p is not None)
        stack.extend(child for child in module._modules.values() if child is not None)
    return modules, list(params.values())


@contextmanager
def model_state(model: nn.Module, *, train: bool = False, requires_grad: Optional[bool] = None) -> Iterator[nn.Module]:
    """Put ``model`` in eval (or train) mode, optionally freeze or unfreeze its weights, then restore.

    Only the flags that differ are changed and put back, so the guard costs next to nothing on a model that
    is already in the wanted state. The model's lock is held throughout (re-entrant within one thread), so
    hooks registered inside the block see only this call's forward passes.

    Parameters
    ----------
    model : nn.Module
        The user's model; every ``training`` and ``requires_grad`` flag it had is put back on exit.
    train : bool
        Mode to run in; attributions use eval mode so batch-norm and dropout are deterministic.
    requires_grad : bool, optional
        ``False`` freezes the weights: autograd then records no weight edges, which makes an input-gradient
        pass a few percent faster (attributions, feature visualisation); ``None`` leaves them as they are.
    """
    with _lock_for(model):
        every, weights = _tree(model)
        modules = [m for m in every if m.training != train]
        params = [] if requires_grad is None else [p for p in weights if p.requires_grad != requires_grad]
        try:
            for m in modules:
                m.training = train
            for p in params:
                p.requires_grad_(requires_grad)
            yield model
        finally:
            for m in modules:
                m.training = not train
            for p in params:
                p.requires_grad_(not requires_grad)


class StopForward(BaseException):
    """Raised by a capture hook once every wanted output exists: the rest of the network is skipped.

    A ``BaseException``, so a model's own ``except Exception`` cannot swallow it.
    """


class Capture:
    """Outputs of named layers recorded during one forward pass (all calls of a reused module)."""

    def __init__(self, names: Sequence[str], until: Optional[Mapping[str, int]] = None):
        self.outputs: Dict[str, List[torch.Tensor]] = {name: [] for name in names}
        self.until = dict(until) if until else None

    def complete(self) -> bool:
        """Whether every layer has been called as often as ``until`` says (the forward pass may stop)."""
        return self.until is not None and all(len(self.outputs[n]) >= k for n, k in self.until.items())

    def forward(self, model: nn.Module, x: torch.Tensor) -> Optional[torch.Tensor]:
        """Run ``model(x)``; the logits, or ``None`` when the pass stopped after the last wanted layer."""
        try:
            return model(x)
        except StopForward:
            return None

    def __getitem__(self, name: str) -> torch.Tensor:
        """The output of the last call of layer ``name`` (the one closest to the logits)."""
        calls = self.outputs[name]
        if not calls:
            raise RuntimeError(f"layer {name!r} was not called during the forward pass")
        return calls[-1]


@contextmanager
def capture(
    model: nn.Module, layers: Sequence[str], leaves: Collection[str] = (), until: Optional[Mapping[str, int]] = None
) -> Iterator[Capture]:
    """Record the outputs of ``layers`` (dotted names) while the block runs; remove the hooks on exit.

    Use it inside :func:`model_state`, whose lock keeps other threads' forward passes out of the record.

    Each hooked output is replaced by a clone, so in-place operations later in the network (``x += y``,
    ``ReLU(inplace=True)``) cannot overwrite the recorded tensor; gradients flow through the clone
    unchanged, so ``torch.autograd.grad(score, capture[name])`` is the gradient at that layer.

    The outputs of layers named in ``leaves`` are recorded as fresh leaves that require grad: backward stops
    there, so with frozen weights nothing below those layers builds an autograd graph (Grad-CAM's speed).

    With ``until`` (calls per layer, as a probing pass counted them), the hooks raise :class:`StopForward` as
    soon as every layer has produced its last output; run the model through :meth:`Capture.forward` then.
    """
    record = Capture(layers, until)
    handles = []

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} returns {type(output).__name__}, not a tensor; pick a layer whose output "
                    "is a single tensor"
                )
            if name in leaves:
                output = output.detach().requires_grad_()
            record.outputs[name].append(output)
            if record.complete():
                raise StopForward()
            return output.clone()

        return hook

    try:
        for name in layers:
            handles.append(resolve_layer(model, name).register_forward_hook(hook_for(name)))
        yield record
    finally:
        for handle in handles:
            handle.remove()
