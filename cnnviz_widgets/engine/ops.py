"""One table of the operations the engine's graph walks understand, and how their arguments are read.

Four walks look inside a model: receptive fields (:mod:`.layers`, every torch call of a probing pass), the
linear steps to a convolution (:mod:`.chain`, the same kind of pass), the fast copy of feature visualisation
(:mod:`.truncated`, its ``torch.fx`` graph) and occlusion's incremental replay (:mod:`.occlusion.incremental`).
They share the groups below (element-wise, binary, rectifier, convolution, pooling, padding) and read a call's
arguments by binding them to the function's signature, so a keyword or positional spelling reads the same
everywhere.
"""

from __future__ import annotations

import inspect
import operator
from typing import Any, Callable, Dict, Sequence, Tuple, Type

import torch
import torch.nn.functional as F
from torch import nn

ELEMENTWISE_MODULES: Tuple[Type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.Hardtanh,
    nn.LeakyReLU,
    nn.ELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.GELU,
    nn.Mish,
    nn.Softplus,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
)
"""Modules that work value by value in eval mode (each output value depends on its input value only)."""
ELEMENTWISE_FUNCTIONS = frozenset(
    {
        F.relu,
        torch.relu,
        F.relu6,
        F.hardtanh,
        F.leaky_relu,
        F.elu,
        F.silu,
        torch.sigmoid,
        F.sigmoid,
        torch.tanh,
        F.hardswish,
        F.hardsigmoid,
        F.gelu,
        F.mish,
        torch.clamp,
    }
)
"""Functions that work value by value (their other arguments are numbers, or broadcast constants)."""
ELEMENTWISE_METHODS = frozenset({"relu", "sigmoid", "tanh", "clamp", "clamp_min"})
"""Tensor methods that work value by value."""
BINARY_FUNCTIONS: Dict[Callable[..., Any], Callable[..., torch.Tensor]] = {
    operator.add: torch.add,
    operator.iadd: torch.add,
    torch.add: torch.add,
    operator.sub: torch.sub,
    operator.isub: torch.sub,
    torch.sub: torch.sub,
    operator.mul: torch.mul,
    operator.imul: torch.mul,
    torch.mul: torch.mul,
    operator.truediv: torch.div,
    operator.itruediv: torch.div,
    torch.div: torch.div,
}
"""Binary element-wise functions, each with its out-of-place torch form (a rewritten value is a new tensor)."""
BINARY_METHODS: Dict[str, Callable[..., torch.Tensor]] = {
    "add": torch.add,
    "add_": torch.add,
    "mul": torch.mul,
    "mul_": torch.mul,
    "sub": torch.sub,
}
"""Binary element-wise tensor methods, with their out-of-place torch form."""
RECTIFIER_MODULES: Tuple[Type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)
RECTIFIER_FUNCTIONS = frozenset({F.relu, torch.relu, F.relu6})
"""Monotonic rectifiers: a max pool gives the same result before or after them."""
CONV_FUNCTIONS = frozenset({F.conv2d, torch.conv2d})
MAX_POOL_FUNCTIONS = frozenset({F.max_pool2d, torch.max_pool2d})


def _conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1): ...
def _max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False): ...
def _avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
): ...
def _lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False): ...
def _pad(input, pad, mode="constant", value=None): ...
def _constant_pad_nd(input, pad, value=0): ...
def _batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5): ...


SIGNATURES: Dict[str, inspect.Signature] = {
    "conv2d": inspect.signature(_conv2d),
    "max_pool2d": inspect.signature(_max_pool2d),
    "max_pool2d_with_indices": inspect.signature(_max_pool2d),
    "avg_pool2d": inspect.signature(_avg_pool2d),
    "lp_pool2d": inspect.signature(_lp_pool2d),
    "pad": inspect.signature(_pad),
    "constant_pad_nd": inspect.signature(_constant_pad_nd),
    "batch_norm": inspect.signature(_batch_norm),
}
"""The argument names and defaults of the window, padding and batch norm functions, by their ``__name__``."""


def bind(kind: str, args: Sequence[Any], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Every argument of a call of the function named ``kind`` (a key of :data:`SIGNATURES`) by name, defaults
    filled in, however the call spelled them.

    Parameters
    ----------
    kind : str
        ``"conv2d"``, ``"max_pool2d"``, ``"avg_pool2d"``, ``"lp_pool2d"``, ``"pad"``, ``"constant_pad_nd"`` or
        ``"batch_norm"`` (``F.batch_norm``'s order, not ``torch.batch_norm``'s).
    args, kwargs
        The call's positional and keyword arguments.
    """
    bound = SIGNATURES[kind].bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def pair(value: Any) -> Tuple[Any, Any]:
    """A per-axis (height, width) argument as a pair: a number for both axes, or a sequence of one or two."""
    if isinstance(value, (list, tuple)):
        return (value[0], value[-1]) if len(value) in (1, 2) else (value[0], value[1])
    return (value, value)


def int_pair(value: Any) -> Tuple[int, int]:
    """:func:`pair` of whole numbers."""
    first, second = pair(value)
    return int(first), int(second)


def pool_stride(stride: Any, kernel: Tuple[Any, Any]) -> Tuple[Any, Any]:
    """A pooling call's stride as a pair: the kernel's size when it is left out (``None`` or empty)."""
    return kernel if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else pair(stride)
