"""A scan split into shards that run as Ray tasks: from a laptop's cores to a cluster, with Ray's own scheduling.

The items left to scan are cut into contiguous shards whose boundaries fall on multiples of the batch size, so
every shard runs exactly the batches a single-process scan would run (same items, same forward passes, same
numbers). Each shard is one Ray task (``ray.remote``) that returns its :class:`~.recorder.Part`; the driver merges
them as they finish (top-k heaps merge associatively, feature rows go to their dataset index), so the result equals
the single-process scan exactly. Ray runs on the cluster the user connected to (``ray.init(address=...)``), or on
a local one started here when none is running. Each task takes one CPU, and one GPU when the model is on one.
"""

from __future__ import annotations

from typing import Any, Generator, List, Sequence

from ..errors import ScanError
from ..model import Net
from .recorder import Part, Plan, run_shard
from .sources import Source

SHARDS_PER_CPU = 4
"""Shards per CPU of the cluster: enough that progress moves and a slow machine does not hold up the end."""


def shard_bounds(total: int, batch_size: int, shards: int) -> List[range]:
    """At most ``shards`` contiguous ranges covering ``range(total)``, each starting at a multiple of
    ``batch_size``."""
    batches = -(-total // batch_size)
    per = -(-batches // max(1, shards)) * batch_size
    return [range(start, min(total, start + per)) for start in range(0, total, per)]


def _ray() -> Any:
    """The ``ray`` module, connected to a cluster (a local one started if none is running)."""
    try:
        import ray
    except ImportError:
        raise ScanError('backend="ray" needs Ray; install it with: pip install "cnnviz_widgets[ray]"') from None
    if not ray.is_initialized():
        ray.init()
    return ray


def sharded_parts(
    net: Net, source: Source, plan: Plan, indices: Sequence[int], workers: int
) -> Generator[Part, None, None]:
    """One :class:`Part` per shard of ``indices`` (see the module's docstring), in the order they finish; stopping
    the iteration cancels the shards not yet finished."""
    ray = _ray()
    task = ray.remote(num_gpus=1 if net.device.type == "cuda" else 0)(run_shard)
    shards = shard_bounds(len(indices), plan.batch_size, int(ray.cluster_resources().get("CPU", 1)) * SHARDS_PER_CPU)
    model, data = ray.put(net), ray.put(source)
    running = [task.remote(model, data, plan, [int(indices[i]) for i in shard], workers) for shard in shards]
    try:
        while running:
            finished, running = ray.wait(running, num_returns=1)
            yield ray.get(finished[0])
    finally:
        for ref in running:
            ray.cancel(ref)
