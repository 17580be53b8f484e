"""Dataset scans (issue 15): throughput with decoding, peak memory against dataset size, t-SNE and neighbours, Ray.

On the CPU, side by side, printed as markdown tables (speed is shown here, never asserted in tests):

1. throughput: a folder of stand-in files (``write_stand_in``: JPEG photos and PNG synthetic pictures, 256 px)
   scanned by ``engine.scan.scan_steps(net, folder, cache=False)`` with its defaults (patches of every block, the
   penultimate layer's features; decoding in ``DataLoader`` workers, or between batches on 2 cores), against the
   plain batched forward pass of the same model on the same images decoded beforehand (same batch size,
   ``torch.inference_mode``, eval mode), and the scan's recording on those decoded batches (``recorder.record``:
   forward + hooks + top-k + features, no decoding). The three run in interleaved rounds, so noise from other
   processes shows as the spread (min-max over rounds). ``scan / plain`` is the issue's ratio (target >= 0.8);
   ``record / plain`` is what recording costs, ``scan / record`` what decoding costs. A second row per model runs
   plain and scan at a batch of 32 (the CPU batch before it was sized to the cache). Decoding alone is timed in one
   thread (as in a worker).
2. memory: scans of N synthetic stand-in items (rendered by one worker, no files) at 96 px with 3 patch layers and
   the default embedding layer, each N in a fresh process: its peak RSS, its worker's and their sum (sampled with
   psutil), the RSS before the scan, and the feature tables (the scan's output, N rows each); beside it the memory
   that keeping all activations of the 3 layers takes (what keract/lucid users run out of), at 96 px and 224 px.
3. t-SNE of 10,000 feature vectors (1280-d, low rank plus noise) and the nearest neighbours of one query among
   100,000 of them: ``engine.embedding.embed`` / ``engine.neighbours.nearest`` when present, else openTSNE / a
   chunked numpy product (the table says which).
4. Ray: the throughput scan with ``backend="ray"`` on a local ``ray.init(num_cpus=C)`` for C = 2 and 1, against the
   local scan in the same rounds (on 2 cores the local scan already keeps both busy).
5. an ImageNet-train (1.28 M images) top-9 scan of the default model extrapolated from the measured rates.

    python benchmarks/bench_scan.py [--quick] [--images 256] [--rounds 3] [--sizes 2000 5000 10000]
                                     [--skip throughput memory embedding ray]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from common import print_table_head, table_line
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.datasets import stand_in, write_stand_in
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.scan import Scan, as_source, scan_steps
from cnnviz_widgets.engine.scan.recorder import SCAN_BUDGET_BYTES, make_plan, record
from cnnviz_widgets.engine.scan.sources import Batch, Source, _Decoding, batches

MiB = 2**20
IMAGENET_TRAIN = 1_281_167
DEEPVIS_HOURS = 40.0
"""DeepVis's one top-9 pass over ImageNet (yosinski/deep-visualization-toolbox README)."""
MEMORY_LAYERS = ("_blocks.3", "_blocks.9", "_blocks.15")
"""The default model's 3 patch layers of the memory table: early (56 px maps at 224 px input), middle, last."""
IMAGENET_JPEG = (500, 375)
"""A typical ImageNet photo's size, for the decode cost of the extrapolation."""


def load(name: str) -> cw.Net:
    """The default model (real weights) or a torchvision model with random weights, on the CPU."""
    return (
        cw.load_model(device="cpu")
        if name == "efficientnet_lite0"
        else cw.load_model(name, pretrained=False, device="cpu")
    )


def batch_size_of(net: cw.Net) -> int:
    """The batch size a default scan of ``net`` uses."""
    return make_plan(net, None, None, 9, None, SCAN_BUDGET_BYTES).batch_size


def decoded(net: cw.Net, source: Source, batch_size: int) -> List[torch.Tensor]:
    """Every item of ``source`` as the model's input, in batches, decoded here once (the plain pass's input)."""
    return [b.x for b in batches(source, net.preprocess, range(len(source)), batch_size, 0)]


def plain_pass(model: torch.nn.Module, xs: Sequence[torch.Tensor]) -> None:
    """The plain batched forward pass: the limit a scan is measured against."""
    with torch.inference_mode():
        for x in xs:
            model(x)


def record_pass(net: cw.Net, xs: Sequence[torch.Tensor]) -> None:
    """The scan's recording (forward on the replica, hooks, peaks, top-k, features) on decoded batches."""
    plan = make_plan(net, None, None, 9, None, SCAN_BUDGET_BYTES)
    start = 0
    for x in xs:
        n = len(x)
        indices = torch.arange(start, start + n)
        record(net, plan, Batch(indices, x, torch.full((n,), -1, dtype=torch.int64), []))
        start += n


def scan_pass(net: cw.Net, images: object, **options: object) -> Scan:
    """A whole scan with the engine's defaults and no disk cache."""
    return last(scan_steps(net, images, cache=False, **options))  # type: ignore[arg-type]


def interleaved_rates(fns: Dict[str, Callable[[], object]], images: int, rounds: int) -> Dict[str, List[float]]:
    """Images/s of each function per round: all of them once per round, the order rotating between rounds."""
    rates: Dict[str, List[float]] = {name: [] for name in fns}
    order = list(fns)
    for r in range(rounds):
        turn = order[r % len(order) :] + order[: r % len(order)]
        for name in turn:
            start = time.perf_counter()
            fns[name]()
            rates[name].append(images / (time.perf_counter() - start))
    return rates


def decode_ms(net: cw.Net, source: Source, count: int) -> float:
    """Milliseconds to read and preprocess one item, in this process with one torch thread (as in a worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        decoding = _Decoding(source, net.preprocess, np.arange(min(count, len(source))))
        start = time.perf_counter()
        for j in range(len(decoding)):
            decoding[j]
        return 1000 * (time.perf_counter() - start) / len(decoding)
    finally:
        torch.set_num_threads(threads)


def spread(values: Sequence[float], fmt: str = ".1f") -> str:
    """``median (min-max)``."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def paired(a: Sequence[float], b: Sequence[float]) -> List[float]:
    """Per-round ratios ``a[i] / b[i]`` (rounds are interleaved, so pairing cancels slow drift)."""
    return [x / y for x, y in zip(a, b)]


def throughput(name: str, folder: Path, rounds: int, old_batch: int) -> Dict[str, object]:
    """Section 1 for one model: images/s per round of plain, record and scan at the scan's default batch size, and
    of plain and scan at ``old_batch`` (the engine's CPU batch before it was sized to the cache); the decode time."""
    net = load(name)
    source = as_source(folder)
    size = batch_size_of(net)
    xs, xs_old = decoded(net, source, size), decoded(net, source, old_batch)
    model = copy.deepcopy(net.model).eval()  # the user's model is left as it is
    scan_pass(net, [folder / n for n in source.names[: 2 * size]])  # builds the replica and the layer table
    fns = {
        "plain": lambda: plain_pass(model, xs),
        "record": lambda: record_pass(net, xs),
        "scan": lambda: scan_pass(net, folder),
        "plain old": lambda: plain_pass(model, xs_old),
        "scan old": lambda: scan_pass(net, folder, batch_size=old_batch),
    }
    rates = interleaved_rates(fns, len(source), rounds)
    return {"name": name, "batch": size, "old": old_batch, "rates": rates, "decode_ms": decode_ms(net, source, 64)}


def print_throughput(rows: Sequence[Dict[str, object]], images: int) -> None:
    widths = [-18, 5, 18, 18, 18, 17, 17, 17]
    print_table_head(["model", "batch", "plain img/s", "record img/s", "scan img/s", "scan/plain", "record/plain",
                      "scan/record"], widths)  # fmt: skip
    for row in rows:
        r = row["rates"]
        assert isinstance(r, dict)
        cells = [str(row["name"]), str(row["batch"]), spread(r["plain"]), spread(r["record"]), spread(r["scan"]),
                 spread(paired(r["scan"], r["plain"]), ".2f"), spread(paired(r["record"], r["plain"]), ".2f"),
                 spread(paired(r["scan"], r["record"]), ".2f")]  # fmt: skip
        print(table_line(cells, widths))
        cells = [str(row["name"]), str(row["old"]), spread(r["plain old"]), "", spread(r["scan old"]),
                 spread(paired(r["scan old"], r["plain old"]), ".2f"), "", ""]  # fmt: skip
        print(table_line(cells, widths))
    decode = ", ".join(f"{row['name']} {row['decode_ms']:.2f}" for row in rows)
    print(f"\n{images} files of 256 px (half JPEG photos, half PNG) at 224 px input; median (min-max) over interleaved "
          "rounds; target scan/plain >= 0.8. The first row of a model is the scan's default batch (sized to the CPU's "
          "cache), the second the batch of 32 it used before, for comparison. Decoding one file (read, resize, "
          f"normalise) in one thread, as in a DataLoader worker: {decode} ms\n")  # fmt: skip


def naive_bytes(net: cw.Net, layers: Sequence[str]) -> int:
    """Bytes per image of keeping every activation of ``layers`` as float32 (what a collect-everything tool
    holds), from the layer table's output shapes at ``net``'s input size."""
    shapes = {r.name: r.shape for r in net.layers()}
    return 4 * sum(math.prod(shapes[name]) for name in layers)


def sized(net: cw.Net, size: int) -> cw.Net:
    """``net`` with its preprocessing at ``size`` px (the same module)."""
    return cw.Net(net.model, dataclasses.replace(net.preprocess, size=size), name=net.name)


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``: the high-water mark, which ``exec`` resets,
    unlike ``getrusage``'s, which a child inherits from a bigger parent) in MiB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


class TreeMemory:
    """Samples, in a thread, this process and its children (the DataLoader workers): ``peak``, the most their
    proportional set sizes (shared pages split between the processes that map them) summed to, and ``workers``, the
    largest RSS of one worker (its pages shared with this process counted again), in MiB (0 without psutil)."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self.workers = interval, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        me = psutil.Process()
        while not self._stop.wait(self.interval):
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker that just ended
                    info = p.memory_full_info()
                    total += info.pss
                    if p.pid != me.pid:
                        self.workers = max(self.workers, info.rss / MiB)
            self.peak = max(self.peak, total / MiB)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def memory_run(net: cw.Net, n: int, layers: Sequence[str], size: int, workers: int = 1) -> Dict[str, float]:
    """Scan ``n`` synthetic stand-in items at ``size`` px with patches of ``layers`` (and the default embedding
    layer), decoded by ``workers`` DataLoader workers: this process's RSS before and its peak, the largest worker's
    and the whole tree's peak (:class:`TreeMemory`), and the feature tables' MiB. Meant for a fresh process (the
    peaks are the process's)."""
    data = stand_in(n, size)
    net.layers()  # the probing pass belongs to loading the model, not to the scan
    before = status_mib("VmRSS")
    start = time.perf_counter()
    with TreeMemory() as tree:
        result = scan_pass(net, data, layers=list(layers), workers=workers)
    seconds = time.perf_counter() - start
    tables = sum(np.asarray(t).nbytes for t in result.features.values()) / MiB
    return {"n": n, "before": before, "peak": status_mib("VmHWM"), "workers": tree.workers, "tree": tree.peak,
            "tables": tables, "seconds": seconds, "scanned": int(result.scanned.sum())}  # fmt: skip


def memory_child(n: int, size: int) -> Dict[str, float]:
    """What :func:`memory_run` reports for the default model's :data:`MEMORY_LAYERS` in this process."""
    return memory_run(sized(load("efficientnet_lite0"), size), n, MEMORY_LAYERS, size)


def print_memory(sizes: Sequence[int], size: int) -> None:
    base = load("efficientnet_lite0")
    per_image = {px: naive_bytes(sized(base, px), MEMORY_LAYERS) for px in (size, 224)}
    widths = [7, 5, 7, 9, 8, 10, 8, 11, 10, 16, 16]
    print_table_head(["images", "s", "before", "peak MiB", "workers", "tree PSS", "tables", "peak-tables",
                      "KiB/image", f"naive {size}px MiB", "naive 224px MiB"], widths)  # fmt: skip
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n), "--size", str(size)], check=True,
                             capture_output=True, text=True)  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first = rows[0]
    for row in rows:
        growth = (row["peak"] - first["peak"]) * 1024 / (row["n"] - first["n"]) if row is not first else None
        cells = [f"{row['n']:,}", f"{row['seconds']:.0f}", f"{row['before']:.0f}", f"{row['peak']:.0f}",
                 f"{row['workers']:.0f}", f"{row['tree']:.0f}", f"{row['tables']:.0f}",
                 f"{row['peak'] - row['tables']:.0f}", "-" if growth is None else f"{growth:.1f}",
                 f"{row['n'] * per_image[size] / MiB:,.0f}", f"{row['n'] * per_image[224] / MiB:,.0f}"]  # fmt: skip
        print(table_line(cells, widths))
    table_kib = first["tables"] * 1024 / first["n"]
    print(f"\n{', '.join(MEMORY_LAYERS)} (patches) + the default embedding layer, synthetic stand-in items "
          f"rendered at {size} px by one DataLoader worker (as on a machine of more than 2 cores), each size in a "
          "fresh process. MiB: before = RSS with the model loaded; peak = the process's high-water RSS (libraries "
          "and model included); workers = the largest DataLoader worker's (pages shared with the main process "
          "counted again); tree PSS = sampled (every 0.2 s) peak of the main process and its worker together, "
          "shared pages split; tables = the feature tables, the scan's output (the pooled features and 32x32 pixels "
          f"of every image, {table_kib:.0f} KiB/image: in memory up to the feature budget, memory-mapped files "
          "beyond it); KiB/image = growth of the peak per image from the first row. naive = all activations of the "
          f"3 layers kept: {per_image[size] / 1024:.0f} KiB/image at {size} px, {per_image[224] / 1024:.0f} "
          f"KiB/image at 224 px ({IMAGENET_TRAIN * per_image[224] / 2**30:,.0f} GiB for ImageNet-train)\n")  # fmt: skip


def feature_vectors(n: int, dim: int = 1280, rank: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """``(n, dim)`` float32 vectors like a layer's pooled features: cluster centres in a ``rank``-dim subspace,
    each vector its centre plus low-rank scatter plus noise, made non-negative (post-ReLU)."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((rank, dim), dtype=np.float32) / np.sqrt(rank)
    centres = rng.standard_normal((clusters, rank), dtype=np.float32) * 2
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 16384):  # in chunks: 100k x 1280 is 0.5 GB, its temporaries would double it
        m = min(n, start + 16384) - start
        codes = centres[rng.integers(0, clusters, m)] + rng.standard_normal((m, rank), dtype=np.float32)
        out[start : start + m] = codes @ basis + 0.3 * rng.standard_normal((m, dim), dtype=np.float32)
    return np.maximum(out, 0, out=out)


def embedder() -> Tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """t-SNE through the engine's ``embed`` when it exists, else openTSNE directly; and which it is."""
    try:
        from cnnviz_widgets.engine.embedding import embed  # type: ignore[import-not-found]
    except ImportError:
        from openTSNE import TSNE

        return "openTSNE (no engine.embedding)", lambda f: np.asarray(TSNE(n_jobs=2, random_state=0).fit(f))
    return "engine.embedding.embed", lambda f: np.asarray(embed(f, "tsne", seed=0))


def chunked_nearest(features: np.ndarray, query: int, k: int = 8, chunk: int = 16384) -> np.ndarray:
    """The ``k`` rows most cosine-similar to row ``query`` (itself left out), best first: a matrix product in
    chunks, so no (N, N) or normalised copy of the table is made."""
    q = features[query] / max(float(np.linalg.norm(features[query])), 1e-12)
    sims = np.empty(len(features), np.float32)
    for start in range(0, len(features), chunk):
        rows = features[start : start + chunk]
        sims[start : start + len(rows)] = rows @ q / np.maximum(np.linalg.norm(rows, axis=1), 1e-12)
    sims[query] = -np.inf
    best = np.argpartition(-sims, k)[:k]
    return best[np.argsort(-sims[best], kind="stable")]


def neighbour_finder() -> Tuple[str, Callable[[np.ndarray, int], object]]:
    """Nearest neighbours through the engine's ``nearest`` when it exists, else :func:`chunked_nearest`."""
    try:
        from cnnviz_widgets.engine.neighbours import nearest  # type: ignore[import-not-found]
    except ImportError:
        return "numpy chunks (no engine.neighbours)", chunked_nearest
    return "engine.neighbours.nearest", lambda f, q: nearest(f, q, k=8, metric="cosine")


def print_embedding(tsne_n: int, nn_n: int, repeats: int) -> None:
    widths = [-30, -38, 8, 6, 18]
    print_table_head(["task", "through", "vectors", "dim", "seconds"], widths)
    features = feature_vectors(tsne_n)
    how, tsne = embedder()
    times = []
    for _ in range(1 if tsne_n > 2000 else repeats):
        start = time.perf_counter()
        points = tsne(features)
        times.append(time.perf_counter() - start)
    assert points.shape == (tsne_n, 2)
    print(table_line(["t-SNE", how, f"{tsne_n:,}", "1280", spread(times, ".1f")], widths))
    del features
    features = feature_vectors(nn_n, seed=1)
    how, find = neighbour_finder()
    times = []
    for q in range(repeats + 1):
        start = time.perf_counter()
        find(features, q)
        times.append(time.perf_counter() - start)
    print(table_line(["nearest 8 of one query, cosine", how, f"{nn_n:,}", "1280", spread(times[1:], ".3f")], widths))
    print(f"\nfeatures: 20 clusters in a 32-d subspace plus noise, non-negative; t-SNE once at 10k (median (min-max) "
          f"of {repeats} below 2k); neighbours: {repeats} queries after one warm-up\n")  # fmt: skip


def ray_rates(net: cw.Net, folder: Path, rounds: int, cpus: int) -> Tuple[Dict[str, List[float]], float]:
    """Images/s of the local scan and the Ray scan on ``ray.init(num_cpus=cpus)`` in interleaved rounds, and the
    seconds ``ray.init`` took."""
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    init_s = time.perf_counter() - start
    try:
        source = as_source(folder)
        warm = [folder / n for n in source.names[: 4 * cpus * batch_size_of(net)]]
        scan_pass(net, warm, backend="ray")  # starts the Ray workers and imports torch in them
        fns = {"local": lambda: scan_pass(net, folder), "ray": lambda: scan_pass(net, folder, backend="ray")}
        return interleaved_rates(fns, len(source), rounds), init_s
    finally:
        ray.shutdown()


def print_ray(folder: Path, rounds: int, cpus_list: Sequence[int]) -> Dict[int, float]:
    net = load("efficientnet_lite0")
    widths = [-18, 9, 10, 18, 18, 18]
    print_table_head(["model", "Ray CPUs", "ray.init s", "local img/s", "ray img/s", "ray/local"], widths)
    medians = {}
    for cpus in cpus_list:
        rates, init_s = ray_rates(net, folder, rounds, cpus)
        medians[cpus] = statistics.median(rates["ray"])
        cells = ["efficientnet_lite0", str(cpus), f"{init_s:.1f}", spread(rates["local"]), spread(rates["ray"]),
                 spread(paired(rates["ray"], rates["local"]), ".2f")]  # fmt: skip
        print(table_line(cells, widths))
    scaling = f"Ray 1 -> 2 workers: x{medians[2] / medians[1]:.2f}. " if 1 in medians and 2 in medians else ""
    print(f"\n{scaling}{os.cpu_count()} cores; one Ray task per shard (4 shards per CPU), one CPU and one torch "
          "thread each, decoding in the task; the local scan runs torch on every core. ray.init is not in the "
          "rates\n")  # fmt: skip
    return medians


def hours(rate: float, images: int = IMAGENET_TRAIN) -> float:
    return images / rate / 3600


def with_decode(rate: float, extra_ms: float) -> float:
    """Images/s of a scan that decodes in its own loop (2 cores, a Ray task) when each image costs ``extra_ms``
    more to decode."""
    return 1 / (1 / rate + extra_ms / 1000)


def print_extrapolation(scan_rate: Optional[float], ray: Dict[int, float], decode: Tuple[float, float]) -> None:
    """Section 5: hours for ImageNet-train from the measured rates; ``decode``: ms per 256 px file and per
    ImageNet-sized JPEG."""
    small, big = decode
    widths = [-66, 9, 7, 11]
    print_table_head(["ImageNet-train top-9 scan, default model, 224 px", "img/s", "hours", "vs DeepVis"], widths)

    def line(what: str, rate: float) -> None:
        h = hours(rate)
        print(table_line([what, f"{rate:,.0f}", f"{h:,.1f}", f"{DEEPVIS_HOURS / h:,.0f}x faster"], widths))

    if scan_rate is not None:
        line(f"this machine ({os.cpu_count()} cores), local scan (measured)", with_decode(scan_rate, big - small))
    if 2 in ray:
        for machines in (8, 32):
            line(f"Ray cluster of {machines} such machines ({machines} x the 2-CPU Ray rate)",
                 machines * with_decode(ray[2], big - small))  # fmt: skip
    for workers in (4, 15):
        line(f"one GPU, NOT measured: decoding-bound, {workers} workers x {big:.1f} ms", workers * 1000 / big)
    print(f"\nDeepVis: {DEEPVIS_HOURS:.0f} h for one top-9 pass. Rates measured on the 256 px files, less the extra "
          f"decode time of an ImageNet-sized JPEG ({IMAGENET_JPEG[0]}x{IMAGENET_JPEG[1]}: {big:.1f} ms against "
          f"{small:.1f} ms, one thread). The Ray rows assume linear scaling across machines (data on shared storage; "
          "the driver only merges top-k and feature rows). No GPU here, so the GPU rows are a bound, not a "
          "measurement: with a forward pass far faster than decoding, a GPU scan runs as fast as its DataLoader "
          "workers decode (the engine starts at most 4; 15 on a 16-core machine would need workers=15)\n")  # fmt: skip


def imagenet_decode_ms(net: cw.Net, folder: Path) -> float:
    """Decode + preprocess time of a :data:`IMAGENET_JPEG`-sized JPEG photo, one thread."""
    source = as_source(folder)
    photos = [n for n in source.names if n.endswith(".jpg")][:32]
    out = Path(tempfile.mkdtemp(prefix="imagenet-sized-"))
    for k, name in enumerate(photos):
        with Image.open(folder / name) as img:
            img.convert("RGB").resize(IMAGENET_JPEG).save(out / f"{k}.jpg", quality=90)
    return decode_ms(net, as_source(out), len(photos))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small sizes, one round)")
    parser.add_argument("--images", type=int, default=256, help="images of the throughput folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-batch", type=int, default=32, help="the comparison batch size of the throughput table")
    parser.add_argument("--models", nargs="+", default=["efficientnet_lite0", "resnet18"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000], help="items of the memory runs")
    parser.add_argument("--size", type=int, default=96, help="input px of the memory runs")
    parser.add_argument("--tsne", type=int, default=10000)
    parser.add_argument("--vectors", type=int, default=100000)
    parser.add_argument("--ray-cpus", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--skip", nargs="*", default=[], choices=["throughput", "memory", "embedding", "ray"])
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child, args.size)))
        return
    if args.quick:
        args.images, args.rounds, args.models = 64, 1, args.models[:1]
        args.sizes, args.tsne, args.vectors, args.ray_cpus = [300, 600], 1000, 10000, [2]
    print(f"CPU: {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads\n")
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        folder = write_stand_in(Path(tmp) / "set", n=args.images, size=256)
        rows = []
        if "throughput" not in args.skip:
            print("## 1. Scan throughput with decoding vs the plain forward pass\n")
            rows = [throughput(name, folder, args.rounds, args.old_batch) for name in args.models]
            print_throughput(rows, args.images)
        if "memory" not in args.skip:
            print("## 2. Peak memory against the number of images\n")
            print_memory(args.sizes, args.size)
        if "embedding" not in args.skip:
            print("## 3. t-SNE and nearest neighbours\n")
            print_embedding(args.tsne, args.vectors, args.rounds)
        ray = {}
        if "ray" not in args.skip:
            print("## 4. Ray (local cluster) against the local scan\n")
            ray = print_ray(folder, args.rounds, args.ray_cpus)
        print("## 5. Extrapolation\n")
        default = next((r for r in rows if r["name"] == "efficientnet_lite0"), None)
        scan_rate = statistics.median(default["rates"]["scan"]) if default else None  # type: ignore[index]
        net = load("efficientnet_lite0")
        print_extrapolation(scan_rate, ray, (decode_ms(net, as_source(folder), 64), imagenet_decode_ms(net, folder)))


if __name__ == "__main__":
    main()
