"""The SaliencyExplorer's maps: each computed once for everything it depends on (photo, class, method, layer,
options), kept in a bounded cache, and described by a status line.

Going back to an earlier setting, or opening the compare grid after looking at one method, then costs nothing; and
since the view's traits are always derived from the cache for the *current* scene, a late result of a superseded job
is harmless.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch

from ..engine.attribution import LAYER_METHODS, METHODS, Explanation, explain_steps, get_method
from ..engine.attribution.methods import base_options
from ..engine.images import ImageError
from ..engine.layers import LayerRecord, cam_layer
from ..engine.model import Net
from .jobs import Job

CACHE_SIZE = 64
"""Maps kept per explorer (224x224 float32 maps: about 13 MB)."""

Options = Dict[str, Dict[str, Any]]
Key = Tuple[int, int, str, Optional[str], Tuple[Tuple[str, Any], ...]]


class Computed(NamedTuple):
    """One method's display map ``(H, W)`` and the status line describing it."""

    map: torch.Tensor
    note: str


@dataclass(frozen=True)
class Scene:
    """The explorer's state its maps depend on, read at one moment: the photo (its input and a number that changes
    with it), the class, the picker's layer (for the Grad-CAM family) and every method's options."""

    x: Optional[torch.Tensor]
    image_id: int
    target: int
    layer: str
    options: Options

    def key(self, method: str) -> Key:
        """Everything ``method``'s map depends on in this scene (the noise tunnel's base method's options too)."""
        layer = self.layer if method in LAYER_METHODS else None
        options = tuple(sorted(self.options.get(method, {}).items()))
        base = tuple(sorted(base_options(method, self.options).items()))
        return (self.image_id, self.target, method, layer, options + base)


@dataclass(frozen=True)
class Settings:
    """Everything one map depends on, frozen when a job is submitted (the traits may change meanwhile)."""

    key: Key
    method: str
    layer: Optional[str]
    options: Dict[str, Any]
    x: torch.Tensor
    target: int


class Maps:
    """A bounded cache of one explorer's maps, and the computing of the missing ones.

    Parameters
    ----------
    records : sequence of LayerRecord
        The model's layers, to resolve the Grad-CAM family's layer.
    forward_args : tuple
        Extra arguments of the model's forward, given to every computation.
    """

    def __init__(self, records: Sequence[LayerRecord], forward_args: Tuple[Any, ...]):
        self.records = records
        self.forward_args = forward_args
        self._cache: Dict[Key, Computed] = {}

    def get(self, key: Key) -> Optional[Computed]:
        """The map of ``key`` (see :meth:`Scene.key`) if it has been computed."""
        return self._cache.get(key)

    def clear(self) -> None:
        self._cache.clear()

    def freeze(self, net: Net, scene: Scene, method: str) -> Settings:
        """What computing ``method``'s map in ``scene`` takes, checked; raises naming the valid choices."""
        if scene.x is None:
            raise ImageError("there is no image to explain yet; load one with set_image(...) or the image picker")
        get_method(method)
        layer = cam_layer(net.model, self.records, scene.layer) if method in LAYER_METHODS else None
        options = dict(scene.options[method], method_options=base_options(method, scene.options))
        return Settings(scene.key(method), method, layer, options, scene.x, scene.target)

    def fill(self, job: Job, net: Net, wanted: List[Settings], total: int, shown: Callable[[], None]) -> None:
        """Compute ``wanted`` one after the other, calling ``shown`` as each map lands; ``total`` counts the maps
        already there too (for "3/9 Grad-CAM…")."""
        start, done = time.perf_counter(), total - len(wanted)
        for k, settings in enumerate(wanted):
            title = METHODS[settings.method].title
            label = f"{done + k + 1}/{total} {title}…" if total > 1 else f"computing {title}…"
            computed = self.compute(job, net, settings, k / len(wanted), (k + 1) / len(wanted), label)
            shown()
        summary = computed.note
        if total > 1:
            seconds = time.perf_counter() - start
            summary = f"compared {total} methods for “{net.label(wanted[0].target)}” in {seconds:.1f} s"
        job.progress(1.0, summary)

    def compute(self, job: Job, net: Net, s: Settings, low: float, high: float, label: str = "") -> Computed:
        """Compute one map (its progress spanning ``low..high`` of the job's) and keep it."""
        job.progress(low, label)
        start = time.perf_counter()
        updates = explain_steps(net, s.x, s.target, s.method, s.layer, forward_args=self.forward_args, **s.options)
        result = job.follow(updates, low, high)
        computed = Computed(result.map[0], note(net, s, result, time.perf_counter() - start))
        self._cache[s.key] = computed
        while len(self._cache) > CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        return computed


def note(net: Net, s: Settings, result: Explanation, seconds: float) -> str:
    """The status line of a finished map; integrated gradients add their completeness error, and the method's notes
    follow (e.g. guided backprop on a model without rectifiers)."""
    title, where = METHODS[s.method].title, f" at {s.layer}" if s.layer else ""
    line = f"{title}{where} for “{net.label(s.target)}” in {1000 * seconds:.0f} ms"
    if result.error is not None:
        error = float(result.error[0])
        gap = float(result.attribution[0].double().sum()) - error  # f(x) - f(baseline)
        share = f" ({abs(error / gap):.1%} of f(x)−f(baseline))" if gap else ""
        line += f"; completeness error {error:.2g}{share}"
    return "; ".join([line, *result.notes])
