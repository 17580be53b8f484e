"""Features across training: the first layer's filters and one channel's map, checkpoint by checkpoint (Zeiler &
Fergus 2014, Fig. 4), and the one place where the engine reads a checkpoint's weights.

Given checkpoints saved while a model trained, each is loaded in turn into one private working copy of the model
(the user's model and its weights are never touched) and shown as a :class:`Snapshot`: the filters of the first
convolution as :func:`~.kernels.conv_filters` draws them, and, if a layer is asked for, one channel's activation map
on the current image. Watching the filters go from noise to edges and colour blobs shows what training does.

Checkpoints are read with ``torch.load(weights_only=True)``, which unpickles tensors and plain containers only (a
checkpoint from elsewhere cannot run code), memory-mapped where the file format allows, one file at a time. Every
checkpoint's keys and shapes are checked before the first snapshot is made, so a bad one fails before anything is
drawn.
"""

from __future__ import annotations

import copy
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .checks import check_int
from .errors import ArgumentTypeError, ImageError, LayerError, ModelError
from .hooks import capture
from .kernels import Filters, conv_filters, convolution
from .names import resolve_layer
from .progress import Update, last
from .projection import Projection, channel_projection
from .replica import ModelLike, private

Source = Union[str, os.PathLike[str], Mapping[str, torch.Tensor]]
"""A checkpoint: a file path, or a state dict in memory (``model.state_dict()``)."""
WRAPPERS = ("state_dict", "model_state_dict", "model")
"""Keys under which training scripts nest the state dict in a checkpoint (``{"state_dict": ..., "epoch": 3}``)."""
OPTIONAL = "num_batches_tracked"
"""A batch norm's step counter: old checkpoints lack it and torch keeps the model's value (eval does not use it)."""
SHOWN = 3
"""How many keys a message names of each kind."""


@dataclass(frozen=True)
class Snapshot:
    """One checkpoint as shown: its ``name``, the first convolution's ``filters`` (all of them, one page), and the
    chosen channel's activation map ``channel_map`` ``(H, W)`` (float32, CPU) with its ``strongest`` position
    ``(y, x)`` and the deconvnet ``projection`` of that activation; all three ``None`` when no layer was asked for."""

    name: str
    filters: Filters
    channel_map: Optional[torch.Tensor]
    strongest: Optional[Tuple[int, int]]
    projection: Optional[Projection] = None


def read_state(source: Source, name: str, map_location: Union[str, torch.device] = "cpu") -> Dict[str, torch.Tensor]:
    """The state dict a checkpoint holds, unwrapped from a training script's dict (:data:`WRAPPERS`) and with the
    ``"module."`` prefix of ``DataParallel`` removed.

    Parameters
    ----------
    source : str, os.PathLike or mapping
        A checkpoint file, read with ``weights_only=True`` (memory-mapped when it is in torch's zip format), or a
        state dict in memory. A whole pickled model is refused with advice to save ``model.state_dict()``.
    name : str
        The checkpoint's name in messages (its file name, its key...).
    map_location : str or torch.device
        Where a file's tensors are put.
    """
    if isinstance(source, nn.Module):
        raise ModelError(
            f"{name} is a model ({type(source).__name__}), not its weights; pass model.state_dict() (a copy, e.g. "
            "copy.deepcopy(model.state_dict()), to keep the weights of that moment) or a file saved with "
            "torch.save(model.state_dict(), path)"
        )
    if isinstance(source, (str, os.PathLike)):
        state = _load(Path(source), name, map_location)
    elif isinstance(source, Mapping):
        state = source
    else:
        raise ArgumentTypeError(
            f"{name} must be a checkpoint file's path or a state dict (model.state_dict()), got {type(source).__name__}"
        )
    for key in WRAPPERS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping):
        raise ModelError(f"{name} does not hold a state dict (found {type(state).__name__})")
    return {k[len("module.") :] if k.startswith("module.") else k: v for k, v in state.items()}


def _load(path: Path, name: str, map_location: Union[str, torch.device]) -> object:
    """What ``torch.load`` reads from ``path`` with ``weights_only=True``; errors that say what to do."""
    if not path.is_file():
        raise ModelError(f"no checkpoint file at {str(path)!r}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the file's, and gets the same advice
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found:
            raise ModelError(
                f"{name} is not a weights-only checkpoint: it holds a pickled {found.group(1)} (a whole model saved "
                "with torch.save(model)?), which is not unpickled as that could run any code. Save the weights "
                "instead, torch.save(model.state_dict(), path), and pass that file"
            ) from None
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"could not load {name} as a weights-only checkpoint ({type(exc).__name__}: {reason}); save it with "
            "torch.save(model.state_dict(), path)"
        ) from None


def check_state(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> None:
    """A :class:`ModelError` unless ``state`` has exactly ``model``'s keys with its shapes (a batch norm's
    :data:`OPTIONAL` step counter may be missing); the message names the first missing and unexpected keys and
    shape mismatches, with their counts.

    Parameters
    ----------
    model : nn.Module
        The model the weights are for (only its ``state_dict()`` keys and shapes are read).
    state : mapping
        The checkpoint's state dict, as :func:`read_state` returns it.
    name : str
        The checkpoint's name in the message.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and k.rsplit(".", 1)[-1] != OPTIONAL]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(v.shape)} in the checkpoint, {tuple(expected[k].shape)} in the model"
        for k, v in state.items()
        if k in expected
        and isinstance(v, torch.Tensor)
        and isinstance(expected[k], torch.Tensor)
        and v.shape != expected[k].shape
    ]
    problems = [
        _listed(keys, what)
        for keys, what in ((missing, "missing key"), (unexpected, "unexpected key"), (mismatched, "shape mismatch"))
        if keys
    ]
    if problems:
        raise ModelError(f"{name} does not fit the model ({type(model).__name__}): {'; '.join(problems)}")


def _listed(items: List[str], what: str) -> str:
    """``"2 missing keys: a, b"``, naming at most :data:`SHOWN` of them."""
    more = f", ... ({len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    plural = "es" if what.endswith("ch") else "s"
    return f"{len(items)} {what}{plural if len(items) > 1 else ''}: {', '.join(items[:SHOWN])}{more}"


def load_checked(model: nn.Module, state: Mapping[str, torch.Tensor], name: str) -> None:
    """Load ``state`` into ``model`` after :func:`check_state`: the engine's working copy, or the architecture
    that :func:`~.model.load_model` fills with a checkpoint (never a model the engine only looks at)."""
    check_state(model, state, name)
    model.load_state_dict(state, strict=False)


def _named(checkpoints: Union[Sequence[Source], Mapping[str, Source]]) -> List[Tuple[str, Source]]:
    """Each checkpoint with its name: a mapping's key, a file's name (its path as given if two share it), or
    ``"checkpoint i"``."""
    if isinstance(checkpoints, Mapping):
        if any(isinstance(v, torch.Tensor) for v in checkpoints.values()):
            raise ArgumentTypeError(
                "checkpoints is a single state dict; pass a list of checkpoints, or a dict of name -> checkpoint"
            )
        return [(str(k), v) for k, v in checkpoints.items()]
    if isinstance(checkpoints, (str, os.PathLike)) or not isinstance(checkpoints, Sequence):
        raise ArgumentTypeError(
            "checkpoints must be a list of checkpoint files or state dicts, or a dict of name -> checkpoint; "
            f"got {type(checkpoints).__name__}"
        )
    files = [Path(s).name for s in checkpoints if isinstance(s, (str, os.PathLike))]
    named: List[Tuple[str, Source]] = []
    for i, source in enumerate(checkpoints):
        if isinstance(source, (str, os.PathLike)):
            file = Path(source).name
            named.append((file if files.count(file) == 1 else str(source), source))
        else:
            named.append((f"checkpoint {i}", source))
    return named


def checked_checkpoints(
    model: nn.Module, checkpoints: Union[Sequence[Source], Mapping[str, Source]]
) -> List[Tuple[str, Source]]:
    """The checkpoints with their names (see :func:`across_training_steps`), each checked against ``model``'s keys
    and shapes, one in memory at a time: a bad one raises before anything is shown.

    Parameters
    ----------
    model : nn.Module
        The network (only its ``state_dict()`` keys and shapes are read).
    checkpoints : sequence or mapping of str, os.PathLike or state dict
        As for :func:`across_training_steps`.
    """
    named = _named(checkpoints)
    if not named:
        raise ArgumentTypeError("checkpoints is empty; pass at least one checkpoint file or state dict")
    for name, source in named:
        check_state(model, read_state(source, name), name)
    return named


def _first_conv(model: nn.Module, first: Optional[str]) -> str:
    """``first`` if it names a convolution (else the error listing them), or the first ``nn.Conv2d`` in module order."""
    if first is not None:
        convolution(model, first)
        return first
    name = next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if name is None:
        raise LayerError("the model has no convolution (nn.Conv2d) whose filters could be shown")
    return name


def _one_image(x: object) -> torch.Tensor:
    """``x`` if it is one image ``(1, C, H, W)``; else an :class:`ImageError` saying so."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ImageError(f"the channel maps are of one image, shape (1, C, H, W); got {got}")
    return x


def _channel_map(model: nn.Module, layer: str, x: torch.Tensor, channel: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Channel ``channel`` of ``layer``'s output for ``x`` in ``model`` (the engine's working copy) and where it
    is strongest."""
    with torch.no_grad(), capture(model, [layer]) as record:
        model(x)
    out = record[layer]
    if out.dim() != 4:
        raise LayerError(f"layer {layer!r} makes shape {tuple(out.shape)}, not maps (1, C, H, W); pick a conv layer")
    channel = check_int("channel", channel, 0, out.shape[1] - 1, error=LayerError)
    fmap = out[0, channel].float().cpu()
    row, col = divmod(int(fmap.argmax()), fmap.shape[1])
    return fmap, (row, col)


def across_training_steps(
    model: ModelLike,
    x: Optional[torch.Tensor],
    checkpoints: Union[Sequence[Source], Mapping[str, Source]],
    layer: Optional[str] = None,
    channel: int = 0,
    first: Optional[str] = None,
) -> Iterator[Update[List[Snapshot]]]:
    """Show each checkpoint in turn (see the module's docstring); an update after each, with the snapshots so far.

    Parameters
    ----------
    model : nn.Module or Net
        The network the checkpoints were saved from (never modified: the checkpoints are loaded into one deep
        copy of it, which is all the memory this takes besides one checkpoint at a time).
    x : torch.Tensor or None
        One normalised image ``(1, C, H, W)`` on the model's device, for the channel maps (unused without
        ``layer``).
    checkpoints : sequence or mapping of str, os.PathLike or state dict
        In training order: files (named by their file name), state dicts in memory (named ``"checkpoint i"``), or
        a dict of name -> either. All are checked against the model before the first snapshot.
    layer : str, optional
        Dotted name of the layer whose channel map is shown; ``None``: filters only.
    channel : int
        The channel of ``layer`` shown.
    first : str, optional
        The convolution whose filters are shown; by default the first ``nn.Conv2d`` in module order.
    """
    shown = None if layer is None else (layer, _one_image(x))
    with private(model) as shared:  # the engine's lock only for the copy; the copy is this call's alone
        work = copy.deepcopy(shared)
    first = _first_conv(work, first)
    if shown is not None:
        resolve_layer(work, shown[0])
    named = checked_checkpoints(work, checkpoints)
    snapshots: List[Snapshot] = []
    for i, (name, source) in enumerate(named):
        state = read_state(source, name)
        load_checked(work, state, name)
        del state
        filters = conv_filters(work, first, per_page=min(convolution(work, first).out_channels, 4096))
        if shown is None:
            snapshots.append(Snapshot(name, filters, None, None))
        else:
            fmap, strongest = _channel_map(work, *shown, channel)
            projected = channel_projection(work, shown[1], shown[0], channel, position=strongest)
            snapshots.append(Snapshot(name, filters, fmap, strongest, projected))
        yield Update((i + 1) / len(named), list(snapshots))


def across_training(
    model: ModelLike,
    x: Optional[torch.Tensor],
    checkpoints: Union[Sequence[Source], Mapping[str, Source]],
    layer: Optional[str] = None,
    channel: int = 0,
    first: Optional[str] = None,
) -> List[Snapshot]:
    """:func:`across_training_steps` run to the end: one :class:`Snapshot` per checkpoint, in order; parameters as
    there."""
    return last(across_training_steps(model, x, checkpoints, layer, channel, first))
