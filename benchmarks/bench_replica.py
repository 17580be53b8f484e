"""What the private replica costs: every engine call runs on a replica of the user's model (issue 12).

Per call, the engine checks that the cached replica still matches the model (one walk over the module tree:
ids, storage pointers, forward hooks) and takes the replica's lock. This script times each saliency method
called on the user's model (the check included) against the same call handed the replica itself (no check),
interleaved and paired per round ("measured": the median paired ratio, minus 1), and the check's own time as
a share of the call ("check share", the overhead without the timing noise; target: at most 2%). It also
prints what building a replica takes (once per model and tree) and the memory it adds (its tensors alias the
user's storage: none).

    python benchmarks/bench_replica.py [--repeats 30] [--threads N] [--clock wall|cpu] [--models ...]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from common import CLOCKS, MODELS, Timing, load_subject, median_ratio, print_table_head, table_line

from cnnviz_widgets import engine
from cnnviz_widgets.engine.replica import _build, _signature

METHODS = ("gradient", "guided_backprop", "gradcam", "guided_gradcam")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    timing = Timing(args.repeats, args.repeats, CLOCKS[args.clock])
    widths = (-18, -16, 10, 12, 10, 12, 10)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, clock {args.clock}, {args.repeats} rounds\n")
    print_table_head(["model", "method", "call ms", "replica ms", "check ms", "check share", "measured"], widths)
    builds = []
    for name in args.models:
        subject = load_subject(name)
        model, x, target, layer = subject.model, subject.x, subject.target, subject.layer
        twin = engine.replica(model)
        for method in METHODS:
            where = layer if method in engine.attribution.LAYER_METHODS else None
            times = timing.rounds_ms(
                {
                    "model": functools.partial(engine.saliency, model, x, target, method, where),
                    "replica": functools.partial(engine.saliency, twin, x, target, method, where),
                }
            )
            check = [_ms(functools.partial(_signature, model)) for _ in range(args.repeats)]
            overhead = median_ratio(times["model"], times["replica"]) - 1
            print(
                table_line(
                    [
                        name,
                        method,
                        f"{statistics.median(times['model']):.1f}",
                        f"{statistics.median(times['replica']):.1f}",
                        f"{statistics.median(check):.2f}",
                        f"{statistics.median(check) / statistics.median(times['replica']):.2%}",
                        f"{overhead:+.1%}",
                    ],
                    widths,
                )
            )
        built = [_ms(functools.partial(_build, model, None)) for _ in range(5)]
        shared = {p.data_ptr() for p in [*model.parameters(), *model.buffers()]}
        own = [t for t in [*twin.parameters(), *twin.buffers()] if t.data_ptr() not in shared]
        builds.append((name, statistics.median(built), sum(t.numel() * t.element_size() for t in own)))
    print()
    print_table_head(["model", "build ms", "extra bytes"], (-18, 10, 12))
    for name, ms, extra in builds:
        print(table_line([name, f"{ms:.1f}", str(extra)], (-18, 10, 12)))


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start)


if __name__ == "__main__":
    main()
