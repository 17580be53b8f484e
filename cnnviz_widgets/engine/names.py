"""How the engine names things in a model: layers by their ``named_modules()`` dotted path (``""`` is the
model's output), units as ``"layer:channel"`` or ``"layer:channel:y:x"``, and the errors that list the valid
names when one does not exist."""

from __future__ import annotations

import difflib
from typing import List, Optional, Sequence, Tuple

from torch import nn

from .errors import LayerError

OUTPUT = ""
"""The name of the model's output (the root module's name in ``named_modules()``)."""


def list_choices(names: Sequence[str], wanted: str, limit: int = 12) -> str:
    """A short, readable list of valid names, closest matches to ``wanted`` first."""
    close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.5)
    rest = [n for n in names if n not in close]
    shown = close + rest[: max(0, limit - len(close))]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", ... ({more} more)" if more > 0 else "")


def resolve_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` in ``model.named_modules()``, or a :class:`LayerError` naming choices.

    The lookup walks the dotted path (engine calls resolve layers every time, so a whole-model scan per
    call would add up); only a failed lookup lists the modules to name the valid choices.
    """
    if isinstance(name, str) and name:
        try:
            return model.get_submodule(name)
        except AttributeError:
            pass
    valid = [n for n, _ in model.named_modules() if n]
    close = difflib.get_close_matches(str(name), valid, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    raise LayerError(f"unknown layer {name!r}; {hint}valid layers: {list_choices(valid, str(name))}")


def split_unit(spec: str) -> Optional[Tuple[str, List[int]]]:
    """The layer of a unit name and the whole numbers after it (``"layer4:12:3:3"`` -> ``("layer4", [12, 3, 3])``),
    or ``None`` when a part after the layer is not a whole number; callers check how many numbers they take."""
    layer, *parts = spec.split(":")
    try:
        return layer, [int(part) for part in parts]
    except ValueError:
        return None
