"""DeepDream speed and quality: a step of ours vs the limit side by side, the time per octave at 512 px on the default
model, and the amplified layer's norm after every octave (it must rise every octave).

The limit is one forward+backward of the model truncated at the dreamt layer (a hook stops the pass there) with frozen
weights, on a picture of the octave's size, in the default memory layout: the work any implementation must do per
step. Ours is one step of the dream's own Visualization at the same size (jitter, mean-|gradient| step, clamp). Both
run the same number of steps per round, in shuffled order; the ratio is the median of per-round ratios.

    python benchmarks/bench_dream.py [--size 512] [--steps 6] [--rounds 3] [--threads 2] [--layer _blocks.10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Callable, Dict, List

import torch
from common import limit_ms, median_ratio, print_table_head, table_line

import cnnviz_widgets as cw
from cnnviz_widgets.engine.dream import Dream
from cnnviz_widgets.engine.progress import last

LIMIT_TARGET = 1.10


def ours_ms(dream: Dream, steps: int) -> float:
    """ms per step of ``steps`` more steps of the dream's current octave (at full size for a one-octave dream)."""
    vis = dream.vis
    start = time.perf_counter()
    last(vis.steps(steps, every=0))
    return 1000 * (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="longest side of the dream")
    parser.add_argument("--steps", type=int, default=6, help="steps per timing round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layer", default=None, help="layer to amplify (default: the engine's default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = cw.load_model(device="cpu")
    cat = cw.sample_image("cat")

    # one octave at full size: ours vs the limit, per step
    probe = Dream(net, cat, args.layer, octaves=1, steps=1, size=args.size)
    layer = sorted(probe.objective.layers)[0]
    height, width = probe.sizes[-1]
    print(f"CPU, {args.threads} threads; efficientnet_lite0, {layer}, cat at {width}x{height} px; "
          f"{args.rounds} rounds of {args.steps} steps\n")  # fmt: skip
    makers: Dict[str, Callable[[], float]] = {
        "ours": lambda: ours_ms(Dream(net, cat, layer, octaves=1, steps=1, size=args.size), args.steps),
        "limit": lambda: limit_ms(net, layer, height, width, args.steps),
    }
    for make in makers.values():  # warm-up
        make()
    runs: Dict[str, List[float]] = {who: [] for who in makers}
    order = list(makers)
    for _ in range(args.rounds):
        random.Random(len(runs["ours"])).shuffle(order)
        for who in order:
            runs[who].append(makers[who]())
    widths = [-10, 10, 10, 12]
    print_table_head(["px", "ours ms", "limit ms", "ours/limit"], widths)
    ratio = median_ratio(runs["ours"], runs["limit"])
    print(table_line([f"{width}x{height}", f"{statistics.median(runs['ours']):.0f}",
                      f"{statistics.median(runs['limit']):.0f}", f"**{ratio:.2f}**"], widths))  # fmt: skip
    print(f"\ntarget: ours/limit <= {LIMIT_TARGET}\n")

    # the default dream: 4 octaves of 10 steps, timed per octave, with the layer's norm after each
    dream = Dream(net, cat, layer, size=args.size)
    print(f"Default dream (4 octaves x 10 steps, scale 1.4, strength 1.5, jitter 32); norm on the photo "
          f"{dream.norm0:.1f}\n")  # fmt: skip
    widths = [-7, -10, 10, 12, 10]
    print_table_head(["octave", "px", "seconds", "ms/step", "norm"], widths)
    start = time.perf_counter()
    for update in dream.steps(dream.remaining, every=0):
        frame = update.result
        if frame is not None and frame.full is not None:
            seconds = time.perf_counter() - start
            h, w = dream.sizes[frame.octave]
            print(table_line([str(frame.octave + 1), f"{w}x{h}", f"{seconds:.2f}", f"{1000 * seconds / 10:.0f}",
                              f"{dream.norms[-1]:.1f}"], widths), flush=True)  # fmt: skip
            start = time.perf_counter()
    norms = dream.norms
    rising = all(b > a for a, b in zip(norms, norms[1:]))
    shown = " -> ".join(f"{n:.1f}" for n in norms)
    print(f"\nnorm rises from octave to octave: {'yes' if rising else 'NO'} ({shown}); "
          f"after the last octave {norms[-1] / dream.norm0:.2f}x the photo's")  # fmt: skip


if __name__ == "__main__":
    main()
