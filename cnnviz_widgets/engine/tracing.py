"""A model's ``torch.fx`` graph, traced once per model and module tree, for the engine's graph rewrites
(occlusion's incremental replay, feature visualisation's truncated and fused copy)."""
from __future__ import annotations

import weakref
from typing import Dict, Tuple

import torch.fx as fx
from torch import nn
from torch.nn.modules.module import _global_forward_hooks, _global_forward_pre_hooks

_GRAPHS: "weakref.WeakKeyDictionary[nn.Module, Tuple[Tuple[Tuple[str, int], ...], fx.Graph]]" = weakref.WeakKeyDictionary()


def traced(model: nn.Module, modules: Dict[str, nn.Module]) -> fx.Graph:
    """The graph of ``model`` (``modules`` is its ``dict(named_modules())``); do not mutate it, copy it.

    Tracing patches ``nn.Module.__call__`` process-wide for its duration, so it is done as rarely as possible
    (the caller holds the model's engine lock, which keeps this package's other calls on the model out).
    Raises whatever ``symbolic_trace`` raises for models it cannot follow (data-dependent control flow).
    """
    tree = tuple((name, id(module)) for name, module in modules.items())
    cached = _GRAPHS.get(model)
    if cached is None or cached[0] != tree:
        cached = _GRAPHS[model] = (tree, fx.symbolic_trace(model).graph)
    return cached[1]


def hook_free(model: nn.Module) -> bool:
    """Whether running the graph sees exactly what the model's forward does: no forward hooks anywhere."""
    if _global_forward_hooks or _global_forward_pre_hooks:
        return False
    return not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
