"""Feature visualisation speed and quality: ours vs lucent's ``render_vis`` vs the limit, side by side.

The setting of issue 5: CPU, a channel objective, the Fourier parameterisation with decorrelated colour,
lucent's standard transforms (pad 12, jitter 8, scale 0.9-1.1, rotate -10..10 degrees, jitter 4), Adam at
lr 0.05, at 224 and 128 px. Lucent gets the model's own normalisation (``preprocess=False`` plus a
normalising transform) so both optimise the same function. The limit is one forward+backward of the model
truncated at the objective layer with frozen weights, at the side the model sees (the padded image, at
least the model's input size), in the default memory layout.

Each seed runs ours, lucent and the limit once each for the same number of steps, in shuffled order; the
ratios are medians of per-seed ratios (pairing cancels the slow drift of this shared machine's speed).
Quality: the objective (mean activation of the channel) of each final image, evaluated the same way for both
(no transforms, upsampled to the input size), averaged over seeds.

A second table runs 21 short calls in a row of each and counts the hooks left on the model.

    python benchmarks/bench_featurevis.py [--steps 128] [--seeds 3] [--threads 2] [--models ...] [--sizes 224 128]
                                          [--calls 21] [--no-speed]
"""

from __future__ import annotations

import argparse
import copy
import functools
import math
import random
import statistics
import time
import warnings
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from common import MODELS, median_ratio, print_table_head, table_line

import cnnviz_widgets as cw
from cnnviz_widgets.engine.featurevis import Visualization, channel
from cnnviz_widgets.engine.featurevis.transforms import upsampled
from cnnviz_widgets.engine.hooks import capture
from cnnviz_widgets.engine.progress import last
from cnnviz_widgets.engine.replica import private

LAYERS = {"resnet18": "layer3", "squeezenet1_1": "features.9", "efficientnet_lite0": "_blocks.9"}
"""The objective's layer per model (resnet18's layer3 as in the issue); the channel is the layer's most active
one on the cat photo (the random-weight models have dead channels, whose value would compare nothing)."""
SPEED_TARGET, LIMIT_TARGET = 2.0, 1.15


def lucent_run(
    net: cw.Net, layer: str, unit: int, size: int, steps: int, seed: int, fresh: bool = True
) -> Tuple[float, torch.Tensor]:
    """Seconds for ``steps`` steps of lucent's ``render_vis`` and its final image ``(1, 3, size, size)``.

    Lucent leaves its hooks on the model (about 70 per call). With ``fresh`` it runs on a copy made before the
    clock starts, so neither its later calls nor ours and the limit's pay for them (which would also make ours
    fall back to the model's own forward: the fast copy would skip the hooks).
    """
    from lucent.optvis import objectives, param, render, transform

    model = copy.deepcopy(net.model) if fresh else net.model

    mean = torch.tensor(net.preprocess.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(net.preprocess.std).reshape(1, 3, 1, 1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    param_f = lambda: param.image(size, fft=True, decorrelate=True)  # noqa: E731
    transforms = transform.standard_transforms + [lambda x: (x - mean) / std]
    objective = objectives.channel(layer.replace(".", "_"), unit)
    start = time.perf_counter()
    images = render.render_vis(
        model,
        objective,
        param_f,
        transforms=transforms,
        thresholds=(steps,),
        preprocess=False,
        progress=False,
        show_image=False,
    )
    seconds = time.perf_counter() - start
    return seconds, torch.from_numpy(images[-1]).permute(0, 3, 1, 2)


def ours_run(net: cw.Net, layer: str, unit: int, size: int, steps: int, seed: int) -> Tuple[float, torch.Tensor]:
    """Seconds for constructing and running ours for ``steps`` steps, and its final image."""
    start = time.perf_counter()
    vis = Visualization(net, channel(layer, unit), size, seed=seed)
    last(vis.steps(steps, every=0))
    seconds = time.perf_counter() - start
    return seconds, vis.image()


def score(net: cw.Net, layer: str, unit: int, image: torch.Tensor) -> float:
    """The channel's mean activation for ``image``, seen plainly (upsampled to the input size, normalised)."""
    mean = torch.tensor(net.preprocess.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(net.preprocess.std).reshape(1, 3, 1, 1)
    x = (upsampled(image.float(), net.preprocess.size) - mean) / std
    with private(net) as model, torch.no_grad(), capture(model, [layer]) as record:
        model(x)
    return float(record[layer][:, unit].mean())


def limit_run(net: cw.Net, layer: str, unit: int, side: int, steps: int, seed: int) -> Tuple[float, None]:
    """Seconds for ``steps`` truncated forward+backward passes at ``side`` px with frozen weights (a hook stops
    the pass after ``layer``), in the default memory layout: the work any implementation must do per step."""
    x0 = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    with private(net) as model:  # the engine's replica: eval mode, frozen weights
        for _ in range(steps):
            with capture(model, [layer], until={layer: 1}) as record:
                x = x0.clone().requires_grad_()
                record.forward(model, x)
                record[layer][:, unit].mean().backward()
    return time.perf_counter() - start, None


def top_unit(net: cw.Net, layer: str) -> int:
    """The channel of ``layer`` with the largest mean activation on the cat photo."""
    with private(net) as model, torch.no_grad(), capture(model, [layer]) as record:
        model(net.tensor(cw.sample_image("cat")))
    return int(record[layer][0].flatten(1).mean(1).argmax())


def hooks_on(model: torch.nn.Module) -> int:
    """Forward hooks left on the model's modules."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def repeated(name: str, calls: int, steps: int) -> None:
    """``calls`` short runs in a row of each: hooks left on the model afterwards, and ms/step of the first and
    last call (lucent's hooks live on in the model and every later forward pass runs them)."""
    torch.manual_seed(0)
    net = cw.load_model(name, device="cpu", **MODELS[name]) if MODELS[name] else cw.load_model(device="cpu")
    layer = LAYERS[name]
    print(f"\n{calls} calls of {steps} steps in a row, {name} {layer}, 128 px:\n")
    widths = [-8, 13, 16, 15]
    print_table_head(["", "hooks after", "first call ms", "last call ms"], widths)
    for who, make in (("ours", ours_run), ("lucent", functools.partial(lucent_run, fresh=False))):
        times = []
        for seed in range(calls):
            seconds, _ = make(net, layer, 0, 128, steps, seed)
            times.append(1000 * seconds / steps)
        print(table_line([who, str(hooks_on(net.model)), f"{times[0]:.1f}", f"{times[-1]:.1f}"], widths), flush=True)


def main() -> None:
    warnings.filterwarnings("ignore", category=UserWarning)  # lucent's and torchvision's deprecation notes
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(LAYERS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[224, 128])
    parser.add_argument("--calls", type=int, default=21, help="short runs in a row for the hook-leak table (0: skip)")
    parser.add_argument("--speed", action=argparse.BooleanOptionalAction, default=True, help="the speed table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"CPU, {args.threads} threads, {args.steps} steps, {args.seeds} seeds; "
        "fft + decorrelate, standard transforms, Adam 0.05\n"
    )
    widths = [-18, 4, -12, 9, 10, 9, 9, 12, 10, 11, 11]
    print_table_head(
        [
            "model",
            "px",
            "layer:unit",
            "ours ms",
            "lucent ms",
            "limit ms",
            "sees px",
            "lucent/ours",
            "ours/limit",
            "ours value",
            "lucent value",
        ],
        widths,
    )
    shuffle = random.Random(0).shuffle
    for name in args.models if args.speed else ():
        torch.manual_seed(0)  # the same random weights every time
        net = cw.load_model(name, device="cpu", **MODELS[name]) if MODELS[name] else cw.load_model(device="cpu")
        layer = LAYERS[name]
        unit = top_unit(net, layer)
        for size in args.sizes:
            side = max(size + 24, net.preprocess.size)
            makers: Dict[str, Callable] = {
                "ours": lambda *a: ours_run(*a),
                "lucent": lambda *a: lucent_run(*a),
                "limit": lambda net, layer, unit, _size, steps, seed, side=side: limit_run(
                    net, layer, unit, side, steps, seed
                ),
            }
            runs: Dict[str, List[Tuple[float, float]]] = {who: [] for who in makers}
            for make in makers.values():  # warm-up
                make(net, layer, unit, size, 4, 0)
            order = list(makers)
            for seed in range(args.seeds):
                shuffle(order)
                for who in order:
                    seconds, image = makers[who](net, layer, unit, size, args.steps, seed)
                    value = score(net, layer, unit, image) if image is not None else math.nan
                    runs[who].append((1000 * seconds / args.steps, value))
            per_step = {who: [m for m, _ in runs[who]] for who in runs}
            ms = {who: statistics.median(per_step[who]) for who in runs}

            print(
                table_line(
                    [
                        name,
                        str(size),
                        f"{layer}:{unit}",
                        f"{ms['ours']:.1f}",
                        f"{ms['lucent']:.1f}",
                        f"{ms['limit']:.1f}",
                        str(side),
                        f"**{median_ratio(per_step['lucent'], per_step['ours']):.2f}**",
                        f"**{median_ratio(per_step['ours'], per_step['limit']):.2f}**",
                        f"{statistics.mean(v for _, v in runs['ours']):.3g}",
                        f"{statistics.mean(v for _, v in runs['lucent']):.3g}",
                    ],
                    widths,
                ),
                flush=True,
            )
    if args.speed:
        print(f"\ntargets: lucent/ours >= {SPEED_TARGET}, ours/limit <= {LIMIT_TARGET}, ours value >= lucent value")
    if args.calls:
        repeated("resnet18", args.calls, 8)


if __name__ == "__main__":
    main()
