"""Recording every layer's maps for the layer explorer: one forward pass vs a plain one, switching layers, memory.

For each model (the default EfficientNet-Lite0 with its real weights, and resnet50 with random weights as the
"resnet50-sized" case) and the sample cat at 224 px, on the CPU:

- plain ms: a no-grad forward pass of the model;
- record ms: ``engine.recording.record_layers`` over every spatial layer (the same pass keeping each layer's maps:
  a bfloat16 copy per distinct output, a rectifier's as its copied input clamped), interleaved with the plain pass;
  ratio = record / plain (the issue's target: <= 1.2). Most of the difference is the fresh memory the copies take
  (on a virtual machine each new page is expensive), so the ratio grows with the bytes held;
- switch ms: the slowest layer switch over all layers, i.e. the grid's data ready to send as the LayerExplorer sends
  it (``Recording.maps`` and ``stats``, pooled to thumbnails, encoded as one binary array; target: <= 100 ms),
  once with the whole model held and once under a small budget that forces evictions (then a switch to an evicted
  layer is one more forward pass);
- held / peak MiB: the maps held after recording and the most ever held (a copy shared by layers counted once),
  against the budget.

Speed is shown here, never asserted in tests. ``python benchmarks/bench_layers.py [--repeats 7] [--threads 2]``
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from typing import List

import torch
import torchvision
from common import CLOCKS, Timing, median_ratio, print_table_head, table_line

import cnnviz_widgets as cw
from cnnviz_widgets.engine.activations import thumbnails
from cnnviz_widgets.engine.recording import RECORD_BUDGET_BYTES, record_layers
from cnnviz_widgets.widgets.encoding import encode_array

MiB = 2**20


def spatial_layers(net: cw.Net) -> List[str]:
    """Every layer with a (C, H, W) output that the layer picker lists."""
    return [r.name for r in net.layers() if r.spatial and not r.passthrough]


def plain(model: torch.nn.Module, x: torch.Tensor) -> None:
    """The model's own forward pass, without gradients."""
    with torch.no_grad():
        model(x)


def grid_message(rec, layer: str) -> dict:
    """What the LayerExplorer publishes when a layer is chosen: its channels as one array, and their statistics."""
    stats = rec.stats(layer)
    return {"thumbnails": encode_array(thumbnails(rec.maps(layer))), "max": stats.max.tolist()}


def slowest_switch_ms(rec, layers: List[str]) -> float:
    """The slowest layer switch (:func:`grid_message`), visiting the layers from the last to the first (the most
    evictions)."""
    times = []
    for name in reversed(layers):
        start = time.perf_counter()
        grid_message(rec, name)
        times.append(1000 * (time.perf_counter() - start))
    return max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--small-budget", type=int, default=16, help="MiB for the eviction row")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = cw.sample_image("cat")
    nets = {
        "efficientnet_lite0": cw.load_model(device="cpu"),
        "resnet50 (random)": cw.load_model(torchvision.models.resnet50(weights=None), device="cpu"),
    }
    timing = Timing(args.repeats, args.repeats, CLOCKS["wall"])
    print(f"CPU, {args.threads} threads, 224 px, medians of {args.repeats} interleaved rounds; budget "
          f"{RECORD_BUDGET_BYTES // MiB} MiB (and {args.small_budget} MiB for the eviction row)\n")  # fmt: skip
    widths = [-18, 7, 8, 9, 6, -14, 10, 9, 8]
    names = ["model", "layers", "plain ms", "record ms", "ratio", "budget", "switch ms", "held MiB", "peak MiB"]
    print_table_head(names, widths)
    for name, net in nets.items():
        model, x = net.model.eval(), net.tensor(image)
        layers = spatial_layers(net)

        times = timing.rounds_ms({"plain": functools.partial(plain, model, x),
                                  "record": functools.partial(record_layers, net, x, layers)})  # fmt: skip
        plain_ms, record_ms = statistics.median(times["plain"]), statistics.median(times["record"])
        for budget in (RECORD_BUDGET_BYTES, args.small_budget * MiB):
            rec = record_layers(net, x, layers, budget=budget)
            held, peak = rec.nbytes / MiB, rec.peak / MiB
            switch = slowest_switch_ms(rec, layers)
            cells = [name, str(len(layers)), f"{plain_ms:.1f}", f"{record_ms:.1f}",
                     f"{median_ratio(times['record'], times['plain']):.2f}", f"{budget // MiB} MiB",
                     f"{switch:.1f}", f"{held:.1f}", f"{peak:.1f}"]  # fmt: skip
            print(table_line(cells, widths))
    print("\ntargets: ratio <= 1.2; switch <= 100 ms for every layer; peak within the budget (plus one layer)")


if __name__ == "__main__":
    main()
