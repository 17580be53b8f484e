"""The engine's private replica of a user's model: the same module tree over the same weight storage, with
flags and hooks of its own.

Views run engine calls in background threads while the person trains or evaluates the same model in other
cells, so the engine never registers a hook on, or flips a flag of, the user's modules, not even for a moment.
Every call runs on a replica instead: a shallow copy of each module whose parameters and buffers are new
tensor objects over the user's storage. In-place weight updates (an optimiser step, ``load_state_dict``) show
at once and cost no memory, while the replica stays in eval mode with frozen weights (``requires_grad``
belongs to the tensor object, so the user's flags are never touched) and the engine's hooks live on its
modules only. The replica's tensors have their own version counters, so a weight update in another thread
never makes one of our backward passes fail.

The replica carries the user's forward hooks (they may change what the model computes), not their backward
hooks (gradient observers must not see our passes). It is cached per model and rebuilt when the tree changes:
a module, parameter or buffer replaced, moved to another device or dtype, an attribute rebound (a flag the
forward reads), a forward hook added or removed. Mutable attributes (a list, a config object) are shared.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Generator,
    Hashable,
    Iterator,
    List,
    Optional,
    Protocol,
    Tuple,
    TypeVar,
    Union,
)

import torch
from torch import nn

from .errors import ArgumentTypeError

if TYPE_CHECKING:  # typing has them from Python 3.10; annotations only, so 3.9 never imports them
    from typing import Concatenate, ParamSpec

    P = ParamSpec("P")

_FORWARD_HOOKS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
)
"""Hook tables a replica copies: forward hooks belong to what the model computes."""
_OTHER_HOOKS = ("_backward_hooks", "_backward_pre_hooks")
"""Hook tables a replica starts empty: the user's gradient observers must not see the engine's passes."""


@dataclass
class Replica:
    """A user model's replica, the signature of the tree it was made from, and the lock that keeps the
    engine's own calls on it apart (their hooks would otherwise see each other's forward passes)."""

    module: nn.Module
    signature: Tuple[Hashable, ...]
    sources: List[torch.Tensor]
    lock: threading.RLock = field(default_factory=threading.RLock)


Output = Optional[Callable[[Any], torch.Tensor]]
"""A selector of the logits in what a model returns (``lambda out: out["logits"]``), or None for a tensor."""


class Wrapped(Protocol):
    """What the engine accepts besides a module: a ``Net``, i.e. a module with an output selector."""

    model: nn.Module
    output: Output


ModelLike = Union[nn.Module, Wrapped]
_REPLICAS: "weakref.WeakKeyDictionary[nn.Module, Dict[Output, Replica]]" = weakref.WeakKeyDictionary()
_MARK = "_cnnviz_replica"
"""Attribute of a replica's root: a weak reference to its record, so an inner engine call handed the replica
uses it as it is (weak: the record, kept by the user's model, owns the replica, not the other way round)."""
_GUARD = threading.Lock()
R = TypeVar("R")
T = TypeVar("T", bound=torch.Tensor)
Y = TypeVar("Y")


def _signature(model: nn.Module) -> Tuple[Hashable, ...]:
    """What a replica depends on: every module, its plain attributes (the replica's shallow copy holds the
    values, so their ids cannot be reused), the storage of every parameter and buffer (a new object, device or
    dtype means new storage), and the forward hooks. It runs on every engine call, so it is one walk over the
    module dicts that keeps ids and pointers only (0.3 ms on EfficientNet-Lite0)."""
    out: List[Hashable] = []
    add = out.append
    seen, stack = set(), [model]
    while stack:
        module = stack.pop()
        if module is None or id(module) in seen:
            continue
        seen.add(id(module))
        table = module.__dict__
        add(id(module))
        add(tuple(map(id, table.values())))  # an attribute rebound: a flag or a number the forward reads
        for t in table["_parameters"].values():
            add(0 if t is None else t.data_ptr())
        for t in table["_buffers"].values():
            add(0 if t is None else t.data_ptr())
        for name in _FORWARD_HOOKS:
            hooks = table.get(name)
            if hooks:
                add((name, *hooks))
        stack.extend(table["_modules"].values())
    return tuple(out)


def _build(model: nn.Module, output: Output) -> Tuple[nn.Module, List[torch.Tensor]]:
    """The replica of ``model`` and the user's tensors it aliases (tied modules and weights stay tied); with an
    ``output`` selector, the replica's forward returns ``output(model's output)``."""
    memo: Dict[int, Any] = {}
    sources: List[torch.Tensor] = []

    def alias(t: T, parameter: bool) -> T:
        if id(t) not in memo:
            sources.append(t)
            view = t.data  # same storage, a new tensor object with its own version counter, no grad
            memo[id(t)] = nn.Parameter(view, requires_grad=False) if parameter else view
        return memo[id(t)]

    def copy(module: nn.Module) -> nn.Module:
        if id(module) in memo:
            return memo[id(module)]
        twin = object.__new__(type(module))  # the same class (GraphModules have one per instance)
        twin.__dict__.update(module.__dict__)
        memo[id(module)] = twin
        twin._parameters = {k: None if p is None else alias(p, True) for k, p in module._parameters.items()}
        twin._buffers = {k: None if b is None else alias(b, False) for k, b in module._buffers.items()}
        twin._modules = {k: None if c is None else copy(c) for k, c in module._modules.items()}
        for name in _FORWARD_HOOKS + _OTHER_HOOKS:
            if name in module.__dict__:
                twin.__dict__[name] = OrderedDict(module.__dict__[name]) if name in _FORWARD_HOOKS else OrderedDict()
        if "_non_persistent_buffers_set" in module.__dict__:
            twin._non_persistent_buffers_set = set(module._non_persistent_buffers_set)
        twin.training = False
        return twin

    root = copy(model)
    if output is not None:
        base = type(root)

        def forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
            return output(base.forward(self, *args, **kwargs))

        # A subclass of the user's class for this replica alone (fx traces ``type(root).forward``).
        root.__class__ = type(base.__name__, (base,), {"forward": forward, "__module__": base.__module__})
    return root, sources


def _unwrap(model: ModelLike) -> Tuple[nn.Module, Output]:
    """The module and output selector of a module or a ``Net``; an error naming what is accepted otherwise."""
    if isinstance(model, nn.Module):
        return model, None
    inner = getattr(model, "model", None)
    if not isinstance(inner, nn.Module):
        raise ArgumentTypeError(f"expected a torch.nn.Module or a cnnviz_widgets Net, got {type(model).__name__}")
    return inner, getattr(model, "output", None)


def _owner(module: nn.Module) -> Optional[Replica]:
    """The record of ``module`` if it is a live replica (a deep copy of one carries the mark but is not one)."""
    ref = module.__dict__.get(_MARK)
    record = ref() if ref is not None else None
    return record if record is not None and record.module is module else None


def _record(model: ModelLike) -> Replica:
    """The current replica record of ``model`` (``model`` itself when it is a replica), rebuilt if stale."""
    module, output = _unwrap(model)
    own = _owner(module)
    if own is not None:
        return own
    signature = _signature(module)
    with _GUARD:
        records = _REPLICAS.setdefault(module, {})
        record = records.get(output)
        if record is None or record.signature != signature:
            twin, tensors = _build(module, output)
            record = records[output] = Replica(twin, signature, tensors)
            twin.__dict__[_MARK] = weakref.ref(record)
        return record


def replica(model: ModelLike) -> nn.Module:
    """The engine's private replica of ``model`` (see the module docstring); ``model`` itself if it is one.

    Parameters
    ----------
    model : nn.Module or Net
        The user's model; a ``Net``'s output selector makes the replica return logits.
    """
    return _record(model).module


def sources(module: nn.Module) -> List[torch.Tensor]:
    """The user's parameters and buffers behind a replica (a plain module's own): whose version counters say
    whether the weights changed since a derived copy was made."""
    own = _owner(module)
    return own.sources if own is not None else [*module.parameters(), *module.buffers()]


@contextmanager
def private(model: ModelLike) -> Iterator[nn.Module]:
    """Run an engine call on ``model``'s replica: held against the engine's other calls on it, with autograd
    on even inside the caller's ``torch.no_grad()`` or ``torch.inference_mode()`` block.

    Parameters
    ----------
    model : nn.Module or Net
        The user's model (never modified; a ``Net``'s output selector applies), or a replica handed down by an
        outer engine call.
    """
    record = _record(model)
    with record.lock, torch.inference_mode(False), torch.enable_grad():
        yield record.module


def on_replica(fn: Callable[Concatenate[nn.Module, P], R]) -> Callable[Concatenate[ModelLike, P], R]:
    """Decorate an engine function whose first argument is the model (a module or a ``Net``): its body runs
    under :func:`private`, on the replica. Nested engine calls get the replica and use it as it is."""

    @functools.wraps(fn)
    def run(model: ModelLike, *args: P.args, **kwargs: P.kwargs) -> R:
        with private(model) as twin:
            return fn(twin, *args, **kwargs)

    return run


def steps_on_replica(
    fn: Callable[Concatenate[nn.Module, P], Iterator[Y]],
) -> Callable[Concatenate[ModelLike, P], Generator[Y, None, None]]:
    """Decorate a long engine call, a generator function whose first argument is the model: its body runs on
    the replica, under :func:`private` while it computes, and between two updates the engine's lock is released
    and autograd's mode is the caller's again (the body must not yield inside hooks of its own).

    Closing the generator, or dropping it, runs the body's ``finally`` blocks under :func:`private` too.
    """

    @functools.wraps(fn)
    def run(model: ModelLike, *args: P.args, **kwargs: P.kwargs) -> Generator[Y, None, None]:
        twin = replica(model)
        steps = fn(twin, *args, **kwargs)
        try:
            while True:
                with private(twin):
                    try:
                        update = next(steps)
                    except StopIteration:
                        return
                yield update
        finally:
            close = getattr(steps, "close", None)  # a generator's: runs its ``finally`` blocks
            if close is not None:
                with private(twin):
                    close()

    return run


def logits_expected(out: Any, shape: str = "(N, classes)") -> str:
    """The message for a model output that is not a logits tensor of ``shape``; for a tuple, dict or other
    object it says how to select the logits."""
    if isinstance(out, torch.Tensor):
        return f"expected the model to return logits of shape {shape}, got {tuple(out.shape)}"
    return (
        f"expected the model to return a tensor of logits {shape}, got a {type(out).__name__}; say which part "
        "holds the logits with cw.Net(model, output=lambda out: out[0]) (or out['logits'], out.logits) and pass "
        "the Net"
    )
