"""Class visualisation speed and quality: ours vs a plain torch loop of the cs231n recipe vs the limit, side by side.

Speed: ms per step of each recipe against the limit, one forward+backward of the whole model (the class score reads
the logits, so nothing can be cut) at the side the model sees, with frozen weights, in the default memory layout.
Quality, over random classes, every run at cs231n's 100 steps: the model's probability of the class for each
recipe's final picture (target > 0.9), and the class score each recipe reaches against :func:`plain_cs231n` (the
recipe as the assignment writes it, the lab's code: roll, step, unroll, clamp, blur every 10) at the same step count
(target: ours >= plain).

    python benchmarks/bench_classvis.py [--classes 20] [--threads 2] [--speed-steps 20] [--seeds 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Callable, Dict, List

import torch
from common import median_ratio, print_table_head, table_line

import cnnviz_widgets as cw
from cnnviz_widgets.engine.classvis import CLASS_PRESETS, ClassVisualization
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.replica import private
from cnnviz_widgets.labs import reference

LIMIT_TARGET, PROBABILITY_TARGET = 1.10, 0.9


def _norm(net: cw.Net):
    prep = net.preprocess
    return torch.tensor(prep.mean).reshape(1, -1, 1, 1), torch.tensor(prep.std).reshape(1, -1, 1, 1)


def plain_cs231n(net: cw.Net, target: int, steps: int, seed: int = 0) -> torch.Tensor:
    """cs231n's class visualisation written plainly, independently of the engine: the lab's given loop
    (``cw.labs.create_class_visualization``: roll, step, roll back, clamp, blur after iteration 0, 10, 20...) around
    the lab's reference step, on a copy of the model. The final picture, ``(1, C, S, S)`` in [0, 1]."""
    mean, std = _norm(net)
    model = cw.labs.student_model(net)
    img = cw.labs.create_class_visualization(
        reference.class_visualization_update_step, model, target, num_iterations=steps, seed=seed,
        size=net.preprocess.size,
    )  # fmt: skip
    return (img.cpu() * std + mean).clamp(0, 1)


def score(net: cw.Net, target: int, image: torch.Tensor) -> float:
    """The class score (logit) of each picture ``(B, C, S, S)`` in [0, 1], summed, as the model sees it."""
    mean, std = _norm(net)
    with private(net) as model, torch.no_grad():
        return float(model(((image - mean) / std).to(net.device))[:, target].sum())


def limit_run(net: cw.Net, side: int, steps: int) -> float:
    """Seconds for ``steps`` forward+backward passes of the whole model at ``side`` px with frozen weights."""
    x0 = torch.rand(1, net.preprocess.channels, side, side, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    with private(net) as model:
        for _ in range(steps):
            x = x0.clone().requires_grad_()
            model(x)[0, 0].backward()
    return time.perf_counter() - start


def ours_run(net: cw.Net, preset: str, steps: int, seed: int) -> float:
    """Seconds for ``steps`` steps of the recipe (made and warmed by one step before the clock starts)."""
    run = ClassVisualization(net, 1, preset, steps=steps + 1, seed=seed)
    last(run.steps(1, every=0))
    start = time.perf_counter()
    last(run.steps(steps, every=0))
    return time.perf_counter() - start


def speed(net: cw.Net, steps: int, seeds: int) -> None:
    """The speed table: each recipe against the limit at the side its model sees, interleaved per seed."""
    print(f"\nSpeed, {steps} steps, medians over {seeds} seeds (pairs in shuffled order):\n")
    widths = [-8, 8, 9, 9, 11]
    print_table_head(["recipe", "sees px", "ours ms", "limit ms", "ours/limit"], widths)
    shuffle = random.Random(0).shuffle
    for preset in CLASS_PRESETS:
        side = net.preprocess.size + (24 if CLASS_PRESETS[preset].settings.get("transforms") is True else 0)
        makers: Dict[str, Callable[[int], float]] = {
            "ours": lambda seed, preset=preset: ours_run(net, preset, steps, seed),
            "limit": lambda _seed, side=side: limit_run(net, side, steps),
        }
        for make in makers.values():
            make(0)  # warm-up
        per: Dict[str, List[float]] = {who: [] for who in makers}
        order = list(makers)
        for seed in range(seeds):
            shuffle(order)
            for who in order:
                per[who].append(1000 * makers[who](seed) / steps)
        ms = {who: statistics.median(v) for who, v in per.items()}
        ratio = median_ratio(per["ours"], per["limit"])
        print(table_line([preset, str(side), f"{ms['ours']:.1f}", f"{ms['limit']:.1f}", f"**{ratio:.2f}**"], widths))
    print(f"\ntarget: ours/limit <= {LIMIT_TARGET}")


def quality(net: cw.Net, classes: int) -> None:
    """The quality table: per random class, each recipe's final probability and class score at cs231n's step count,
    against the plain cs231n loop's score at the same count and seed."""
    targets = random.Random(0).sample(range(net.num_classes), classes)
    steps = CLASS_PRESETS["cs231n"].steps
    print(f"\nQuality over {classes} random classes, {steps} steps each (seed = index in the list):\n")
    widths = [-30, 10, 10, 10, 10, 10]
    print_table_head(["class", "p cs231n", "p distill", "s cs231n", "s distill", "s plain"], widths)
    probs: Dict[str, List[float]] = {p: [] for p in CLASS_PRESETS}
    scores: Dict[str, List[float]] = {p: [] for p in (*CLASS_PRESETS, "plain")}
    for seed, target in enumerate(targets):
        for preset in CLASS_PRESETS:
            run = ClassVisualization(net, target, preset, steps=steps, seed=seed)
            last(run.steps(every=0))
            probs[preset].append(run.probabilities()[0])
            scores[preset].append(score(net, target, run.image()))
        scores["plain"].append(score(net, target, plain_cs231n(net, target, steps, seed)))
        label = f"{target} {net.label(target)}"[:30]
        cells = [label, *(f"{probs[p][-1]:.3f}" for p in CLASS_PRESETS), *(f"{v[-1]:.2f}" for v in scores.values())]
        print(table_line(cells, widths), flush=True)
    print()
    for preset, values in probs.items():
        above = sum(p > PROBABILITY_TARGET for p in values)
        wins = sum(ours >= plain for ours, plain in zip(scores[preset], scores["plain"]))
        ours, plain = statistics.mean(scores[preset]), statistics.mean(scores["plain"])
        print(f"{preset}: p(class) median {statistics.median(values):.3f}, min {min(values):.3f}, "
              f"{above}/{len(values)} above {PROBABILITY_TARGET}; class score mean {ours:.2f} vs plain cs231n "
              f"{plain:.2f}, >= plain on {wins}/{len(values)} classes")  # fmt: skip
    print(f"targets: p > {PROBABILITY_TARGET} on every class; score >= the plain cs231n loop's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--speed-steps", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = cw.load_model(device="cpu")
    print(f"CPU, {args.threads} threads, {net.name}")
    speed(net, args.speed_steps, args.seeds)
    if args.classes:
        quality(net, args.classes)


if __name__ == "__main__":
    main()
