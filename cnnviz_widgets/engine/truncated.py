"""The part of a model that some layers' activations need, as a fast copy for repeated gradient passes.

Gradient ascent runs the same forward and backward hundreds of times, and only up to the layers its
objective reads. This module cuts the model's ``torch.fx`` graph after the last of those layers and copies
that part (frozen, in eval mode: the user's model is never touched, so no per-step guard is needed). In the
copy each eval-mode batch norm is folded into the convolution before it and each zero padding that a
convolution can do itself (TF-"SAME" wrappers) is folded into it: fewer ops each way, and their backward
passes gone. On the CPU the weights are stored channels-last, the layout oneDNN's convolutions prefer
(otherwise they reorder the weights on every call). The copy is checked against the model's own forward
before it is used, and the caller rebuilds it when the model's weights change.
"""
from __future__ import annotations

import copy
import itertools
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

from .tracing import hook_free, traced

OUTPUT = ""
"""The name of the model's output (the root module's name in ``named_modules()``)."""
_CONV_FUNCTIONS = (F.conv2d, torch.conv2d)
_COMPUTE = ("call_module", "call_function", "call_method")
TOLERANCE = 1e-3
"""Largest difference from the model's own activations, relative to their largest magnitude (folding a batch
norm changes float rounding only)."""


def _versions(tensors: Sequence[torch.Tensor]) -> Tuple[int, ...]:
    """The in-place-write counters of ``tensors``: any ``copy_``, optimiser step or ``load_state_dict`` bumps one."""
    return tuple(t._version for t in tensors)


def _ends(graph: fx.Graph, layers: Sequence[str]) -> Optional[List[fx.Node]]:
    """The node whose value is each layer's output (its last computation), or ``None`` if one has none."""
    ends = []
    nodes = list(graph.nodes)
    for name in layers:
        if name == OUTPUT:
            out = next(n for n in reversed(nodes) if n.op == "output").args[0]
            found = out if isinstance(out, fx.Node) else None
        else:
            inside = [n for n in nodes if n.op in _COMPUTE and name in (n.meta.get("nn_module_stack") or {})]
            found = inside[-1] if inside else None
        if found is None:
            return None
        ends.append(found)
    return ends


def _cut(model: nn.Module, graph: fx.Graph, layers: Sequence[str]) -> Optional[fx.GraphModule]:
    """A module computing ``layers``' outputs (a tuple) and nothing after them; shares the model's tensors."""
    ends = _ends(graph, layers)
    if ends is None:
        return None
    cut = fx.Graph()
    env: Dict[fx.Node, fx.Node] = {}
    cut.graph_copy(graph, env)
    cut.output(tuple(env[n] for n in ends))
    gm = fx.GraphModule(model, cut)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    return gm


def _tensor(gm: fx.GraphModule, arg: object) -> Optional[torch.Tensor]:
    """The tensor a ``get_attr`` node reads (``None`` for ``None``); raises ``LookupError`` for anything else."""
    if arg is None:
        return None
    if isinstance(arg, fx.Node) and arg.op == "get_attr":
        value = gm
        for part in arg.target.split("."):
            value = getattr(value, part)
        if isinstance(value, torch.Tensor):
            return value
    raise LookupError("not a constant weight")


def _fold_batch_norms(gm: fx.GraphModule) -> int:
    """Fold every eval-mode ``BatchNorm2d`` that alone reads a convolution's output into that convolution.

    Module convolutions are replaced by folded ones; functional ones (``F.conv2d(x, self.weight, ...)``, as
    in TF-"SAME" padding wrappers) get folded constants. Returns the number of batch norms removed.
    """
    count = 0
    for node in list(gm.graph.nodes):
        bn = gm.get_submodule(node.target) if node.op == "call_module" else None
        conv = node.args[0] if node.args else None
        if not (isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None and len(node.args) == 1 and not node.kwargs):
            continue
        if not isinstance(conv, fx.Node) or len(conv.users) != 1:
            continue
        name = f"_cnnviz_folded_{count}"
        if conv.op == "call_module" and type(gm.get_submodule(conv.target)) is nn.Conv2d:
            module = gm.get_submodule(conv.target)
            if module.padding_mode != "zeros":
                continue
            gm.add_submodule(name, fuse_conv_bn_eval(module, bn))
            conv.target = name
        elif conv.op == "call_function" and conv.target in _CONV_FUNCTIONS and len(conv.args) >= 2 and not conv.kwargs:
            try:
                weight, bias = _tensor(gm, conv.args[1]), _tensor(gm, conv.args[2] if len(conv.args) > 2 else None)
            except LookupError:
                continue
            w, b = fuse_conv_bn_weights(weight, bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
            gm.register_parameter(name + "_weight", w)
            gm.register_parameter(name + "_bias", b)
            with gm.graph.inserting_before(conv):
                args = list(conv.args) + [None] * (3 - len(conv.args))
                args[1], args[2] = gm.graph.get_attr(name + "_weight"), gm.graph.get_attr(name + "_bias")
            conv.args = tuple(args)
        else:
            continue
        node.replace_all_uses_with(conv)
        gm.graph.erase_node(node)
        count += 1
    return count


def _zero_pad(gm: fx.GraphModule, node: fx.Node) -> Optional[Tuple[int, int]]:
    """``(top, left)`` if ``node`` pads with zeros equally on opposite sides, else ``None``."""
    if node.op == "call_module" and type(gm.get_submodule(node.target)) in (nn.ZeroPad2d, nn.ConstantPad2d):
        module = gm.get_submodule(node.target)
        pad, value = tuple(module.padding), getattr(module, "value", 0.0)
    elif node.op == "call_function" and node.target is F.pad and len(node.args) == 2 and not node.kwargs:
        pad, value = tuple(node.args[1]), 0.0
    else:
        return None
    if value != 0 or len(pad) != 4 or pad[0] != pad[1] or pad[2] != pad[3]:
        return None
    return pad[2], pad[0]


def _fold_pads(gm: fx.GraphModule) -> int:
    """Let each convolution that alone reads a symmetric zero padding do that padding itself."""
    count = 0
    calls = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    for node in list(gm.graph.nodes):
        extra = _zero_pad(gm, node)
        conv = next(iter(node.users)) if extra is not None and len(node.users) == 1 else None
        if conv is None or conv.args[0] is not node:
            continue
        if conv.op == "call_module" and type(gm.get_submodule(conv.target)) is nn.Conv2d and calls.count(conv.target) == 1:
            module = gm.get_submodule(conv.target)
            if module.padding_mode != "zeros" or isinstance(module.padding, str):
                continue
            module.padding = (module.padding[0] + extra[0], module.padding[1] + extra[1])
        elif conv.op == "call_function" and conv.target in _CONV_FUNCTIONS and len(conv.args) >= 5 and not conv.kwargs:
            padding = conv.args[4]
            if isinstance(padding, str) or not isinstance(padding, (tuple, list)) or len(padding) != 2:
                continue
            conv.args = conv.args[:4] + ((padding[0] + extra[0], padding[1] + extra[1]),) + conv.args[5:]
        else:
            continue
        conv.replace_input_with(node, node.args[0])
        gm.graph.erase_node(node)
        count += 1
    return count


def _standalone(gm: fx.GraphModule, layout: torch.memory_format) -> Tuple[fx.GraphModule, int]:
    """A frozen eval-mode copy of ``gm`` with batch norms and paddings folded, weights in ``layout``."""
    gm = copy.deepcopy(gm).eval().requires_grad_(False)
    folded = _fold_batch_norms(gm) + _fold_pads(gm)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    for t in itertools.chain(gm.parameters(), gm.buffers()):
        t.requires_grad_(False)
        if t.dim() == 4:
            t.data = t.data.contiguous(memory_format=layout)
    return gm, folded


class Truncated:
    """``layers``' activations for an input batch, computed by the cut, folded copy of ``model``.

    Build with :meth:`build`, which returns ``None`` when the model cannot be traced, has forward hooks
    (the copy would skip them), or the copy's activations differ from the model's own on a test input.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], gm: fx.GraphModule, folded: int):
        self.layers, self.gm, self.folded = tuple(layers), gm, folded
        self.tensors = list(itertools.chain(model.parameters(), model.buffers()))
        self.version = _versions(self.tensors)

    @classmethod
    def build(cls, model: nn.Module, layers: Sequence[str], x: torch.Tensor, reference: Dict[str, torch.Tensor]) -> Optional["Truncated"]:
        """The copy for ``layers`` if it reproduces ``reference`` (the model's activations for ``x``), else ``None``.

        Call it inside ``model_state(model)`` (eval mode: batch norms use their running statistics).
        """
        if not hook_free(model):
            return None
        try:
            gm = _cut(model, traced(model, dict(model.named_modules())), layers)
            if gm is None:
                return None
            layout = torch.channels_last if x.device.type == "cpu" else torch.contiguous_format
            truncated = cls(model, layers, *_standalone(gm, layout))
            with torch.no_grad():
                got = truncated(x)
        except Exception:  # noqa: BLE001 - any model the tracer cannot follow gets the hooked forward
            return None
        for name in layers:
            ref, out = reference[name], got.get(name)
            if not isinstance(out, torch.Tensor) or out.shape != ref.shape:
                return None
            if float((out.float() - ref.float()).abs().max()) > TOLERANCE * float(ref.float().abs().max()) + 1e-6:
                return None
        return truncated

    @property
    def fresh(self) -> bool:
        """Whether the model's weights and buffers are still those the copy was made from."""
        return _versions(self.tensors) == self.version

    def __call__(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return dict(zip(self.layers, self.gm(x)))
