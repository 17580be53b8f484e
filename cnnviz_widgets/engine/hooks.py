"""Hooks that live exactly as long as one call: activation capture on the engine's replica of a model.

Every context manager here removes its hooks in ``finally``, so after any engine call, whether it returned or
raised, the replica has no extra hooks either; the user's own modules never carry any (see :mod:`.replica`).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Collection, Dict, Iterator, List, Mapping, Optional, Sequence

import torch
from torch import nn

from .errors import LayerError
from .names import resolve_layer


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
            raise LayerError(f"layer {name!r} was not called during the forward pass")
        return calls[-1]


@contextmanager
def capture(
    model: nn.Module, layers: Sequence[str], leaves: Collection[str] = (), until: Optional[Mapping[str, int]] = None
) -> Iterator[Capture]:
    """Record the outputs of ``layers`` (dotted names) while the block runs; remove the hooks on exit.

    Use it on a replica inside :func:`~cnnviz_widgets.engine.replica.private`, whose lock keeps the engine's
    other calls' forward passes out of the record.

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
                raise LayerError(
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
