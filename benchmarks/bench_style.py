"""Style transfer, texture synthesis and feature inversion: speed against the limit, and quality judged by a network
the optimisation never saw, on the default model, resnet18 and squeezenet1_1.

Speed. The limit is one forward+backward of the model truncated at the deepest layer the recipe reads (a hook stops
the pass there), frozen weights, on a picture of the run's size: the work any implementation must do per step (the
targets are computed once). Ours is one step of a :class:`Transfer` (all its content and style terms). Both run the
same number of steps per round in shuffled order; the ratio is the median of per-round ratios. Then a whole default
run (the recipe's 200 steps) is timed at 256 and 512 px.

Quality. A seeded, randomly initialised three-layer CNN (``engine.style.judge``) judges each result: how far its Gram
statistics moved from the content's to the style's (``progress``, at least 0.5 wanted) and whether its deepest
features are closer to the content's than to the style's (``kept``). Every model runs with cs231n's absolute weights
(on its recipe's layers), with relative weights (``scale``, our recipes) and with SWAG's softmax on top, so each
remedy's effect is measured. resnet18 and squeezenet1_1 have random weights here (no hub is reachable); the default
model has its real ImageNet weights. Texture synthesis reports how much the Gram loss falls from noise; inversion, the
PSNR of the reconstruction from each layer.

    python benchmarks/bench_style.py [--steps 5] [--rounds 3] [--threads 2] [--quick] [--save] [--part speed|quality]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import replace
from typing import Callable, Dict, List

import torch
from common import MODELS, limit_ms, median_ratio, print_table_head, table_line
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.style import CS231N, Inversion, Preset, Transfer, judge, preset_for
from cnnviz_widgets.labs.pictures import painting

LIMIT_TARGET = 1.15
SECONDS_TARGET = 15.0


def load(name: str) -> cw.Net:
    torch.manual_seed(0)
    return cw.load_model(name, device="cpu", **MODELS[name]) if MODELS[name] else cw.load_model(device="cpu")


def ours_ms(run: Transfer, steps: int) -> float:
    start = time.perf_counter()
    last(run.steps(steps, every=0))
    return 1000 * (time.perf_counter() - start) / steps


def deepest(net: cw.Net, layers: List[str]) -> str:
    order = {record.name: i for i, record in enumerate(net.layers())}
    return max(layers, key=lambda name: order[name])


def speed(net: cw.Net, cat: Image.Image, style: Image.Image, args: argparse.Namespace) -> None:
    recipe = preset_for(net)
    layer = deepest(net, list(recipe.layers))
    widths = [-6, -10, 10, 10, 12, 12]
    print_table_head(["size", "px", "ours ms", "limit ms", "ours/limit", "run s"], widths)
    for size in (256, 512):
        probe = Transfer(net, cat, [style], size=size)
        height, width = probe.vis.height, probe.vis.width
        makers: Dict[str, Callable[[], float]] = {
            "ours": lambda size=size: ours_ms(Transfer(net, cat, [style], size=size), args.steps),
            "limit": lambda h=height, w=width: limit_ms(net, layer, h, w, args.steps),
        }
        for make in makers.values():
            make()
        runs: Dict[str, List[float]] = {who: [] for who in makers}
        order = list(makers)
        for i in range(args.rounds):
            random.Random(i).shuffle(order)
            for who in order:
                runs[who].append(makers[who]())
        start = time.perf_counter()
        run = Transfer(net, cat, [style], size=size)
        last(run.steps(every=0))
        seconds = time.perf_counter() - start
        ratio = median_ratio(runs["ours"], runs["limit"])
        ours, limit = statistics.median(runs["ours"]), statistics.median(runs["limit"])
        cells = [str(size), f"{width}x{height}", f"{ours:.1f}", f"{limit:.1f}", f"**{ratio:.2f}**", f"{seconds:.1f}"]
        print(table_line(cells, widths))
    print(f"\ntarget: ours/limit <= {LIMIT_TARGET}; a {recipe.steps}-step run at 256 px <= {SECONDS_TARGET:.0f} s\n")


def recipes(net: cw.Net) -> Dict[str, Preset]:
    """cs231n's absolute weights (its own recipe on SqueezeNet; on the other models, its weights on their layers), the
    model's relative weights (``scale``) and those after SWAG's softmax, all at 256 px with the style at that size."""
    ours = preset_for(net)
    relative = ours.with_remedy("scale")
    layers = [layer for layer, _ in relative.style][-4:]
    weights = [w for _, w in CS231N.style][-len(layers) :]
    content = (relative.content[0], CS231N.content[1])
    transplanted = replace(CS231N, name="cs231n weights", content=content, style=tuple(zip(layers, weights)))
    absolute = ours if ours.remedy == "none" else transplanted
    same = dict(size=256, style_scale=1.0)
    return {
        "none": replace(absolute, **same),
        "scale": replace(relative, **same),
        "softmax": replace(relative.with_remedy("softmax"), **same),
    }


def quality(names: List[str], photos: Dict[str, Image.Image], style: Image.Image, save: bool) -> None:
    widths = [-20, -8, 10, 10, 8]
    print_table_head(["model", "remedy", "progress", "kept", "s"], widths)
    for name in names:
        net = load(name)
        for remedy, recipe in recipes(net).items():
            progress, kept, seconds = [], 0, 0.0
            for photo_name, photo in photos.items():
                start = time.perf_counter()
                run = Transfer(net, photo, [style], preset=recipe)
                last(run.steps(every=0))
                seconds += time.perf_counter() - start
                verdict = judge(run.image(), run.content, run.styles[0])
                progress.append(verdict.style_progress)
                kept += verdict.content_kept
                if save:
                    picture = (run.image()[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
                    Image.fromarray(picture).save(f"/tmp/bench-style-{name}-{remedy}-{photo_name}.png")
            print(table_line([name, remedy, f"{statistics.mean(progress):.2f}", f"{kept}/{len(photos)}",
                              f"{seconds / len(photos):.1f}"], widths), flush=True)  # fmt: skip
    print(
        "\nprogress: mean over the photos of 1 - d(result, style) / d(content, style) in the judge's Gram matrices "
        "(>= 0.5 wanted); kept: results closer to their content than to the style in the judge's deepest features\n"
    )


def texture_and_inversion(net: cw.Net, texture: Image.Image, cat: Image.Image) -> None:
    run = Transfer(net, None, texture, size=256, init="noise")
    last(run.steps(every=0))
    style = run.curves["style"]
    print(
        f"Texture synthesis ({net.name}, 256 px from noise, {run.step} steps): Gram loss {style[0]:.3g} -> "
        f"{style[-1]:.3g}, {style[0] / style[-1]:.0f}x lower (>= 10x wanted)\n"
    )
    inversion = Inversion(net, cat, size=256)
    last(inversion.steps(every=0))
    widths = [-12, 10]
    print_table_head(["layer", "PSNR dB"], widths)
    for layer, db in zip(inversion.layers, inversion.psnr()):
        print(table_line([layer, f"{db:.1f}"], widths))
    print(
        f"\nFeature inversion of the cat from each layer ({inversion.total} steps, 256 px): >= 20 dB from an early "
        "layer wanted, falling with depth\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="steps per timing round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="quality on the default model only")
    parser.add_argument("--save", action="store_true", help="save every result under /tmp/bench-style-*.png")
    parser.add_argument("--part", choices=("all", "speed", "quality"), default="all")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = load("efficientnet_lite0")
    cat, coffee, style = cw.sample_image("cat"), cw.sample_image("coffee"), painting(384)
    print(f"CPU, {args.threads} threads; style: the lab's painting (cw.labs.painting); "
          f"{args.rounds} rounds of {args.steps} steps\n")  # fmt: skip
    if args.part in ("all", "speed"):
        speed(net, cat, style, args)
    if args.part == "speed":
        return
    texture_and_inversion(net, style, cat)
    names = ["efficientnet_lite0"] if args.quick else list(MODELS)
    quality(names, {"cat": cat, "coffee": coffee}, style, args.save)


if __name__ == "__main__":
    main()
