"""Incremental occlusion inference (Nakandala et al., SIGMOD 2019): reuse the clean image's activations.

An occluding window changes only a small box of every early activation map, so the network is replayed
from its ``torch.fx`` graph with each value held as a :class:`Patch`: the clean image's activation plus the
changed box per window. Window operations (convolution, including depthwise; max and average pooling)
recompute their output box from the input box and a halo gathered from the clean activation; element-wise
operations (batch-norm in eval mode, the ReLU family, residual addition, channel concatenation) work on the
boxes alone. A box that grows past :data:`FULL_SHARE` of its map, and any operation without a rule, is
materialised into whole activations and run by the model's own code, so results match a plain batched
forward pass up to float rounding whatever the architecture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..ops import (
    BINARY_FUNCTIONS,
    BINARY_METHODS,
    CONV_FUNCTIONS,
    ELEMENTWISE_FUNCTIONS,
    ELEMENTWISE_METHODS,
    ELEMENTWISE_MODULES,
    MAX_POOL_FUNCTIONS,
    bind,
    int_pair,
    pool_stride,
)
from ..tracing import traced

Box = Tuple[int, int]
FULL_SHARE = 0.6
"""A recomputed box covering more of its map than this is cheaper to compute whole (no halo gathering)."""


@dataclass
class Patch:
    """An activation of every window in a chunk: the clean map ``(1, C, H, W)`` except, per window ``b``,
    the box of size ``values.shape[-2:]`` at ``at[b]`` (top, left), whose contents are ``values[b]``."""

    clean: torch.Tensor
    values: torch.Tensor
    at: List[Box]

    @property
    def size(self) -> Box:
        return self.values.shape[-2], self.values.shape[-1]


@dataclass(frozen=True)
class Window:
    """A sliding-window operation: kernel, stride and dilation per axis, padding (top, bottom, left, right)."""

    kernel: Box
    stride: Box
    dilation: Box
    pads: Tuple[int, int, int, int]
    fill: float
    run: Callable[[torch.Tensor], torch.Tensor]
    macs: int


def _region(clean: torch.Tensor, origins: Sequence[Box], size: Box, patch: Patch, shift: Box = (0, 0)) -> torch.Tensor:
    """Each window's activation cut to ``size`` at ``origins`` in ``clean``'s coordinates: the clean map there,
    overwritten by the window's box (whose coordinates are offset by ``shift`` relative to ``clean``)."""
    h, w = size
    ph, pw = patch.size
    out = torch.empty(
        (len(origins), clean.shape[1], h, w), dtype=clean.dtype, device=clean.device, memory_format=_layout(clean)
    )
    for b, (y, x) in enumerate(origins):
        out[b] = clean[0, :, y : y + h, x : x + w]
        py, px = patch.at[b][0] + shift[0], patch.at[b][1] + shift[1]
        y0, y1, x0, x1 = max(py, y), min(py + ph, y + h), max(px, x), min(px + pw, x + w)
        if y0 < y1 and x0 < x1:
            out[b, :, y0 - y : y1 - y, x0 - x : x1 - x] = patch.values[b, :, y0 - py : y1 - py, x0 - px : x1 - px]
    return out


def _layout(t: torch.Tensor) -> torch.memory_format:
    """The memory format new tensors derived from ``t`` should have (channels-last stays channels-last)."""
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def _constant_pad(x: torch.Tensor, pads: Tuple[int, int, int, int], value: float) -> torch.Tensor:
    """``F.pad(x, pads, value=value)`` for a channels-last ``x``, the same bits 3-5x faster (torch's own
    kernel is slow in that layout, and EfficientNet's TF-style convs pad before every stride-2 conv)."""
    left, right, top, bottom = pads
    n, c, h, w = x.shape
    out = torch.empty(
        (n, c, h + top + bottom, w + left + right), dtype=x.dtype, device=x.device, memory_format=torch.channels_last
    )
    out[:, :, :top] = value
    out[:, :, top + h :] = value
    out[:, :, top : top + h, :left] = value
    out[:, :, top : top + h, left + w :] = value
    out[:, :, top : top + h, left : left + w] = x
    return out


def materialise(patch: Patch) -> torch.Tensor:
    """The whole activation of every window, ``(B, C, H, W)``."""
    return _region(patch.clean, [(0, 0)] * len(patch.at), tuple(patch.clean.shape[-2:]), patch)  # type: ignore[arg-type]


def _span(start: int, length: int, window: Window, axis: int) -> Tuple[int, int]:
    """Output units ``[lo, hi]`` whose field (in padded input coordinates) meets ``[start, start + length)``,
    not clipped to the map: every window then asks for the same size, so kernels see one shape per layer."""
    reach = (window.kernel[axis] - 1) * window.dilation[axis]
    s = window.stride[axis]
    return -((reach - start) // s), (start + length - 1) // s  # ceil((start - reach) / s), floor(...)


class Replay:
    """The model's traced graph replayed on patches for one image: build once, then call per chunk of windows.

    Parameters
    ----------
    model : nn.Module
        A model ``torch.fx`` can trace, with no forward hooks; in eval mode with gradients off for the call.
    x : torch.Tensor
        The clean image ``(1, C, H, W)`` in the layout the chunks should run in.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor):
        self.model = model
        self.modules = dict(model.named_modules())
        self.graph = traced(model, self.modules)
        self.clean: Dict[fx.Node, Any] = {}
        self.padded: Dict[Tuple[fx.Node, Tuple[int, ...], float], torch.Tensor] = {}
        self._pads: Dict[fx.Node, Optional[Tuple[Tuple[int, int, int, int], float]]] = {}
        self._windows: Dict[fx.Node, Optional[Window]] = {}
        self.varying = self._depending_on_input()
        self.last_uses = self._last_uses()
        self.macs_clean = 0
        self.macs_done = 0
        self.windows_done = 0
        self.logits = self._clean_pass(x)
        self.largest_bytes = max(
            v.numel() * v.element_size() for v in self.clean.values() if isinstance(v, torch.Tensor)
        )
        """Bytes of the largest clean activation: what one more window adds to a chunk's peak at worst."""

    def reset_counts(self) -> None:
        """Start counting recomputed multiply-adds afresh (after probing calls)."""
        self.macs_done = self.windows_done = 0

    def _depending_on_input(self) -> set:
        """Nodes whose value changes with the image: whole activations, never constants (weights, shapes)."""
        seen: set = set()
        for node in self.graph.nodes:
            if node.op == "placeholder" or any(n in seen for n in node.all_input_nodes):
                seen.add(node)
        return seen

    # -- the clean pass -------------------------------------------------------------------------------------
    def _clean_pass(self, x: torch.Tensor) -> torch.Tensor:
        env: Dict[fx.Node, Any] = {}
        for node in self.graph.nodes:
            if node.op == "placeholder":
                value = x
            elif node.op == "output":
                return self._load(env, node.args[0])
            else:
                value = self._plain(node, env)
            env[node] = value
            # kept as a copy: a later in-place op (``out += identity``) must not change the stored map
            self.clean[node] = value.clone() if isinstance(value, torch.Tensor) else value
            self.macs_clean += self._macs(node, env, value)
            self._forget(node, env)
        raise RuntimeError("the traced graph has no output")

    def _last_uses(self) -> Dict[fx.Node, List[fx.Node]]:
        """For each node, the values no later node reads: freed once it has run, so a chunk's peak memory is
        that of a forward pass, not the sum of all its activations."""
        last: Dict[fx.Node, fx.Node] = {}
        for node in self.graph.nodes:
            for arg in node.all_input_nodes:
                last[arg] = node
        freed: Dict[fx.Node, List[fx.Node]] = {}
        for value, user in last.items():
            freed.setdefault(user, []).append(value)
        return freed

    def _forget(self, node: fx.Node, *envs: Dict[fx.Node, Any]) -> None:
        for value in self.last_uses.get(node, ()):
            for env in envs:
                env.pop(value, None)

    def _macs(self, node: fx.Node, env: Dict[fx.Node, Any], value: Any) -> int:
        """Multiply-adds ``node`` spends computing ``value`` whole: convolutions and linear layers (the rest is
        cheap)."""
        if not isinstance(value, torch.Tensor):
            return 0
        if value.dim() == 4:
            window = self._window(node, env)
            return window.macs * value.shape[0] * value.shape[2] * value.shape[3] if window is not None else 0
        module = self.modules.get(node.target) if node.op == "call_module" else None
        return module.in_features * module.out_features * value.shape[0] if isinstance(module, nn.Linear) else 0

    # -- evaluation -----------------------------------------------------------------------------------------
    def __call__(self, patch: Patch) -> torch.Tensor:
        """Logits ``(B, classes)`` of the windows whose input box is ``patch``."""
        env: Dict[fx.Node, Any] = {}
        whole: Dict[fx.Node, torch.Tensor] = {}
        self.windows_done += len(patch.at)
        for node in self.graph.nodes:
            if node.op == "placeholder":
                env[node] = patch
                continue
            if node.op == "output":
                return fx.node.map_arg(node.args[0], lambda n: self._whole(env, whole, n))
            value = self._patched(node, env)
            if value is None:
                value = self._plain(node, self._full_env(env, whole, node))
                self.macs_done += self._macs(node, env, value)
            env[node] = value
            self._forget(node, env, whole)
        raise RuntimeError("the traced graph has no output")

    @property
    def recomputed(self) -> float:
        """Multiply-adds of convolutions and linear layers spent so far, as a share of full forward passes."""
        return self.macs_done / max(1, self.macs_clean * self.windows_done)

    def _load(self, env: Dict[fx.Node, Any], arg: Any) -> Any:
        return fx.node.map_arg(arg, lambda n: env[n])

    def _plain(self, node: fx.Node, env: Dict[fx.Node, Any]) -> Any:
        """Run ``node`` the way the model's own forward would."""
        args, kwargs = self._load(env, node.args), self._load(env, node.kwargs)
        if node.op == "get_attr":
            target: Any = self.model
            for part in str(node.target).split("."):
                target = getattr(target, part)
            return target
        pad = self._pad(node) if node.op != "call_method" else None
        if pad is not None and isinstance(args[0], torch.Tensor) and _layout(args[0]) is torch.channels_last:
            return _constant_pad(args[0], *pad)
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return cast(Callable[..., Any], node.target)(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], cast(str, node.target))(*args[1:], **kwargs)
        raise RuntimeError(f"unexpected graph node {node.op}")

    def _whole(self, env: Dict[fx.Node, Any], whole: Dict[fx.Node, torch.Tensor], node: fx.Node) -> Any:
        """``node``'s value with a patch materialised (once per node: its consumers share it, as in the model)."""
        value = env[node]
        if not isinstance(value, Patch):
            return value
        if node not in whole:
            whole[node] = materialise(value)
        return whole[node]

    def _full_env(
        self, env: Dict[fx.Node, Any], whole: Dict[fx.Node, torch.Tensor], node: fx.Node
    ) -> Dict[fx.Node, Any]:
        """The values ``node`` reads, patches materialised."""
        return {arg: self._whole(env, whole, arg) for arg in node.all_input_nodes}

    # -- rules ----------------------------------------------------------------------------------------------
    def _patched(self, node: fx.Node, env: Dict[fx.Node, Any]) -> Optional[Any]:
        """``node``'s value as a :class:`Patch` when it reads patches and a rule covers it, else None."""
        inputs = node.all_input_nodes
        if not any(isinstance(env[n], Patch) for n in inputs):
            return None
        if any(n in self.varying and not isinstance(env[n], Patch) for n in inputs):
            return None  # mixes a patch with a whole activation
        if node.op == "call_method" and node.target in ("size", "dim"):
            source = env[cast(fx.Node, node.args[0])]  # the tensor whose size is asked
            shaped = torch.empty((len(source.at), *source.clean.shape[1:]), device="meta")
            return getattr(shaped, node.target)(*self._load(env, node.args[1:]))
        window = self._window(node, env)
        if window is not None:
            return self._windowed(node, env[inputs[0]], window)
        pad = self._pad(node)
        if pad is not None:
            source = env[cast(fx.Node, node.args[0])]
            (left, _, top, _), _ = pad
            return Patch(self.clean[node], source.values, [(y + top, x + left) for y, x in source.at])
        pointwise = self._pointwise(node, env)
        if pointwise is not None:
            return self._union(node, env, *pointwise)
        return None

    def _window(self, node: fx.Node, env: Dict[fx.Node, Any]) -> Optional[Window]:
        """The sliding-window operation ``node`` performs, or None when it is not one we can cut into boxes;
        cached, as its arguments (weights, strides) are fixed in the graph and every chunk asks again."""
        if node not in self._windows:
            self._windows[node] = self._find_window(node, env)
        return self._windows[node]

    def _find_window(self, node: fx.Node, env: Dict[fx.Node, Any]) -> Optional[Window]:
        if node.op == "call_module":
            module = self.modules[node.target]
            kind = type(module)
            if kind is nn.Conv2d and module.padding_mode == "zeros":
                return self._conv_window(
                    module.weight, module.bias, module.stride, module.padding, module.dilation, module.groups
                )
            if kind is nn.MaxPool2d and not module.return_indices:
                return self._pool_window(
                    node, module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode, True
                )
            if (
                kind is nn.AvgPool2d
                and not module.ceil_mode
                and module.divisor_override is None
                and int_pair(module.padding) == (0, 0)
            ):
                return self._pool_window(node, module.kernel_size, module.stride, 0, 1, False, False)
            return None
        if node.op == "call_function" and node.target in CONV_FUNCTIONS:
            a = bind("conv2d", self._load(env, node.args), self._load(env, node.kwargs))
            if isinstance(a["weight"], torch.Tensor) and (a["bias"] is None or isinstance(a["bias"], torch.Tensor)):
                return self._conv_window(a["weight"], a["bias"], a["stride"], a["padding"], a["dilation"], a["groups"])
            return None
        if node.op == "call_function" and node.target in MAX_POOL_FUNCTIONS:
            a = bind("max_pool2d", self._load(env, node.args), self._load(env, node.kwargs))
            if not a["return_indices"]:
                return self._pool_window(
                    node, a["kernel_size"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"], True
                )
        return None

    def _conv_window(self, weight, bias, stride, padding, dilation, groups) -> Optional[Window]:
        if weight.dim() != 4 or isinstance(padding, str) and padding not in ("valid", "same"):
            return None
        kernel, dilation, stride = tuple(weight.shape[-2:]), int_pair(dilation), int_pair(stride)
        if isinstance(padding, str):
            total = [0, 0] if padding == "valid" else [d * (k - 1) for d, k in zip(dilation, kernel)]
            pads = (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)
        else:
            (py, px) = int_pair(padding)
            pads = (py, py, px, px)

        def run(region: torch.Tensor) -> torch.Tensor:
            return F.conv2d(region, weight, bias, stride, 0, dilation, groups)

        macs = weight.shape[0] * weight.shape[1] * kernel[0] * kernel[1]
        return Window(kernel, stride, dilation, pads, 0.0, run, macs)

    def _pool_window(self, node, kernel, stride, padding, dilation, ceil_mode, is_max) -> Window:
        kernel = int_pair(kernel)
        stride = int_pair(pool_stride(stride, kernel))
        dilation, (py, px) = int_pair(dilation), int_pair(padding)

        def run(region: torch.Tensor) -> torch.Tensor:
            if is_max:
                return F.max_pool2d(region, kernel, stride, 0, dilation)
            return F.avg_pool2d(region, kernel, stride, 0)

        return Window(kernel, stride, dilation, (py, py, px, px), -math.inf if is_max else 0.0, run, 0)

    def _pad(self, node: fx.Node) -> Optional[Tuple[Tuple[int, int, int, int], float]]:
        """Padding (left, right, top, bottom) and value of a constant padding node (``nn.ZeroPad2d``,
        ``F.pad``), else None; cached, a node's arguments being fixed in the graph."""
        if node not in self._pads:
            pads, value = None, 0.0
            if node.op == "call_module":
                module = self.modules[node.target]
                if type(module) in (nn.ZeroPad2d, nn.ConstantPad2d):
                    pads, value = tuple(module.padding), float(module.value)
            elif node.op == "call_function" and node.target is F.pad:
                a = bind("pad", node.args, node.kwargs)
                if (
                    a["mode"] == "constant"
                    and not isinstance(a["pad"], fx.Node)
                    and not isinstance(a["value"], fx.Node)
                ):
                    pads, value = tuple(a["pad"]), float(a["value"] or 0.0)
            if pads is not None and len(pads) == 2:
                pads = (*pads, 0, 0)
            self._pads[node] = (pads, value) if pads is not None and len(pads) == 4 and min(pads) >= 0 else None
        return self._pads[node]

    def _pointwise(
        self, node: fx.Node, env: Dict[fx.Node, Any]
    ) -> Optional[Tuple[List[Any], Callable[..., torch.Tensor]]]:
        """The operands and a function of their boxes, when ``node`` works value by value; else None."""
        args, kwargs = node.args, dict(node.kwargs)
        if node.op == "call_module":
            module = self.modules[node.target]
            if isinstance(module, ELEMENTWISE_MODULES) and not module.training:
                inplace = getattr(module, "inplace", False)
                return [args[0]], lambda v: module(v.clone() if inplace else v)
            if type(module) is nn.BatchNorm2d and not module.training and module.running_mean is not None:
                return [args[0]], module
            return None
        if not self._broadcastable(env, [*args, *kwargs.values()]):
            return None
        kwargs.pop("inplace", None)
        rest, options = self._load(env, args[1:]), self._load(env, kwargs)
        if node.op == "call_function" and node.target in ELEMENTWISE_FUNCTIONS:
            return [args[0]], lambda v: node.target(v, *rest, **options)
        if node.op == "call_method" and node.target in ELEMENTWISE_METHODS:
            return [args[0]], lambda v: getattr(v, node.target)(*rest, **options)
        binary = (
            BINARY_FUNCTIONS.get(cast(Callable[..., Any], node.target))
            if node.op == "call_function"
            else BINARY_METHODS.get(cast(str, node.target))
            if node.op == "call_method"
            else None
        )
        if binary is not None and len(args) == 2:
            return list(args), lambda a, b: binary(a, b, **options)
        if node.op == "call_function" and node.target is torch.cat and isinstance(args[0], (list, tuple)):
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if dim in (1, -3) and all(isinstance(p, fx.Node) and isinstance(env[p], Patch) for p in args[0]):
                return list(args[0]), lambda *vs: torch.cat(vs, dim=1)
        return None

    def _broadcastable(self, env: Dict[fx.Node, Any], args: Sequence[Any]) -> bool:
        """Every value read is a patch, a plain value, or a constant tensor with no spatial extent (a scale)."""
        for arg in args:
            if isinstance(arg, (list, tuple)):
                if not self._broadcastable(env, arg):
                    return False
            elif isinstance(arg, fx.Node) and isinstance(env[arg], torch.Tensor):
                value = env[arg]
                if arg in self.varying or not (value.dim() < 2 or tuple(value.shape[-2:]) == (1, 1)):
                    return False
        return True

    def _union(
        self, node: fx.Node, env: Dict[fx.Node, Any], operands: List[Any], op: Callable[..., torch.Tensor]
    ) -> Patch:
        """Apply an element-wise ``op`` on the union of its operands' boxes (just the box when there is one)."""
        patches = [env[a] for a in operands if isinstance(a, fx.Node) and isinstance(env[a], Patch)]
        clean = self.clean[node]
        if len(patches) == 1:
            only = patches[0]
            return Patch(
                clean,
                op(
                    *[
                        only.values if isinstance(a, fx.Node) and env[a] is only else self._load(env, a)
                        for a in operands
                    ]
                ),
                only.at,
            )
        limits = clean.shape[-2:]
        lows: List[List[int]] = []
        size = [1, 1]
        for b in range(len(patches[0].at)):
            lo = [min(p.at[b][axis] for p in patches) for axis in range(2)]
            hi = [max(p.at[b][axis] + p.size[axis] for p in patches) for axis in range(2)]
            lows.append(lo)
            size = [max(size[axis], hi[axis] - lo[axis]) for axis in range(2)]
        size = [min(size[axis], limits[axis]) for axis in range(2)]
        origins: List[Box] = [(min(lo[0], limits[0] - size[0]), min(lo[1], limits[1] - size[1])) for lo in lows]
        values = [
            _region(env[a].clean, origins, (size[0], size[1]), env[a])
            if isinstance(a, fx.Node) and isinstance(env[a], Patch)
            else self._load(env, a)
            for a in operands
        ]
        return Patch(clean, op(*values), origins)

    def _windowed(self, node: fx.Node, source: Patch, window: Window) -> Optional[Patch]:
        """Recompute a window operation's output box from its input box and a halo of clean activation."""
        clean_out = self.clean[node]
        out = tuple(clean_out.shape[-2:])
        top, bottom, left, right = window.pads
        spans = [
            (_span(y + top, source.size[0], window, 0), _span(x + left, source.size[1], window, 1))
            for y, x in source.at
        ]
        size = tuple(min(out[axis], max(s[axis][1] - s[axis][0] + 1 for s in spans)) for axis in range(2))
        if size[0] * size[1] > FULL_SHARE * out[0] * out[1]:
            return None
        origins = [tuple(min(max(0, s[axis][0]), out[axis] - size[axis]) for axis in range(2)) for s in spans]
        need = [(size[a] - 1) * window.stride[a] + (window.kernel[a] - 1) * window.dilation[a] + 1 for a in range(2)]
        padded = self._padded(
            node.all_input_nodes[0],
            source.clean,
            window,
            [(o - 1) * s + (k - 1) * d + 1 for o, s, k, d in zip(out, window.stride, window.kernel, window.dilation)],
        )
        starts = [(oy * window.stride[0], ox * window.stride[1]) for oy, ox in origins]
        region = _region(padded, starts, tuple(need), source, shift=(top, left))
        values = window.run(region)
        self.macs_done += window.macs * values.shape[0] * size[0] * size[1]
        return Patch(clean_out, values, origins)

    def _padded(self, node: fx.Node, clean: torch.Tensor, window: Window, extent: Sequence[int]) -> torch.Tensor:
        """``clean`` padded as the window operation pads it, extended to ``extent`` (ceil-mode pooling reads past
        the end)."""
        top, bottom, left, right = window.pads
        bottom = max(bottom, extent[0] - clean.shape[-2] - top)
        right = max(right, extent[1] - clean.shape[-1] - left)
        key = (node, (top, bottom, left, right), window.fill)
        if key not in self.padded:
            self.padded[key] = F.pad(clean, (left, right, top, bottom), value=window.fill).contiguous(
                memory_format=_layout(clean)
            )
        return self.padded[key]


def occluded(x: torch.Tensor, fill: torch.Tensor, boxes: Sequence[Tuple[slice, slice]], size: Box) -> Patch:
    """The input of each window as a :class:`Patch`: ``x`` with ``boxes[b]`` set to ``fill``.

    Every box is read through a frame of the same ``size`` (the unclipped window, moved inside the image at
    the borders), so all windows of a chunk share one shape.
    """
    H, W = x.shape[-2:]
    at = [(min(ys.start, H - size[0]), min(xs.start, W - size[1])) for ys, xs in boxes]
    values = torch.empty((len(boxes), x.shape[1], *size), dtype=x.dtype, device=x.device, memory_format=_layout(x))
    for b, ((ys, xs), (y, x0)) in enumerate(zip(boxes, at)):
        values[b] = x[0, :, y : y + size[0], x0 : x0 + size[1]]
        values[b, :, ys.start - y : ys.stop - y, xs.start - x0 : xs.stop - x0] = fill[:, ys, xs]
    return Patch(x, values, at)
