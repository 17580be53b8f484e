"""What every lab check shares: its result, the copy of the network a student's function gets, and how a wrong
answer is recognised as a known mistake.

A student's function is judged on a deep copy of the network in training mode with frozen weights, never on the
person's own model object: in training mode batch norm and dropout change what the network computes, so a function
that forgets ``model.eval()`` gives other numbers, and the copy still being in training mode afterwards names the
mistake. A known mistake is recognised by computing what it would have produced (a :class:`Mistake`) and finding
the student's output close to that.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple

import torch
from torch import nn

from ..engine.model import Net

EVAL_HINT = (
    "the model was still in training mode after your function ran: call model.eval() first, or batch norm and "
    "dropout change what the network computes"
)


@dataclass(frozen=True)
class Result:
    """What a check found: whether the function passed, the number it was judged by, what that number measures
    (``detail``) and, when it failed, a hint at the mistake."""

    name: str
    passed: bool
    difference: float
    detail: str
    hint: str = ""

    def report(self) -> str:
        """The verdict as printed: ``PASS name: detail`` or ``FAIL name: detail`` and a hint line."""
        lines = [f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.detail}"]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Check:
    """One checkable assignment function: the name ``check`` takes, the function's own name (for messages) and
    ``run(fn, net)``, which judges ``fn`` on ``net`` and returns a :class:`Result`."""

    name: str
    function: str
    run: Callable[[Callable[..., Any], Net], Result]


@dataclass(frozen=True)
class Mistake:
    """A known mistake: what a function making it returns (``output``) and the hint that names it."""

    output: torch.Tensor
    hint: str


def student_model(net: Net) -> nn.Module:
    """A copy of ``net``'s module for a student's function: training mode, weights frozen (``requires_grad``
    False), so the function must switch it to eval mode itself. The network itself is not touched.

    Parameters
    ----------
    net : Net
        The network whose module is copied.
    """
    model = copy.deepcopy(net.model).train()
    model.requires_grad_(False)
    return model


def left_training(model: nn.Module) -> bool:
    """Whether any module of ``model`` is still in training mode."""
    return any(m.training for m in model.modules())


def call(fn: Callable[..., Any], *args: Any) -> Tuple[Any, Optional[str]]:
    """``fn(*args)`` and ``None``; or, when it raises, ``None`` and a sentence saying what it raised."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - whatever a student's function raises is reported, not raised
        return None, f"your function raised {type(exc).__name__}: {exc} (call it yourself to see the traceback)"


def relative_difference(output: torch.Tensor, expected: torch.Tensor) -> float:
    """``max |output - expected| / max |expected|``, ``inf`` when the shapes differ or ``output`` is not finite."""
    if output.shape != expected.shape or not torch.isfinite(output).all():
        return math.inf
    a, b = output.detach().double().cpu(), expected.detach().double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def recognise(output: torch.Tensor, mistakes: Sequence[Mistake], tolerance: float) -> Optional[str]:
    """The hint of the first mistake whose output is within ``tolerance`` of ``output``, if any."""
    return next((m.hint for m in mistakes if relative_difference(output, m.output) <= tolerance), None)


def not_a_tensor(name: str, output: Any, shape: Tuple[int, ...]) -> Optional[Result]:
    """A failed result when ``output`` is not a tensor of ``shape``, else ``None``."""
    if isinstance(output, torch.Tensor) and tuple(output.shape) == shape:
        return None
    got = f"shape {tuple(output.shape)}" if isinstance(output, torch.Tensor) else f"a {type(output).__name__}"
    return Result(name, False, math.inf, f"expected a tensor of shape {shape}, got {got}", "check what you return")
