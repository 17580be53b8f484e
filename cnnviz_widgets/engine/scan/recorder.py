"""One batched forward pass of a scan: what it keeps of every requested layer, and the plan it follows.

A scan records many layers at once, so it never holds their maps: a forward hook on each layer reduces its
output as soon as it is made, to one peak per item and channel (:func:`.topk.peaks`) for the layers with top-k
patches and to the mean over positions for the embedding layers, and lets the full maps go before the next layer
runs. The peak memory of a pass is then about that of the plain forward pass, which sizes the batches. A module
called several times per pass (a shared ReLU) is recorded at its last call, the one closest to the logits.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Generator, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_int
from ..errors import ScanError
from ..layers import blocks
from ..model import Net
from ..names import list_choices, resolve_layer
from ..replica import logits_expected, private
from .sources import Batch, Source, batches
from .topk import Peaks, TopK, peaks

PIXELS = "pixels"
"""The feature table of the raw input: the model's input averaged down to 32 x 32 and flattened."""
PIXEL_SIDE = 32
SCAN_BUDGET_BYTES = 512 * 2**20
"""Default memory one batch's forward pass may take: about three of its largest layer outputs are alive at once."""
CPU_BATCH, GPU_BATCH = 32, 256
"""Most items per batch on a CPU and on an accelerator."""
CPU_CACHE_BYTES = 16 * 2**20
"""On a CPU, a batch's largest layer output stays within about this many bytes, so that it stays in the processor's
cache (half a server's L3, a laptop's whole one): beyond it every layer streams its maps through main memory and a
pass slows down per image (EfficientNet-Lite0 at 224 px: 3 images per batch run 3 times as fast as 32; ResNet-18:
4 run 1.4 times as fast as 32; AlexNet, with small maps, is fastest at 16-32; benchmarks/bench_scan.py)."""


@dataclass(frozen=True)
class Plan:
    """What a scan records and how: the patch ``layers`` (each layer's ``channels``), the feature tables (``dims``:
    the ``embed`` layers and :data:`PIXELS`), ``k``, the model's ``input_shape`` and the ``batch_size``."""

    layers: Tuple[str, ...]
    embed: Tuple[str, ...]
    k: int
    channels: Dict[str, int]
    dims: Dict[str, int]
    input_shape: Tuple[int, int, int]
    batch_size: int


def make_plan(
    net: Net,
    layers: Optional[Sequence[str]],
    embed: Optional[Sequence[str]],
    k: int,
    batch_size: Optional[int],
    budget: int,
) -> Plan:
    """Check the requested layers against the model's layer table (one probing pass, cached by ``net``) and fill
    in the defaults: patches for every block (:func:`~..layers.blocks`) but sequences of blocks, features of the
    penultimate layer (the last spatial layer: what the classifier sees, averaged over positions), a batch size
    from ``budget`` bytes (and, on a CPU, from :data:`CPU_CACHE_BYTES`)."""
    records = net.layers()
    by_name = {r.name: r for r in records}
    spatial = [r.name for r in records if r.spatial and not r.passthrough]
    if layers is None:  # the blocks, less sequences of them (ResNet's layer1 returns layer1.1's output)
        found = [r.name for r in blocks(net.model, records)]
        modules = dict(net.model.named_modules())
        layers = [
            a for a in found if type(modules[a]) is not nn.Sequential or not any(b.startswith(a + ".") for b in found)
        ]
    if embed is None:
        embed = spatial[-1:]
    if not layers or not embed:
        what = "patch layers" if not layers else "embedding layers"
        raise ScanError(f"no {what} to scan; name at least one, e.g. one of: {list_choices(spatial, '')}")
    for name in (*layers, *embed):
        resolve_layer(net.model, name)
        if name not in by_name:
            raise ScanError(f"layer {name!r} is not called in the model's forward pass, so it has no output to scan")
    for name in layers:
        if name not in spatial:
            raise ScanError(
                f"layer {name!r} has no spatial (C, H, W) output, so it has no patches; choose one of: "
                f"{list_choices(spatial, name)}"
            )
    for name in embed:
        if len(by_name[name].shape) not in (1, 3):
            raise ScanError(f"layer {name!r} outputs {by_name[name].shape}, not (C, H, W) or (D,) features")
    prep = net.preprocess
    input_shape = (prep.channels, prep.size, prep.size)
    if batch_size is None:
        itemsize = torch.finfo(net.dtype).bits // 8
        largest = max(math.prod(r.shape) for r in records) * itemsize
        fits = budget // (3 * largest + math.prod(input_shape) * itemsize)
        on_cpu = net.device.type == "cpu"
        batch_size = max(1, min(fits, CPU_BATCH, CPU_CACHE_BYTES // largest) if on_cpu else min(fits, GPU_BATCH))
    dims = {name: by_name[name].shape[0] for name in embed}
    dims[PIXELS] = prep.channels * PIXEL_SIDE**2
    return Plan(
        tuple(dict.fromkeys(layers)),
        tuple(dict.fromkeys(embed)),
        check_int("k", k, 1, error=ScanError),
        {name: by_name[name].shape[0] for name in layers},
        dims,
        input_shape,
        check_int("batch_size", batch_size, 1, error=ScanError),
    )


@dataclass
class Part:
    """What a run of batches recorded for the items it decoded fine (``indices`` ``(n,)``): their ``labels``,
    top-1 ``predicted`` class and its ``confidence``, their ``features`` rows ``(n, D)`` by table, the ``top`` of
    each patch layer over them; and the items it skipped (``failed``: index -> why)."""

    indices: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    features: Dict[str, np.ndarray]
    top: Dict[str, TopK]
    failed: Dict[int, str]

    @classmethod
    def join(cls, parts: Sequence["Part"], plan: Plan) -> "Part":
        """One part for all of ``parts`` (at least one: a shard's batches)."""
        top = {name: TopK.empty(c, plan.k) for name, c in plan.channels.items()}
        for part in parts:
            top = {name: t.merge(part.top[name]) for name, t in top.items()}

        def cat(field: str) -> np.ndarray:
            return np.concatenate([getattr(p, field) for p in parts])

        features = {name: np.concatenate([p.features[name] for p in parts]) for name in plan.dims}
        failed = {i: why for p in parts for i, why in p.failed.items()}
        return cls(cat("indices"), cat("labels"), cat("predicted"), cat("confidence"), features, top, failed)


@contextmanager
def _reducing(
    model: nn.Module, plan: Plan, peaked: Dict[str, Peaks], pooled: Dict[str, torch.Tensor]
) -> Iterator[None]:
    """While the block runs, each patch layer's output reduced to its peaks (into ``peaked``) and each embedding
    layer's to its mean over positions (into ``pooled``); the hooks go in ``finally``."""

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if not isinstance(output, torch.Tensor):
                raise ScanError(f"layer {name!r} returns {type(output).__name__}, not a tensor; pick another layer")
            if name in plan.layers:
                peaked[name] = peaks(output)
            if name in plan.embed:
                maps = output.detach().float()
                pooled[name] = (maps.flatten(2).mean(2) if maps.dim() > 2 else maps).cpu()

        return hook

    handles = []
    try:
        for name in dict.fromkeys(plan.layers + plan.embed):
            handles.append(resolve_layer(model, name).register_forward_hook(hook_for(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def record(net: Net, plan: Plan, batch: Batch) -> Part:
    """What one batched forward pass of ``batch`` on the model's private replica keeps (see the module's
    docstring)."""
    n = len(batch.indices)
    indices = batch.indices.numpy()
    top = {name: TopK.empty(c, plan.k) for name, c in plan.channels.items()}
    failed = dict(batch.failed)
    if n == 0:
        features = {name: np.zeros((0, d), np.float32) for name, d in plan.dims.items()}
        empty = np.zeros(0, np.int64)
        return Part(indices, empty, empty, np.zeros(0, np.float32), features, top, failed)
    peaked: Dict[str, Peaks] = {}
    pooled: Dict[str, torch.Tensor] = {}
    with private(net) as twin, torch.no_grad(), _reducing(twin, plan, peaked, pooled):
        logits = twin(batch.x.to(net.device, net.dtype))
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != n:
        raise ScanError(logits_expected(logits, f"({n}, classes)"))
    missed = [n for n in plan.layers if n not in peaked] + [n for n in plan.embed if n not in pooled]
    if missed:
        raise ScanError(f"layers {', '.join(map(repr, missed))} were not called in this batch's forward pass")
    confidence, predicted = logits.detach().float().softmax(1).max(1)
    for name in plan.layers:
        top[name] = top[name].add_peaks(*peaked[name], batch.indices)
    features = {name: pooled[name].numpy() for name in plan.embed}
    features[PIXELS] = F.adaptive_avg_pool2d(batch.x.float(), PIXEL_SIDE).flatten(1).numpy()
    return Part(indices, batch.labels.numpy(), predicted.cpu().numpy(), confidence.cpu().numpy(), features, top, failed)


def parts(net: Net, source: Source, plan: Plan, indices: Sequence[int], workers: int) -> Generator[Part, None, None]:
    """One :class:`Part` per batch of ``indices`` (decoded by ``workers`` DataLoader workers), in order."""
    stream = batches(source, net.preprocess, indices, plan.batch_size, workers)
    try:
        for batch in stream:
            yield record(net, plan, batch)
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def run_shard(net: Net, source: Source, plan: Plan, indices: List[int], workers: int) -> Part:
    """All batches of ``indices`` as one :class:`Part` (a shard of a distributed scan)."""
    return Part.join(list(parts(net, source, plan, indices, workers)), plan)


def features_of(net: Net, plan: Plan, x: torch.Tensor) -> Dict[str, np.ndarray]:
    """The feature rows ``(N, D)`` of prepared images ``x`` in every table of ``plan``, computed as a scan computes
    them: a query for neighbours that is not in the dataset (an uploaded picture)."""
    n = x.shape[0]
    batch = Batch(torch.arange(n), x.detach().cpu().float(), torch.full((n,), -1, dtype=torch.int64), [])
    return record(net, plan, batch).features
