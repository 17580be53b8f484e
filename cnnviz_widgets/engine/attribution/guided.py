"""Guided backpropagation (Springenberg et al. 2015) and deconvnet (Zeiler & Fergus 2014).

Both are the input gradient with a modified rule at every rectifier: guided backprop passes only positive
gradient where the rectifier was active; deconvnet passes the positive gradient wherever it arrives,
ignoring the forward pass. Module hooks miss rectifiers written as functions (``F.relu``, ``x.clamp(min=0)``)
and trip over in-place or reused modules, so the rule is applied one level lower, on the autograd graph of
the forward pass: every rectifier, however it was spelled or called, left a ``ReluBackward``,
``HardtanhBackward``, ``ClampBackward`` or ``ClampMinBackward`` node there, and a hook on that node changes
its backward. The hooks die with the graph, and the forward pass runs untouched at full speed.
"""

from __future__ import annotations

from numbers import Real
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, cast

import torch
from torch import nn

from ..errors import note
from ..inputs import prepare_input
from ..replica import on_replica
from .core import input_grad, leaf
from .targets import ForwardArgs, Target, scoring

Grads = Tuple[Optional[torch.Tensor], ...]


def _graph(root: Any) -> Iterator[Any]:
    """Every node of the autograd graph that ends in ``root``, each once."""
    seen, stack = {root}, [root]
    add, push = seen.add, stack.append
    while stack:
        node = stack.pop()
        yield node
        for child, _ in node.next_functions:
            if child is not None and child not in seen:
                add(child)
                push(child)


_KINDS: Dict[type, str] = {}
"""Autograd node class -> its name without the version digits (``HardtanhBackward0`` -> ``HardtanhBackward``)."""


def _bounds(node: Any) -> Optional[Tuple[Optional[float], bool]]:
    """``(upper bound or None, strict)`` when ``node`` is the backward of a rectifier (lower bound 0), else ``None``.

    ``strict``: torch's own backward masks ``0 < x < hi`` (relu, hardtanh), as the rules need; clamp's backward
    lets the gradient through at exactly 0 and ``hi``, so its mask is rebuilt from the saved input.
    """
    kind = _KINDS.get(type(node))
    if kind is None:
        kind = _KINDS[type(node)] = type(node).__name__.rstrip("0123456789")
    if kind == "ReluBackward":
        return None, True
    if kind == "HardtanhBackward":
        lo, hi, strict = node._saved_min_val, node._saved_max_val, True
    elif kind == "ClampBackward" and hasattr(node, "_saved_max"):  # ClampBackward0 takes tensor bounds
        lo, hi, strict = node._saved_min, node._saved_max, False
    elif kind == "ClampMinBackward":
        lo, hi, strict = node._saved_min, None, False
    else:
        return None
    if not isinstance(lo, Real) or lo != 0 or (hi is not None and not (isinstance(hi, Real) and float(hi) > 0)):
        return None  # a clamp to another range, not a rectifier
    return (None if hi is None else float(hi)), strict


def _deconv_rule(grad_inputs: Grads, grad_outputs: Grads) -> Grads:
    """Deconvnet: the positive part of the gradient arriving at the rectifier, whatever it did forward.

    Written into torch's own result (a fresh tensor), so no memory is allocated for it.
    """
    if grad_inputs[0] is not None:  # None where backward does not reach the input from here
        torch.clamp(cast(torch.Tensor, grad_outputs[0]), min=0, out=grad_inputs[0])
    return grad_inputs


def _guided_rule(grad_inputs: Grads, grad_outputs: Grads) -> Grads:
    """Guided backprop at relu/hardtanh: torch's own (strictly masked) result, made positive in place."""
    if grad_inputs[0] is not None:
        grad_inputs[0].clamp_(min=0)
    return grad_inputs


def _guided_clamp_rule(x: torch.Tensor, hi: Optional[float]) -> Callable[[Grads, Grads], Grads]:
    """Guided backprop at a clamp of ``x``: the positive gradient where ``0 < x < hi`` (the strict ReLU mask).

    The rule holds the clamp's saved input, not its node: a hook that referred to its own node would make a
    cycle through C++ that Python's collector cannot see, and the graph would never be freed.
    """

    def rule(grad_inputs: Grads, grad_outputs: Grads) -> Grads:
        if grad_inputs[0] is None:
            return grad_inputs
        active = x > 0 if hi is None else (x > 0) & (x < hi)
        return (cast(torch.Tensor, grad_outputs[0]).clamp(min=0) * active,) + grad_inputs[1:]

    return rule


def rectifier_rule(scores: torch.Tensor, deconv: bool) -> int:
    """Make backward from ``scores`` use the guided (or deconvnet) rule at every rectifier; the number of them.

    Guided backprop at relu/hardtanh keeps torch's own backward (it applies the forward mask) and makes its
    result positive in place: one extra elementwise pass per rectifier and no extra memory.
    """
    if scores.grad_fn is None:
        return 0
    count = 0
    for node in _graph(scores.grad_fn):
        bounds = _bounds(node)
        if bounds is None:
            continue
        count += 1
        hi, strict = bounds
        if deconv:
            node.register_hook(_deconv_rule)
        else:
            node.register_hook(_guided_rule if strict else _guided_clamp_rule(node._saved_self, hi))
    return count


def no_rectifier_note(deconv: bool) -> None:
    """Tell the user the rule changed nothing: no rectifier lay between the input and the target."""
    name = "deconvnet" if deconv else "guided backprop"
    note(
        f"{name} found no rectifier (ReLU, ReLU6, hardtanh or a clamp at 0) between the input and the target, "
        f"so its map is the plain gradient: {name}'s rule is defined for rectifiers only, not for GELU, SiLU "
        "and other smooth activations"
    )


def _rectified_gradient(
    model: nn.Module, x: torch.Tensor, target: Target, deconv: bool, forward_args: Tuple[Any, ...]
) -> torch.Tensor:
    x = prepare_input(model, x)
    with scoring(model, target, forward_args=ForwardArgs(forward_args, x.shape[0])) as (score, _):
        inputs = leaf(x)
        scores = score(inputs)
        if rectifier_rule(scores, deconv) == 0:
            no_rectifier_note(deconv)
        return input_grad(scores, inputs).detach()


@on_replica
def guided_backprop(
    model: nn.Module, x: torch.Tensor, target: Target, *, forward_args: Tuple[Any, ...] = ()
) -> torch.Tensor:
    """Guided backpropagation: the input gradient with only positive signal through active rectifiers.

    Parameters
    ----------
    model : nn.Module
        Any CNN; rectifiers may be modules (also in-place or reused) or functions inside ``forward``.
    x : torch.Tensor
        Normalised image batch ``(N, C, H, W)``.
    target : int, list, callable or str
        Class per image, a function of the logits, or a unit ``"layer:channel[:y:x]"``.
    forward_args : tuple
        Extra arguments of the model's forward after ``x`` (see :class:`~.targets.ForwardArgs`).
    """
    return _rectified_gradient(model, x, target, False, forward_args)


@on_replica
def deconvnet(model: nn.Module, x: torch.Tensor, target: Target, *, forward_args: Tuple[Any, ...] = ()) -> torch.Tensor:
    """Deconvnet: the input gradient with every rectifier passing only the positive part of the signal back.

    Parameters are as for :func:`guided_backprop`.
    """
    return _rectified_gradient(model, x, target, True, forward_args)
