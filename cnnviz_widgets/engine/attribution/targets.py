"""What an attribution explains: a class logit, a score computed from the logits, or a hidden unit.

A target is turned into one differentiable score per image by :func:`scoring`, which every method calls, so
each method handles every kind of target, and the model's extra forward arguments (:class:`ForwardArgs`), the
same way.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..errors import AttributionError, CnnvizError
from ..hooks import Capture, capture
from ..inputs import check_finite, class_indices, class_scores
from ..names import resolve_layer, split_unit
from ..replica import logits_expected

Target = Union[int, Sequence[int], torch.Tensor, Callable[[torch.Tensor], torch.Tensor], str]


@dataclass(frozen=True)
class Unit:
    """A hidden unit: channel ``channel`` of layer ``layer``, averaged over space unless ``y, x`` are given."""

    layer: str
    channel: int
    y: Optional[int] = None
    x: Optional[int] = None

    @classmethod
    def parse(cls, model: nn.Module, spec: str) -> "Unit":
        """Read ``"layer:channel"`` or ``"layer:channel:y:x"``; the layer must exist in ``model``."""
        parsed = split_unit(spec)
        if parsed is None or len(parsed[1]) not in (1, 3):
            raise AttributionError(
                f"unit target {spec!r} is not 'layer:channel' or 'layer:channel:y:x' "
                "(e.g. 'layer4:12' or 'layer4:12:3:3')"
            )
        layer, numbers = parsed
        resolve_layer(model, layer)
        return cls(layer, *numbers)

    def score(self, act: torch.Tensor) -> torch.Tensor:
        """This unit's activation per image, shape ``(N,)``; a clear error when it is out of range."""
        if act.dim() not in (2, 4):
            raise AttributionError(
                f"layer {self.layer!r} gives shape {tuple(act.shape[1:])}; a unit needs a (C,) or (C, H, W) output"
            )
        channels = act.shape[1]
        if not 0 <= self.channel < channels:
            raise AttributionError(
                f"channel {self.channel} is out of range; {self.layer!r} has {channels} channels (0..{channels - 1})"
            )
        if self.y is None:
            return act[:, self.channel].reshape(act.shape[0], -1).mean(dim=1)
        if act.dim() != 4:
            raise AttributionError(f"layer {self.layer!r} has no spatial positions; use '{self.layer}:{self.channel}'")
        h, w = act.shape[-2:]
        assert self.x is not None, "a unit's position has both y and x"
        if not (0 <= self.y < h and 0 <= self.x < w):
            raise AttributionError(
                f"position ({self.y}, {self.x}) is outside {self.layer!r}'s {h}x{w} map (y 0..{h - 1}, x 0..{w - 1})"
            )
        return act[:, self.channel, self.y, self.x]


def repeat_target(target: Target, images: int, copies: int) -> Target:
    """The target for a batch where every image is repeated ``copies`` times in a row (noise samples, IG steps)."""
    if callable(target) or isinstance(target, str) or copies == 1:
        return target
    idx = class_indices(target)
    if idx.numel() == 1:
        return target
    if idx.numel() != images:
        raise AttributionError(f"got {idx.numel()} targets for a batch of {images}; give one class or one per image")
    return idx.reshape(-1).repeat_interleave(copies)


class ForwardArgs:
    """Extra positional arguments of the model's forward, passed after the image batch (captum's
    ``additional_forward_args``).

    A tensor whose first dimension is the batch size ``images`` belongs to the batch: row ``i`` of the virtual
    batch a method runs (each image repeated ``copies`` times in a row: IG's path points, noise samples) gets
    its row ``i // copies``, so chunked work stays aligned. Anything else (numbers, strings, tensors of another
    shape) is passed whole to every forward call.

    Parameters
    ----------
    values : tuple
        The arguments; ``None`` is none, and a value that is not a tuple is one argument (as in captum).
    images : int
        Batch size of the input the arguments go with.
    copies : int
        Rows per image in the virtual batch.
    """

    def __init__(self, values: Any, images: int, copies: int = 1) -> None:
        self.values: Tuple[Any, ...] = () if values is None else values if isinstance(values, tuple) else (values,)
        self.images = images
        self.copies = copies
        self.batched = tuple(isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape[0] == images for v in self.values)

    def repeat(self, copies: int) -> "ForwardArgs":
        """The arguments for a batch where every row of this one is repeated ``copies`` times in a row."""
        return ForwardArgs(self.values, self.images, self.copies * copies)

    def rows(self, rows: slice = slice(None)) -> Tuple[Any, ...]:
        """The arguments for the rows ``rows`` of the virtual batch."""
        if not any(self.batched):
            return self.values
        if self.copies == 1:
            return tuple(v[rows] if b else v for v, b in zip(self.values, self.batched))
        index = torch.arange(*rows.indices(self.images * self.copies)) // self.copies
        return tuple(v[index.to(v.device)] if b else v for v, b in zip(self.values, self.batched))

    def call(self, model: nn.Module, inputs: torch.Tensor, rows: slice = slice(None)) -> Any:
        """``model(inputs, *args)`` for the rows ``rows``; a failure that a tensor argument not of the batch's
        size may explain gets a message saying how arguments go with the batch."""
        try:
            return model(inputs, *self.rows(rows))
        except CnnvizError:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            odd = [
                f"forward_args[{i}] has shape {tuple(v.shape)}"
                for i, (v, b) in enumerate(zip(self.values, self.batched))
                if isinstance(v, torch.Tensor) and v.dim() > 0 and not b
            ]
            if not odd:
                raise
            raise AttributionError(
                f"the model failed on its forward_args: {'; '.join(odd)}, but the input's batch size is {self.images}. "
                "A tensor whose first dimension is the batch size is split with the batch (one row per image); "
                f"anything else is passed whole. The model said: {exc}"
            ) from exc


@contextmanager
def scoring(
    model: nn.Module,
    target: Target,
    layers: Sequence[str] = (),
    *,
    cut: bool = False,
    forward_args: Optional[ForwardArgs] = None,
) -> Iterator[Tuple[Callable, Capture]]:
    """Hook ``layers`` (and a unit target's layer) and yield ``score(inputs, rows) -> (N,)`` plus the capture.

    ``score`` runs the model and reduces its output to one number per image for ``target``; ``rows`` says
    which rows of the virtual batch ``inputs`` holds (chunked work), for a class per image and for
    ``forward_args``, the model's extra arguments. The capture holds the hooked layers' outputs of the last
    call, for methods that need activations (Grad-CAM). With ``cut``, those outputs are leaves that stop
    backward (see :func:`~cnnviz_widgets.engine.hooks.capture`).
    """
    unit = Unit.parse(model, target) if isinstance(target, str) else None
    classes = None if unit is not None or callable(target) else class_indices(target)
    extra = forward_args if forward_args is not None else ForwardArgs((), 0)
    for name in layers:
        resolve_layer(model, name)
    names = list(dict.fromkeys([*layers, *([unit.layer] if unit else [])]))
    with capture(model, names, leaves=layers if cut else ()) as record:

        def score(inputs: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
            for calls in record.outputs.values():
                calls.clear()
            out = extra.call(model, inputs, rows)
            if not isinstance(out, torch.Tensor):
                raise AttributionError(logits_expected(out))
            check_finite(out, "logits" if unit is None else "outputs")
            if unit is not None:
                return unit.score(record[unit.layer])
            if callable(target):
                values = target(out)
                if not isinstance(values, torch.Tensor) or values.shape != (inputs.shape[0],):
                    raise AttributionError(
                        f"a callable target must map logits {tuple(out.shape)} to one score per image, shape "
                        f"({inputs.shape[0]},); got {getattr(values, 'shape', type(values).__name__)}"
                    )
                return values
            assert classes is not None  # unit and callable targets have returned above
            return class_scores(out, classes if classes.numel() == 1 else classes[rows])

        yield score, record
