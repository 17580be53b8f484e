"""``cw.labs.check(name, fn)``: run a student's function on fixed inputs, print PASS or FAIL with the number it
was judged by and a hint, and return the :class:`~.judging.Result`.

The registry holds one :class:`~.judging.Check` per assignment function; an assignment module lists its own
(``network_visualization.CHECKS``) and adds them here, so a new lab adds one tuple.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Union

import torch
from torch import nn

from ..engine.checks import check_choice
from ..engine.errors import ArgumentTypeError, SettingError
from ..engine.model import Net
from . import network_visualization, style_transfer
from .judging import Check, Result
from .pictures import default_net

CHECKS: Dict[str, Check] = {c.name: c for c in (*network_visualization.CHECKS, *style_transfer.CHECKS)}
"""Every check by the name :func:`check` takes."""


def check(name: str, fn: Callable[..., Any], *, net: Optional[Union[Net, nn.Module]] = None) -> Result:
    """Check a student's function against the reference, print the verdict and return it.

    Parameters
    ----------
    name : str
        Which function: one of :data:`CHECKS` (``"saliency"``, ``"fooling"``, ``"class_visualization"``; for style
        transfer ``"content_loss"``, ``"gram_matrix"``, ``"style_loss"``, ``"tv_loss"``).
    fn : callable
        The student's function, with the assignment's signature. It gets a copy of the network in training mode
        with frozen weights (see :func:`~.judging.student_model`), or copies of the fixed tensors it works on; the
        network itself is never changed.
    net : Net or nn.Module, optional
        The network to check on (its module must return logits); by default the offline default model.
    """
    name = check_choice("name", name, list(CHECKS), error=SettingError)
    if not callable(fn):
        raise ArgumentTypeError(f"fn must be your function, e.g. check({name!r}, {CHECKS[name].function}); got {fn!r}")
    if net is None:
        net = default_net()
    elif isinstance(net, nn.Module):
        net = Net(net)
    with torch.enable_grad():
        result = CHECKS[name].run(fn, net)
    print(result.report())
    return result
