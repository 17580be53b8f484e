"""The part of a model that some layers' activations need, as a fast copy for repeated gradient passes.

Gradient ascent runs the same forward and backward hundreds of times, and only up to the layers its
objective reads. This module cuts the model's ``torch.fx`` graph after the last of those layers and copies
that part (frozen, in eval mode: the user's model is never touched, so no per-step guard is needed). In the
copy each eval-mode batch norm is folded into the convolution before it, each zero padding that a
convolution can do itself (TF-"SAME" wrappers) is folded into it, max pools run before rectifiers, and when
only some channels of a layer are read, the convolutions that make them compute only those: fewer ops each
way, and their backward passes gone. On the CPU the weights are stored channels-last, the layout oneDNN's
convolutions prefer (otherwise they reorder the weights on every call). The copy is checked against the
model's own forward before it is used, and the caller rebuilds it when the model's weights change.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any, Collection, Dict, FrozenSet, List, Optional, Sequence, Tuple, cast

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

from .names import OUTPUT
from .ops import (
    BINARY_FUNCTIONS,
    CONV_FUNCTIONS,
    ELEMENTWISE_FUNCTIONS,
    ELEMENTWISE_METHODS,
    ELEMENTWISE_MODULES,
    MAX_POOL_FUNCTIONS,
    RECTIFIER_FUNCTIONS,
    RECTIFIER_MODULES,
    bind,
)
from .replica import sources
from .tracing import hook_free, traced

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


def _submodule(gm: fx.GraphModule, node: fx.Node) -> nn.Module:
    """The module a ``call_module`` node calls (its target is the module's qualified name)."""
    return gm.get_submodule(cast(str, node.target))


def _tensor(gm: fx.GraphModule, arg: object) -> Optional[torch.Tensor]:
    """The tensor a ``get_attr`` node reads (``None`` for ``None``); raises ``LookupError`` for anything else."""
    if arg is None:
        return None
    if isinstance(arg, fx.Node) and arg.op == "get_attr":
        value: Any = gm
        for part in cast(str, arg.target).split("."):
            value = getattr(value, part)
        if isinstance(value, torch.Tensor):
            return value
    raise LookupError("not a constant weight")


def folding_input(node: fx.Node, bn: Optional[nn.Module]) -> Optional[fx.Node]:
    """The node whose output batch norm ``node`` (the module ``bn``) alone reads, if ``bn`` could be folded into
    the convolution that makes it: an eval-statistics ``BatchNorm2d`` called on one input that nothing else uses."""
    if not (
        isinstance(bn, nn.BatchNorm2d)
        and bn.running_mean is not None
        and bn.running_var is not None
        and len(node.args) == 1
        and not node.kwargs
    ):
        return None
    source = node.args[0]
    return source if isinstance(source, fx.Node) and len(source.users) == 1 else None


def folded_weights(
    weight: torch.Tensor, bias: Optional[torch.Tensor], bn: nn.BatchNorm2d
) -> Tuple[nn.Parameter, nn.Parameter]:
    """A convolution's weight and bias with the eval-mode batch norm ``bn`` after it folded in."""
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        raise ValueError("a batch norm without running statistics cannot be folded")  # folding_input rules it out
    return fuse_conv_bn_weights(weight, bias, mean, var, bn.eps, bn.weight, bn.bias)


def batch_norm_after(graph: fx.Graph, modules: Dict[str, nn.Module], conv: str) -> Optional[nn.BatchNorm2d]:
    """The batch norm that alone reads module ``conv``'s output and folds into it, or ``None`` (see
    :func:`folding_input`; ``modules`` is the model's ``dict(named_modules())``)."""
    for node in graph.nodes:
        if node.op == "call_module":
            bn = modules.get(str(node.target))
            source = folding_input(node, bn)
            if source is not None and _convolution_of(source) == conv:
                return cast(nn.BatchNorm2d, bn)
    return None


def _convolution_of(node: fx.Node) -> Optional[str]:
    """The convolution module that ``node`` runs: called as a module, or functionally on its weight (the
    TF-"SAME" padding wrappers: ``F.conv2d(padded, self.weight, ...)``)."""
    if node.op == "call_module":
        return str(node.target)
    functional = node.op == "call_function" and node.target in CONV_FUNCTIONS and len(node.args) > 1
    weight = node.args[1] if functional else None
    if isinstance(weight, fx.Node) and weight.op == "get_attr" and str(weight.target).endswith(".weight"):
        return str(weight.target)[: -len(".weight")]
    return None


def _fold_batch_norms(gm: fx.GraphModule) -> int:
    """Fold every eval-mode ``BatchNorm2d`` that alone reads a convolution's output into that convolution.

    Module convolutions are replaced by folded ones; functional ones (``F.conv2d(x, self.weight, ...)``, as
    in TF-"SAME" padding wrappers) get folded constants. Returns the number of batch norms removed.
    """
    count = 0
    for node in list(gm.graph.nodes):
        bn = _submodule(gm, node) if node.op == "call_module" else None
        conv = folding_input(node, bn)
        if conv is None or not isinstance(bn, nn.BatchNorm2d):
            continue
        name = f"_cnnviz_folded_{count}"
        module = _submodule(gm, conv) if conv.op == "call_module" else None
        if type(module) is nn.Conv2d:
            if module.padding_mode != "zeros":
                continue
            gm.add_submodule(name, fuse_conv_bn_eval(module, bn))
            conv.target = name
        elif conv.op == "call_function" and conv.target in CONV_FUNCTIONS and len(conv.args) >= 2 and not conv.kwargs:
            try:
                weight, bias = _tensor(gm, conv.args[1]), _tensor(gm, conv.args[2] if len(conv.args) > 2 else None)
            except LookupError:
                continue
            if weight is None:  # F.conv2d needs one: the copy's check fails whether folded or not
                continue
            w, b = folded_weights(weight, bias, bn)
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
    module = _submodule(gm, node) if node.op == "call_module" else None
    if type(module) is nn.ZeroPad2d or type(module) is nn.ConstantPad2d:
        pad, value = tuple(module.padding), getattr(module, "value", 0.0)
    elif node.op == "call_function" and node.target is F.pad and len(node.args) == 2 and not node.kwargs:
        pad, value = tuple(cast(Sequence[int], node.args[1])), 0.0
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
        if extra is None or len(node.users) != 1:
            continue
        conv = next(iter(node.users))
        if conv.args[0] is not node:
            continue
        module = _submodule(gm, conv) if conv.op == "call_module" else None
        if type(module) is nn.Conv2d and calls.count(conv.target) == 1:
            if module.padding_mode != "zeros" or isinstance(module.padding, str):
                continue
            module.padding = (module.padding[0] + extra[0], module.padding[1] + extra[1])
        elif conv.op == "call_function" and conv.target in CONV_FUNCTIONS and len(conv.args) >= 5 and not conv.kwargs:
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


def _is(
    gm: fx.GraphModule,
    node: fx.Node,
    modules: Tuple[type, ...],
    functions: Collection[Any],
    methods: Collection[str] = (),
) -> bool:
    """Whether ``node`` calls one of these module types, functions or tensor methods."""
    if node.op == "call_module":
        return type(_submodule(gm, node)) in modules
    return (node.op == "call_function" and node.target in functions) or (
        node.op == "call_method" and node.target in methods
    )


def _swap_pools(gm: fx.GraphModule) -> int:
    """Max-pool before a rectifier rather than after it: ``pool(relu(x)) == relu(pool(x))`` for any monotonic
    activation, and the rectifier then runs (and back-propagates) on a map 4 times smaller (ResNet's stem,
    every VGG stage)."""
    count = 0
    for act in list(gm.graph.nodes):
        if not (_is(gm, act, RECTIFIER_MODULES, RECTIFIER_FUNCTIONS, ("relu",)) and len(act.users) == 1):
            continue
        pool = next(iter(act.users))
        if not _is(gm, pool, (nn.MaxPool2d,), MAX_POOL_FUNCTIONS) or pool.args[0] is not act or len(act.args) != 1:
            continue
        if (
            getattr(_submodule(gm, pool), "return_indices", False)
            if pool.op == "call_module"
            else bind("max_pool2d", pool.args, pool.kwargs)["return_indices"]
        ):
            continue
        pool.replace_input_with(act, act.args[0])
        with gm.graph.inserting_after(pool):
            moved = gm.graph.create_node(act.op, act.target, (pool,), act.kwargs)
        pool.replace_all_uses_with(moved, delete_user_cb=lambda user, moved=moved: user is not moved)
        gm.graph.erase_node(act)
        count += 1
    return count


def spread(x: torch.Tensor, index: torch.Tensor, channels: int) -> torch.Tensor:
    """``x``'s channels placed at ``index`` of a zero map with ``channels`` channels (what a narrowed layer returns)."""
    return x.new_zeros(x.shape[0], channels, *x.shape[2:]).index_copy(1, index, x)


class _Narrower:
    """Rewrites a graph to compute only some channels of a value, as far back as convolutions: a convolution
    gets a copy with just those filters, element-wise ops and channel concatenations pass the request on, and
    anything else is sliced. An objective on one channel of ResNet's ``layer3`` then skips 255 of the 256
    filters of its last convolution, forward and backward."""

    def __init__(self, gm: fx.GraphModule, device: torch.device):
        self.gm, self.graph, self.device, self.convs = gm, gm.graph, device, 0
        self.done: Dict[Tuple[fx.Node, Tuple[int, ...]], fx.Node] = {}

    def channels(self, node: object) -> Optional[int]:
        meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
        shape = getattr(meta, "shape", None)
        return int(shape[1]) if shape is not None and len(shape) == 4 else None

    def constant(self, name: str, value: torch.Tensor) -> fx.Node:
        self.gm.register_buffer(name, value.to(self.device))
        return self.graph.get_attr(name)

    def __call__(self, node: fx.Node, keep: Tuple[int, ...]) -> fx.Node:
        """A node whose value is ``node``'s channels ``keep`` (dim 1), inserted before the graph's output."""
        if (node, keep) not in self.done:
            self.done[(node, keep)] = self._narrow(node, keep)
        return self.done[(node, keep)]

    def _narrow(self, node: fx.Node, keep: Tuple[int, ...]) -> fx.Node:
        gm, graph, count = self.gm, self.graph, self.channels(node)
        name = f"_cnnviz_narrow_{len(self.done)}"
        index = list(keep)
        if keep == tuple(range(count or 0)):
            return node
        module = _submodule(gm, node) if node.op == "call_module" else None
        if type(module) is nn.Conv2d and module.groups == 1:
            conv = copy.deepcopy(module)
            conv.weight = nn.Parameter(conv.weight[index].clone(), requires_grad=False)
            if conv.bias is not None:
                conv.bias = nn.Parameter(conv.bias[index].clone(), requires_grad=False)
            conv.out_channels = len(index)
            gm.add_submodule(name, conv)
            self.convs += 1
            return graph.call_module(name, node.args, node.kwargs)
        if (
            node.op == "call_function"
            and node.target in CONV_FUNCTIONS
            and not node.kwargs
            and len(node.args) >= 2
            and (len(node.args) < 7 or node.args[6] == 1)
        ):
            try:
                weight, bias = _tensor(gm, node.args[1]), _tensor(gm, node.args[2] if len(node.args) > 2 else None)
            except LookupError:
                weight = None
            if weight is not None:
                args = list(node.args) + [None] * (3 - len(node.args))
                args[1] = self.constant(name + "_weight", weight[index].clone())
                args[2] = None if bias is None else self.constant(name + "_bias", bias[index].clone())
                self.convs += 1
                return graph.call_function(node.target, tuple(args))
        if (
            _is(gm, node, ELEMENTWISE_MODULES, ELEMENTWISE_FUNCTIONS, ELEMENTWISE_METHODS)
            and node.args
            and self.channels(node.args[0]) == count
            and not any(isinstance(a, fx.Node) for a in (*node.args[1:], *node.kwargs.values()))
        ):
            first = cast(fx.Node, node.args[0])  # its channel count is known: only nodes have one
            return graph.create_node(node.op, node.target, (self(first, keep), *node.args[1:]), node.kwargs)
        if node.op == "call_function" and node.target in BINARY_FUNCTIONS and len(node.args) == 2 and not node.kwargs:
            args = []
            for arg in node.args:
                if isinstance(arg, fx.Node) and self.channels(arg) == count:
                    args.append(self(arg, keep))
                elif isinstance(arg, (int, float)):
                    args.append(arg)
                else:
                    break
            else:
                return graph.call_function(BINARY_FUNCTIONS[node.target], tuple(args))
        if (
            node.op == "call_function"
            and node.target is torch.cat
            and node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) == 1
        ):
            parts, start = [], 0
            for part in cast(Sequence[fx.Node], node.args[0]):  # a part with no channel count ends the loop
                width = self.channels(part)
                if width is None:
                    break
                local = tuple(k - start for k in keep if start <= k < start + width)
                if local:
                    parts.append(self(part, local))
                start += width
            else:  # cat keeps the requested order only if it is increasing, which `keep` is
                return parts[0] if len(parts) == 1 else graph.call_function(torch.cat, (parts,), {"dim": 1})
        return graph.call_function(torch.index_select, (node, 1, self.constant(name + "_index", torch.tensor(index))))


def _narrow_outputs(gm: fx.GraphModule, x: torch.Tensor, keep: Sequence[Optional[FrozenSet[int]]]) -> int:
    """Compute only the ``keep`` channels of each output (``None``: all); the others are returned as zeros.

    Returns the number of convolutions narrowed; the graph is left as it was when there are none to gain.
    """
    ShapeProp(gm).propagate(x)
    output = next(n for n in gm.graph.nodes if n.op == "output")
    narrower, values = _Narrower(gm, x.device), list(output.args[0])
    with gm.graph.inserting_before(output):
        for i, (value, wanted) in enumerate(zip(values, keep)):
            channels = narrower.channels(value)
            if wanted is None or channels is None or len(wanted) == channels:
                continue
            index = tuple(sorted(wanted))
            values[i] = gm.graph.call_function(
                spread,
                (narrower(value, index), narrower.constant(f"_cnnviz_spread_{i}", torch.tensor(index)), channels),
            )
    if narrower.convs:
        output.args = (tuple(values),)
    return narrower.convs


def _standalone(
    gm: fx.GraphModule, x: torch.Tensor, keep: Sequence[Optional[FrozenSet[int]]]
) -> Tuple[fx.GraphModule, int]:
    """A frozen eval-mode copy of ``gm`` with batch norms and paddings folded, pools moved before rectifiers,
    only the ``keep`` channels of each output computed, weights in ``x``'s best layout."""
    gm = copy.deepcopy(gm).eval().requires_grad_(False)
    folded = _fold_batch_norms(gm) + _fold_pads(gm) + _swap_pools(gm)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    folded += _narrow_outputs(gm, x, keep)
    layout = torch.channels_last if x.device.type == "cpu" else torch.contiguous_format
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
        self.model, self.layers, self.gm, self.folded = model, tuple(layers), gm, folded
        self.tensors = sources(model)
        self.version = _versions(self.tensors)

    @classmethod
    def build(
        cls,
        model: nn.Module,
        layers: Sequence[str],
        x: torch.Tensor,
        reference: Dict[str, torch.Tensor],
        keep: Optional[Dict[str, Optional[FrozenSet[int]]]] = None,
    ) -> Optional["Truncated"]:
        """The copy for ``layers`` if it reproduces ``reference`` (the model's activations for ``x``), else ``None``.

        ``keep`` names, per layer, the only channels the caller reads (``None``: all); the copy computes just
        those and returns zeros for the others. ``model`` is the engine's replica (eval mode: batch norms use
        their running statistics), held with :func:`~cnnviz_widgets.engine.replica.private`.
        """
        keep = keep or {}
        if not hook_free(model):
            return None
        try:
            gm = _cut(model, traced(model, dict(model.named_modules())), layers)
            if gm is None:
                return None
            truncated = cls(model, layers, *_standalone(gm, x, [keep.get(name) for name in layers]))
            with torch.no_grad():
                got = truncated(x)
        except Exception:  # noqa: BLE001 - any model the tracer cannot follow gets the hooked forward
            return None
        for name in layers:
            ref, out = reference[name], got.get(name)
            if not isinstance(out, torch.Tensor) or out.shape != ref.shape:
                return None
            wanted = keep.get(name)
            if wanted is not None and ref.dim() > 1:
                index = sorted(wanted)
                ref, out = ref[:, index], out[:, index]
            if float((out.float() - ref.float()).abs().max()) > TOLERANCE * float(ref.float().abs().max()) + 1e-6:
                return None
        return truncated

    @property
    def fresh(self) -> bool:
        """Whether the user's weights and buffers behind the replica are still those the copy was made from."""
        return _versions(self.tensors) == self.version

    def __call__(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        return dict(zip(self.layers, self.gm(x)))
