"""What every benchmark here shares: the models, interleaved timing, peak memory and markdown tables."""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, Hashable, List, Sequence

import torch

import cnnviz_widgets as cw
from cnnviz_widgets import engine
from cnnviz_widgets.engine.hooks import capture
from cnnviz_widgets.engine.replica import private

MODELS = {"efficientnet_lite0": {}, "resnet18": {"pretrained": False}, "squeezenet1_1": {"pretrained": False}}
"""Model name -> ``cw.load_model`` keywords; the default model keeps its real weights."""

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""``cpu`` counts only this process's CPU seconds (all its threads): with ``--threads 1`` it is immune to other
processes taking turns on the cores, which on a shared machine swamps wall time."""

Timed = Callable[[], object]


@dataclass
class Subject:
    """One model with the image, class and Grad-CAM layer every method is asked about."""

    name: str
    model: torch.nn.Module
    x: torch.Tensor
    target: int
    layer: str


def load_subject(name: str) -> Subject:
    """``name`` from ``MODELS`` on the CPU in eval mode, with the sample cat (NCHW-contiguous) and its top class."""
    net = cw.load_model(name, device="cpu", **MODELS[name]) if MODELS[name] else cw.load_model(device="cpu")
    image = cw.sample_image("cat")
    model = net.model.eval()
    layer = engine.default_cam_layer(model, net.layers())
    return Subject(name, model, net.tensor(image).contiguous(), net.predict(image)[0].index, layer)


@dataclass
class Timing:
    """How to time: rounds for short and for long functions, and the clock."""

    repeats: int
    batched_repeats: int
    clock: Callable[[], float]
    shuffle: Callable[[list], None] = random.Random(0).shuffle

    def rounds_ms(self, fns: Dict[Hashable, Timed], batched: bool = False) -> Dict[Hashable, List[float]]:
        """Each function's time in ms per round: all of them once per round, so drift affects all equally, in
        a shuffled order, so none always runs after the same neighbour (whose freed memory it would reuse)."""
        for _ in range(1 if batched else 2):  # warm-up
            for fn in fns.values():
                fn()
        times: Dict[Hashable, List[float]] = {name: [] for name in fns}
        order = list(fns)
        for _ in range(self.batched_repeats if batched else self.repeats):
            self.shuffle(order)
            for name in order:
                fn = fns[name]
                start = self.clock()
                fn()
                times[name].append(1000 * (self.clock() - start))
        return times


def median_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """Median over rounds of ``a[i] / b[i]``: the rounds are interleaved, so pairing cancels slow drift."""
    return statistics.median(x / y for x, y in zip(a, b))


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def peak_extra_mb(fn: Timed) -> float:
    """How far one call of ``fn`` raises the resident-set high-water mark above the current RSS, in MiB.

    Run it in a fresh process for a cold call: it sees every CPU allocation torch makes (``tracemalloc``
    does not), and no allocator cache left by earlier calls hides the memory.
    """
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    fn()
    return (_status_kb("VmHWM") - before) / 1024


def table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """A markdown table line; a negative width left-aligns the column."""
    return "| " + " | ".join(f"{c:<{-w}}" if w < 0 else f"{c:>{w}}" for c, w in zip(cells, widths)) + " |"


def print_table_head(names: Sequence[str], widths: Sequence[int]) -> None:
    print(table_line(names, widths))
    print(table_line(["-" * abs(w) for w in widths], widths))


def limit_ms(net: cw.Net, layer: str, height: int, width: int, steps: int) -> float:
    """ms per forward+backward of a ``height`` x ``width`` picture through ``net`` truncated at ``layer`` (a hook stops
    the pass there), frozen weights, default memory layout: the least work any gradient step on a picture must do."""
    x0 = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    with private(net) as model:
        for _ in range(steps):
            with capture(model, [layer], until={layer: 1}) as record:
                x = x0.clone().requires_grad_()
                record.forward(model, x)
                record[layer].pow(2).mean().backward()
    return 1000 * (time.perf_counter() - start) / steps
