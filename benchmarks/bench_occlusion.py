"""Occlusion speed and memory: ours vs captum's ``Occlusion`` vs the naive limit, side by side.

The setting of issue 4: CPU, the cat at 224 px, its top class, window 16, stride 8 (27 x 27 = 729 windows),
baseline 0. The naive limit is the work any implementation that runs the whole network on every occluded
image must do: windows x the best per-image no-grad forward time, searched over batch sizes and both memory
layouts. captum runs at each ``perturbations_per_eval`` in ``CAPTUM_PPE`` and its fastest is reported.
Every implementation runs once per round, in shuffled order; ratios are medians of per-round ratios. The
script also prints the share of the forward pass's multiply-adds our incremental inference recomputed per
window (the distance to the reuse bound), when the coarse preview (every 4th window) and the exact
stride-doubled map were complete as shares of the whole run, the largest difference between our map and
captum's, and the peak extra memory of one cold call in a fresh process (rise of ``VmHWM``).

    python benchmarks/bench_occlusion.py [--repeats 3] [--threads N] [--models ...] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from typing import Dict, Hashable, Tuple

import torch
from captum.attr import Occlusion
from common import (
    CLOCKS,
    MODELS,
    Subject,
    Timed,
    Timing,
    load_subject,
    median_ratio,
    peak_extra_mb,
    print_table_head,
    table_line,
)

from cnnviz_widgets import engine
from cnnviz_widgets.engine.occlusion import Grid

warnings.filterwarnings("ignore", category=UserWarning, module="captum")

WINDOW, STRIDE = 16, 8
CAPTUM_PPE = (16, 32, 64)
LIMIT_BATCHES = (1, 4, 8, 16, 32)
LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
SPEEDUP_TARGET = 2.0
"""Issue 4: at least 2x faster than captum's best setting."""


def windows(s: Subject) -> int:
    rows, columns = Grid.make(tuple(s.x.shape[-2:]), WINDOW, STRIDE).counts
    return rows * columns


def ours(s: Subject) -> Timed:
    return lambda: engine.occlusion(s.model, s.x, s.target, WINDOW, STRIDE)


def milestones(s: Subject) -> Tuple[float, float, float]:
    """One run of ours: the share of multiply-adds recomputed, and when the coarsest level and the
    stride-doubled level were complete, as shares of the run's time."""
    grid = Grid.make(tuple(s.x.shape[-2:]), WINDOW, STRIDE)
    levels = [sum(1 for i, j in grid.order() if i % k == 0 and j % k == 0) for k in (4, 2)]
    start, seen, result = time.perf_counter(), {}, None
    for update in engine.occlusion_steps(s.model, s.x, s.target, WINDOW, STRIDE):
        result = update.result if update.result is not None else result
        for level in levels:
            if result is not None and result.done >= level and level not in seen:
                seen[level] = time.perf_counter() - start
    total = time.perf_counter() - start
    assert result is not None, "the sweep ended without a result"
    return result.recomputed, seen[levels[0]] / total, seen[levels[1]] / total


def captum(s: Subject, ppe: int) -> Timed:
    c = s.x.shape[1]
    return lambda: Occlusion(s.model).attribute(
        s.x,
        target=s.target,
        sliding_window_shapes=(c, WINDOW, WINDOW),
        strides=(c, STRIDE, STRIDE),
        baselines=0.0,
        perturbations_per_eval=ppe,
    )


def limits(s: Subject) -> Dict[Hashable, Timed]:
    """A no-grad forward of a batch of ``b`` copies of the image, per (layout, b)."""

    def forward(xb: torch.Tensor) -> Timed:
        def run() -> torch.Tensor:
            with torch.no_grad():
                return s.model(xb)

        return run

    return {
        (layout, b): forward(s.x.repeat(b, 1, 1, 1).contiguous(memory_format=fmt))
        for layout, fmt in LAYOUTS.items()
        for b in LIMIT_BATCHES
    }


def child(args: argparse.Namespace, *argv: str) -> dict:
    """This script with ``argv`` in a fresh interpreter; its JSON answer."""
    out = subprocess.run(
        [sys.executable, __file__, *argv, "--threads", str(args.threads)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


COLUMNS = (
    ("model", -18),
    ("ours s", 7),
    ("captum s", 8),
    ("captum ppe", 10),
    ("limit s", 7),
    ("ours/limit", 10),
    ("captum/limit", 12),
    ("captum/ours", 11),
    ("recomputed", 10),
    ("coarse at", 9),
    ("x2 stride at", 12),
    ("max |diff|", 10),
    ("ours MiB", 8),
    ("captum MiB", 10),
    ("target", -12),
)


def row(s: Subject, timing: Timing, args: argparse.Namespace) -> None:
    """Time ours, captum at every setting and the limit search in the same rounds; print one table line."""
    lim = limits(s)
    fns: Dict[Hashable, Timed] = {"ours": ours(s), **{("captum", p): captum(s, p) for p in CAPTUM_PPE}, **lim}
    t = timing.rounds_ms(fns, batched=True)
    n = windows(s)
    layout, batch = best = min(lim, key=lambda key: statistics.median(t[key]) / key[1])
    limit = [n * ms / batch for ms in t[best]]
    ppe = min(CAPTUM_PPE, key=lambda p: statistics.median(t[("captum", p)]))
    theirs = t[("captum", ppe)]
    diff = float((ours(s)().map - captum(s, ppe)()[0, 0].double()).abs().max())
    recomputed, coarse, doubled = milestones(s)
    if args.no_memory:
        peaks = ("-", "-")
    else:
        peaks = tuple(
            f"{child(args, '--peak', s.name, impl)['peak_mb']:.0f}" for impl in ("ours", f"captum:{max(CAPTUM_PPE)}")
        )
    speedup = median_ratio(theirs, t["ours"])
    verdict = f">={SPEEDUP_TARGET:.0f}x " + ("ok" if speedup >= SPEEDUP_TARGET else "MISS")
    cells = (
        s.name,
        f"{statistics.median(t['ours']) / 1000:.2f}",
        f"{statistics.median(theirs) / 1000:.2f}",
        str(ppe),
        f"{statistics.median(limit) / 1000:.2f}",
        f"{median_ratio(t['ours'], limit):.2f}",
        f"{median_ratio(theirs, limit):.2f}",
        f"{speedup:.2f}",
        f"{recomputed:.2f}",
        f"{coarse:.0%}",
        f"{doubled:.0%}",
        f"{diff:.1e}",
        *peaks,
        verdict,
    )
    print(table_line(cells, [w for _, w in COLUMNS]), f"  (limit: batch {batch}, {layout})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds (each runs every implementation once)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--peak", nargs=2, metavar=("MODEL", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.peak:
        s = load_subject(args.peak[0])
        impl = args.peak[1]
        fn = ours(s) if impl == "ours" else captum(s, int(impl.split(":")[1]))
        print(json.dumps({"peak_mb": peak_extra_mb(fn)}))
        return
    timing = Timing(args.repeats, args.repeats, CLOCKS["wall"])
    print(
        f"CPU, {args.threads} threads, 224x224, window {WINDOW}, stride {STRIDE}; "
        f"medians of {args.repeats} shuffled rounds; "
        f"captum at its best perturbations_per_eval of {CAPTUM_PPE}; limit: windows x best per-image no-grad forward "
        f"over batches {LIMIT_BATCHES} and layouts {tuple(LAYOUTS)}; recomputed: share of a forward pass's "
        f"multiply-adds spent per window; coarse / x2 stride at: share of our run's time; "
        f"memory: peak extra MiB of one cold call "
        f"(captum at perturbations_per_eval={max(CAPTUM_PPE)})\n"
    )
    print_table_head([name for name, _ in COLUMNS], [w for _, w in COLUMNS])
    for name in args.models:
        row(load_subject(name), timing, args)


if __name__ == "__main__":
    main()
