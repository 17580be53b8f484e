"""``scan``: one pass over a dataset that records what the dataset views need, for every layer at once.

Per batch, one forward pass on the model's private replica keeps (see :mod:`.recorder`): the top-k items of every
channel of the patch layers, the pooled feature vectors of the embedding layers and of the raw pixels, and the
model's top-1 prediction. Decoding runs in ``DataLoader`` workers (in the scan's own process on a CPU of two
cores), the batch size follows a memory budget (on a CPU, also the processor's cache), and
after every batch an :class:`~..progress.Update` carries the share done and the partial :class:`Scan`, so the
caller can stop between any two batches. A cached scan (:mod:`.cache`) is reopened without a forward pass, and a
stopped one resumes with the items it had not scanned. ``backend="ray"`` runs the batches as Ray tasks
(:mod:`.sharded`) with exactly the same result.

Every update also makes its scan the model's latest (:func:`latest_scan`), so a view of the same model (the feature
visualiser's dataset examples) finds it without being handed it. The registry holds the model weakly: it never keeps
a model, or the scans of a model that is gone, alive.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Generator, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from torch import nn

from ..checks import check_bool, check_choice, check_int
from ..errors import ArgumentTypeError, ScanError
from ..model import Net
from ..progress import Update
from . import cache as disk
from .features import FEATURE_BUDGET_BYTES, FeatureStore
from .recorder import SCAN_BUDGET_BYTES, Part, Plan, make_plan, parts
from .sources import Source, as_source
from .topk import TopK

BACKENDS = ("local", "ray")
SAVE_EVERY_S = 20.0
"""Seconds between two saves of a running scan's partial state (it is also saved when the scan stops)."""
_LATEST: "weakref.WeakKeyDictionary[nn.Module, weakref.ref[Scan]]" = weakref.WeakKeyDictionary()
"""The user's model (a :class:`Net`'s ``model``) -> its most recent scan, partial while it runs; both held weakly,
so the registry keeps neither a model nor a scan (its tables, its open files) alive."""
_LATEST_LOCK = threading.Lock()
FEW_CORES = 2
"""A CPU scan on this many cores or fewer decodes in the scan's own process, without a worker (on 2 cores,
EfficientNet-Lite0 scans 56 images/s so and 48 with a worker; ResNet-18 58 and 50: benchmarks/bench_scan.py)."""


@dataclass
class Scan:
    """What a scan recorded (a partial one while it runs: see ``scanned``).

    ``layers`` have top-k patches (``top[layer]``, see :class:`~.topk.TopK`); ``embed`` layers have pooled
    feature vectors, ``features[layer]`` ``(N, D)`` float32 (a ``np.memmap`` beyond the memory budget), as does
    ``"pixels"``, the model's input averaged down to 32 x 32 and flattened. Per item: ``names``, ``labels``
    (-1 unknown, ``classes`` names them), the top-1 ``predicted`` class (-1 not scanned) and its softmax
    ``confidence``, whether it was ``scanned``, and ``failed``: why the items that could not be read were skipped.
    ``source`` gives the items again (for crops); it is not pickled.
    """

    layers: Tuple[str, ...]
    embed: Tuple[str, ...]
    k: int
    input_shape: Tuple[int, int, int]
    names: List[str]
    classes: Optional[Tuple[str, ...]]
    labels: np.ndarray
    top: Dict[str, TopK]
    features: Dict[str, np.ndarray]
    predicted: np.ndarray
    confidence: np.ndarray
    scanned: np.ndarray
    failed: Dict[int, str]
    source: Optional[Source] = None

    @property
    def done(self) -> int:
        """Items scanned or skipped so far."""
        return int(self.scanned.sum()) + len(self.failed)

    @property
    def complete(self) -> bool:
        """Whether every item was scanned or skipped."""
        return self.done == len(self.names)

    def pending(self) -> np.ndarray:
        """Dataset indices neither scanned nor skipped, in order."""
        todo = ~self.scanned
        todo[list(self.failed)] = False
        return np.flatnonzero(todo)

    def absorb(self, part: Part) -> None:
        """Add what a batch or shard recorded (its rows go to their dataset indices)."""
        i = part.indices
        self.labels[i], self.predicted[i], self.confidence[i], self.scanned[i] = (
            part.labels,
            part.predicted,
            part.confidence,
            True,
        )
        for name, rows in part.features.items():
            self.features[name][i] = rows
        self.top = {name: top.merge(part.top[name]) for name, top in self.top.items()}
        self.failed.update(part.failed)

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__, source=None)
        state["features"] = {name: np.asarray(table) for name, table in self.features.items()}
        return state


def _fresh(plan: Plan, source: Source, features: Dict[str, np.ndarray]) -> Scan:
    n = len(source)
    return Scan(
        plan.layers,
        plan.embed,
        plan.k,
        plan.input_shape,
        list(source.names),
        source.classes,
        np.full(n, -1, np.int64),  # filled in batch by batch: a dataset's label may cost a decode
        {name: TopK.empty(c, plan.k) for name, c in plan.channels.items()},
        features,
        np.full(n, -1, np.int64),
        np.zeros(n, np.float32),
        np.zeros(n, bool),
        {},
        source,
    )


def _latest(net: Net, update: Update[Scan]) -> Update[Scan]:
    """``update``, its scan made ``net``'s latest first (see :func:`latest_scan`)."""
    if update.result is not None:
        with _LATEST_LOCK:
            _LATEST[net.model] = weakref.ref(update.result)
    return update


def latest_scan(model: Union[Net, nn.Module]) -> Optional[Scan]:
    """The most recent scan of ``model`` in this process: the one whose :func:`scan_steps` (or :func:`scan`) yielded
    last, partial while it runs or after it was stopped, complete once it has finished; ``None`` if there is none,
    or nobody keeps it any more (a closed explorer's scan is freed, not held here).

    Parameters
    ----------
    model : nn.Module or Net
        The network; a :class:`Net` and its ``model`` share their scans (a scan of either counts for both).
    """
    if not isinstance(model, (Net, nn.Module)):
        raise ArgumentTypeError(f"model must be a cnnviz_widgets Net or an nn.Module, got {type(model).__name__}")
    module = model.model if isinstance(model, Net) else model
    with _LATEST_LOCK:
        found = _LATEST.get(module)
    return found() if found is not None else None


def layer_names(value: Union[None, str, Sequence[str]]) -> Optional[Tuple[str, ...]]:
    """A layer name or names as a tuple (``None`` stays: the defaults)."""
    return None if value is None else (value,) if isinstance(value, str) else tuple(value)


def scan_steps(
    model: Union[Net, nn.Module],
    images: Any,
    layers: Union[None, str, Sequence[str]] = None,
    *,
    k: int = 9,
    embed: Union[None, str, Sequence[str]] = None,
    batch_size: Optional[int] = None,
    workers: Optional[int] = None,
    cache: disk.CacheSetting = True,
    backend: str = "local",
    budget: int = SCAN_BUDGET_BYTES,
    feature_budget: int = FEATURE_BUDGET_BYTES,
    resume: Optional[Scan] = None,
) -> Generator[Update[Scan], None, None]:
    """:func:`scan` as a long call: an :class:`~..progress.Update` after every batch (every shard with Ray) with
    the share of items done and the partial :class:`Scan`; stop iterating to stop (the partial state is saved and
    the next call with the same arguments resumes it). Parameters are as for :func:`scan`; ``resume``, a partial
    scan of the same images with the same layers and ``k``, goes on where it stopped when nothing is cached (a
    dataset without a fingerprint, ``cache=False``)."""
    net = model if isinstance(model, Net) else Net(model)
    check_choice("backend", backend, BACKENDS, error=ScanError)
    k = check_int("k", k, 1, error=ScanError)
    budget = check_int("budget", budget, 1, error=ScanError)
    feature_budget = check_int("feature_budget", feature_budget, 0, error=ScanError)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1, error=ScanError)
    if workers is not None:
        workers = check_int("workers", workers, 0, error=ScanError)
    layers, embed = layer_names(layers), layer_names(embed)
    source = as_source(images)
    root = disk.cache_root(cache)
    folder = disk.scan_folder(root, net, source.fingerprint, layers, embed, k) if root and source.fingerprint else None
    saved = disk.load(folder) if folder is not None else None
    store: Optional[FeatureStore] = None
    if saved is not None:
        fields, dims = saved
        store = FeatureStore(len(source), dims, feature_budget, folder, resume=True)
        result = Scan(**fields, features=store.arrays, source=source)
        if result.complete:
            yield _latest(net, Update(1.0, result))
            return
    plan = make_plan(net, layers, embed, k, batch_size, budget)
    if saved is None and resume is not None and folder is None:
        result = _resumable(resume, plan, source)
    elif saved is None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        store = FeatureStore(len(source), plan.dims, feature_budget, folder)
        result = _fresh(plan, source, store.arrays)
    todo = result.pending()
    if workers is None:
        workers = default_workers(net, backend, len(todo), plan.batch_size)
    yield from _run(net, source, plan, todo, workers, backend, result, store, folder)


def _resumable(scan: Scan, plan: Plan, source: Source) -> Scan:
    """``scan`` if it is a partial scan of ``source`` as ``plan`` records it (the same layers, embedding layers and
    ``k``); an error saying what differs otherwise."""
    asked = (plan.layers, plan.embed, plan.k, len(source))
    found = (scan.layers, scan.embed, scan.k, len(scan.names))
    if asked != found:
        raise ScanError(
            f"resume= is a scan of {found[3]} images with layers {found[0]}, embed {found[1]}, k={found[2]}; this call "
            f"asks for {asked[3]} images with layers {asked[0]}, embed {asked[1]}, k={asked[2]}"
        )
    scan.source = source
    return scan


def default_workers(net: Net, backend: str, items: int, batch_size: int) -> int:
    """How many ``DataLoader`` workers decode when the caller does not say: none for a Ray task (it decodes on its
    own CPU), for a single batch, or on a CPU of :data:`FEW_CORES` or fewer (the forward pass keeps every core busy
    there, so a worker only takes turns with it and adds the hand-over: decoding between batches is faster); else
    up to 4, leaving a core to the forward pass."""
    cores = os.cpu_count() or 1
    if backend == "ray" or items <= batch_size or (net.device.type == "cpu" and cores <= FEW_CORES):
        return 0
    return min(4, cores - 1)


def _run(
    net: Net,
    source: Source,
    plan: Plan,
    todo: np.ndarray,
    workers: int,
    backend: str,
    result: Scan,
    store: Optional[FeatureStore],
    folder: Optional[Path],
) -> Iterator[Update[Scan]]:
    """Absorb the parts of the ``todo`` items into ``result``, an update after each; save the state every
    :data:`SAVE_EVERY_S` seconds and when the run ends or stops."""
    if backend == "ray":
        from .sharded import sharded_parts

        stream = sharded_parts(net, source, plan, todo.tolist(), workers)
    else:
        stream = parts(net, source, plan, todo.tolist(), workers)
    saved_at = time.monotonic()
    try:
        for part in stream:
            result.absorb(part)
            if store is not None and folder is not None and time.monotonic() - saved_at > SAVE_EVERY_S:
                store.save()
                disk.save(folder, result)
                saved_at = time.monotonic()
            yield _latest(net, Update(result.done / len(result.names), result))
        if len(todo) == 0:
            yield _latest(net, Update(1.0, result))
    finally:
        stream.close()
        if store is not None and folder is not None:
            store.save()
            disk.save(folder, result)


def scan(
    model: Union[Net, nn.Module],
    images: Any,
    layers: Union[None, str, Sequence[str]] = None,
    *,
    progress: bool = True,
    **options: Any,
) -> Scan:
    """Scan a dataset with ``model``: for every layer at once, the top-``k`` items of each channel (where its map
    peaks), pooled feature vectors, and the predictions (see :class:`Scan`), with a progress bar.

    Parameters
    ----------
    model : nn.Module or Net
        The network (never modified); a module gets :class:`~..model.Preprocess`'s defaults.
    images : folder, list of paths or PIL images, torch Dataset or DataLoader, Hugging Face dataset
        The items (see :func:`.sources.as_source`); unreadable ones are skipped and counted in ``failed``.
    layers : str or sequence of str, optional
        Layers with top-k patches (each needs a spatial (C, H, W) output); by default every block.
    progress : bool
        Show a tqdm bar (when tqdm is installed).
    k : int
        Items kept per channel (default 9).
    embed : str or sequence of str, optional
        Layers whose maps are averaged over positions into feature vectors; by default the penultimate layer.
    batch_size : int, optional
        Items per forward pass; by default as many as ``budget`` bytes allow.
    workers : int, optional
        ``DataLoader`` workers decoding images; by default up to 4 (none on a CPU of 2 cores or fewer, where the
        forward pass keeps every core busy: see :func:`default_workers`).
    cache : bool or path
        ``True``: reopen, resume and save scans in ``CNNVIZ_CACHE`` or ``~/.cache/cnnviz_widgets/scans``;
        a folder: there; ``False``: no cache.
    backend : str
        ``"local"`` or ``"ray"`` (shards as Ray tasks; needs ``pip install "cnnviz_widgets[ray]"``).
    budget, feature_budget : int
        Bytes one batch's forward pass may take, and bytes of feature tables kept in memory (the rest are
        memory-mapped files).
    """
    progress = check_bool("progress", progress, error=ScanError)
    steps = scan_steps(model, images, layers, **options)
    bar, result = None, None
    try:
        for update in steps:
            result = update.result
            if progress and bar is None and result is not None:
                bar = _bar(len(result.names), result.done)
            if bar is not None and result is not None:
                bar.update(result.done - bar.n)
    finally:
        steps.close()
        if bar is not None:
            bar.close()
    if result is None:
        raise RuntimeError("the scan ended without a result")
    return result


def _bar(total: int, done: int) -> Any:
    """A tqdm bar over ``total`` items, ``done`` of them done; ``None`` without tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, unit="img", desc="scan", dynamic_ncols=True)
