"""A model's ``torch.fx`` graph, traced once per model and module tree, for the engine's graph rewrites
(occlusion's incremental replay, feature visualisation's truncated and fused copy)."""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Dict, Tuple

import torch.fx as fx
from torch import nn
from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks

_GRAPHS: "weakref.WeakKeyDictionary[nn.Module, Tuple[Tuple[Tuple[str, int], ...], fx.Graph]]" = (
    weakref.WeakKeyDictionary()
)


class _ThreadTracer(fx.Tracer):
    """``fx.Tracer`` that leaves other threads alone.

    Tracing patches ``nn.Module.__call__`` and ``__getattr__`` process-wide while it runs; a forward pass in
    another thread (the person training their model while a view traces its replica) would otherwise be
    recorded into our graph or fail with "module is not installed as a submodule". Calls from other threads
    go straight to the module.
    """

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def call_module(
        self, m: nn.Module, forward: Callable[..., Any], args: Tuple[Any, ...], kwargs: Dict[str, Any]
    ) -> Any:
        if threading.get_ident() != self.thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: Dict[str, Any]) -> Any:
        if threading.get_ident() != self.thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def traced(model: nn.Module, modules: Dict[str, nn.Module]) -> fx.Graph:
    """The graph of ``model`` (``modules`` is its ``dict(named_modules())``); do not mutate it, copy it.

    ``model`` is the engine's replica (the caller holds its lock). Raises whatever tracing raises for models
    it cannot follow (data-dependent control flow).
    """
    tree = tuple((name, id(module)) for name, module in modules.items())
    cached = _GRAPHS.get(model)
    if cached is None or cached[0] != tree:
        cached = _GRAPHS[model] = (tree, _ThreadTracer().trace(model))
    return cached[1]


def hook_free(model: nn.Module) -> bool:
    """Whether running the graph sees exactly what the model's forward does: no forward hooks anywhere."""
    if _global_forward_hooks or _global_forward_pre_hooks:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
