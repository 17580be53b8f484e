"""Attribution speed: ours vs captum vs the physical limit, side by side.

The limit is what any implementation must do at least, written as bare torch:

* single-pass methods: one forward and one backward pass to the input (gradient family), or to the hooked
  layer's output (Grad-CAM family); Guided Grad-CAM needs both, so its limit is their sum.
* batched methods (integrated gradients, SmoothGrad): ``n`` times the best per-image time of a batched
  forward+backward to the input, searched over batch sizes ``LIMIT_BATCHES``.

Both take the faster of the two memory layouts (``LAYOUTS``): on the CPU a channels-last batch runs the
network 1.2-1.6x faster than an NCHW one, so a limit in one layout only would not be a limit.

Runs are interleaved (every implementation once per round, in shuffled order); the table gives the median
milliseconds and, as ratios, the median over rounds of the per-round ratio, so machine noise and drift hit
both sides of a ratio alike; read the ratios, not the milliseconds. Single-pass methods run in this process,
ours, captum and the limit in the same rounds. Batched methods run ours and captum each in a fresh process
with their own rounds of the limit (see :func:`batched_rows`). For the batched methods the script also prints
the chunk sizes the engine's memory budget chose and the peak extra memory, measured as
the rise of the process's resident-set high-water mark (``VmHWM`` in ``/proc/self/status``, reset through
``/proc/self/clear_refs``) during one cold call in a fresh subprocess: it sees every CPU allocation torch
makes, which ``tracemalloc`` does not.

    python benchmarks/bench_saliency.py [--repeats 15] [--batched-repeats 7] [--threads N] [--clock wall|cpu]
                                        [--models ...] [--methods ...] [--no-memory]

On a shared machine, other processes taking the cores make multi-threaded wall times swing by 10x or more;
``--threads 1 --clock cpu`` gives stable ratios there (the ratios, not the milliseconds, carry over).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import warnings
from dataclasses import dataclass, replace
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Tuple

import torch
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    GuidedGradCam,
    InputXGradient,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Saliency,
)
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
from cnnviz_widgets.engine.attribution import LAYER_METHODS

warnings.filterwarnings("ignore", category=UserWarning, module="captum")  # "setting backward hooks on ReLU", etc.

SINGLE_PASS = (
    "gradient",
    "input_x_gradient",
    "guided_backprop",
    "deconvnet",
    "gradcam",
    "gradcam_pp",
    "guided_gradcam",
)
BATCHED = {"integrated_gradients": ("steps", 50), "smoothgrad": ("samples", 25)}
"""Batched method -> (its option for the number of passes, the value benchmarked)."""

LIMIT_BATCHES = (1, 2, 4, 8, 16)  # 32 never won on a CPU here (page faults) and would double the search
LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
SINGLE_TARGET, BATCHED_TARGET = 1.05, 1.15
"""Issue 3's bounds on ours/limit."""

NOTES = """
captum: GuidedBackprop, Deconvolution and GuidedGradCam hook nn.ReLU modules only, so on efficientnet_lite0
(ReLU6) they return the plain gradient; IntegratedGradients and NoiseTunnel run all passes in one batch.
ours includes the display map and, for integrated gradients, the completeness check (one more forward)."""


@dataclass
class Row:
    """One line of the table: per-round milliseconds (captum ``None`` where it has no such method)."""

    model: str
    method: str
    ours: List[float]
    captum: Optional[List[float]]
    limit: List[float]
    bound: float
    captum_limit: Optional[List[float]] = None
    """The limit timed in captum's rounds, where those are separate from ours (batched methods)."""


# --- the limits: bare torch, no checks, no hooks beyond the one a layer gradient needs -------------------


def limit_input(model: torch.nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """One forward and one backward pass to the input, for every image of the batch ``x``."""
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(model(x)[:, target].sum(), x)[0]


def limit_layer(model: torch.nn.Module, x: torch.Tensor, target: int, layer: str) -> torch.Tensor:
    """One forward pass and one backward pass that stops at ``layer``'s output."""
    acts: List[torch.Tensor] = []
    handle = engine.resolve_layer(model, layer).register_forward_hook(lambda m, i, o: acts.append(o))
    try:
        out = model(x)
    finally:
        handle.remove()
    return torch.autograd.grad(out[:, target].sum(), acts[-1])[0]


def in_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` stored in memory layout ``layout`` (a key of ``LAYOUTS``)."""
    return x.contiguous(memory_format=LAYOUTS[layout])


def limit_fn(s: Subject, method: str) -> Timed:
    """The limit of a single-pass method on ``s.x`` as it is laid out: the passes it cannot avoid."""
    if method == "guided_gradcam":
        return lambda: (limit_layer(s.model, s.x, s.target, s.layer), limit_input(s.model, s.x, s.target))
    if method in LAYER_METHODS:
        return lambda: limit_layer(s.model, s.x, s.target, s.layer)
    return lambda: limit_input(s.model, s.x, s.target)


def limit_fns(s: Subject, method: str) -> Dict[Hashable, Timed]:
    """:func:`limit_fn` in every layout; the limit is the fastest of them."""
    return {("limit", layout): limit_fn(replace(s, x=in_layout(s.x, layout)), method) for layout in LAYOUTS}


def batch_limit_fns(s: Subject) -> Dict[Hashable, Timed]:
    """A forward+backward to the input on a batch of copies of the image, per (layout, batch size)."""
    return {
        (layout, b): functools.partial(limit_input, s.model, in_layout(s.x.repeat(b, 1, 1, 1), layout), s.target)
        for layout in LAYOUTS
        for b in LIMIT_BATCHES
    }


# --- ours and captum ---------------------------------------------------------------------------------------


def ours_steps(s: Subject, method: str):
    """Our public long call, as a widget iterates it (display map included)."""
    layer = s.layer if method in LAYER_METHODS else None
    options = dict([BATCHED[method]]) if method in BATCHED else {}
    return engine.explain_steps(s.model, s.x, s.target, method, layer, **options)


def ours_fn(s: Subject, method: str) -> Timed:
    """Our public entry point, run to the end."""
    return lambda: engine.last(ours_steps(s, method))


def _captum_gradcam(s: Subject) -> torch.Tensor:
    cam = LayerGradCam(s.model, engine.resolve_layer(s.model, s.layer)).attribute(
        s.x, target=s.target, relu_attributions=True
    )
    return LayerAttribution.interpolate(cam, tuple(s.x.shape[-2:]), interpolate_mode="bilinear")


def _captum_smoothgrad(s: Subject) -> torch.Tensor:
    sigma = 0.15 * float(s.x.max() - s.x.min())  # our default noise, 15% of the value range
    return NoiseTunnel(Saliency(s.model)).attribute(
        s.x, nt_type="smoothgrad", nt_samples=BATCHED["smoothgrad"][1], stdevs=sigma, target=s.target, abs=False
    )


def captum_fn(s: Subject, method: str) -> Optional[Timed]:
    """Captum's counterpart of ``method`` followed by our display reduction, or ``None`` (no Grad-CAM++)."""
    m, x, t = s.model, s.x, s.target
    layer = engine.resolve_layer(m, s.layer)
    attribute: Dict[str, Callable[[], torch.Tensor]] = {
        "gradient": lambda: Saliency(m).attribute(x, target=t, abs=False),
        "input_x_gradient": lambda: InputXGradient(m).attribute(x, target=t),
        "guided_backprop": lambda: GuidedBackprop(m).attribute(x, target=t),
        "deconvnet": lambda: Deconvolution(m).attribute(x, target=t),
        "gradcam": lambda: _captum_gradcam(s),
        "guided_gradcam": lambda: GuidedGradCam(m, layer).attribute(x, target=t, interpolate_mode="bilinear"),
        "integrated_gradients": lambda: IntegratedGradients(m).attribute(
            x, target=t, n_steps=BATCHED["integrated_gradients"][1]
        ),
        "smoothgrad": lambda: _captum_smoothgrad(s),
    }
    if method not in attribute:
        return None
    reduce = engine.METHODS[method].reduce
    return lambda: reduce(attribute[method]().detach())


# --- measuring ------------------------------------------------------------------------------------------------


def single_pass_row(s: Subject, method: str, timing: Timing) -> Row:
    """Ours, captum and the limit of one single-pass method, interleaved."""
    limits = limit_fns(s, method)
    fns = {"ours": ours_fn(s, method), **limits}
    captum = captum_fn(s, method)
    if captum is not None:
        fns["captum"] = captum
    t = timing.rounds_ms(fns)
    fastest = min(limits, key=lambda key: statistics.median(t[key]))
    return Row(s.name, method, t["ours"], t.get("captum"), t[fastest], SINGLE_TARGET)


def batched_rounds(s: Subject, impl: str, methods: Sequence[str], timing: Timing) -> Dict[str, object]:
    """``impl``'s batched ``methods`` interleaved with the (layout, batch size) search for the limit.

    Returns the per-round times of each method, the per-round per-image time of the (layout, batch size)
    with the lowest median, and that key.
    """
    limits = batch_limit_fns(s)
    make = ours_fn if impl == "ours" else captum_fn
    t = timing.rounds_ms({**limits, **{method: make(s, method) for method in methods}}, batched=True)
    layout, batch = best = min(limits, key=lambda key: statistics.median(t[key]) / key[1])
    return {"methods": {m: t[m] for m in methods}, "per_image": [ms / batch for ms in t[best]], "best": [layout, batch]}


def batched_rows(model: str, methods: Sequence[str], args: argparse.Namespace) -> Tuple[List[Row], str]:
    """Rows of the batched ``methods``, ours and captum each timed in a fresh interpreter.

    Each set of rounds gets its own process: captum's IG holds gigabytes, and once it hands them back every
    later call there faults its memory in afresh, which would charge captum's churn to whatever runs next
    (up to 20% on the next model's timings, measured). Returns the rows and our limit's batch size and layout.
    """
    runs = {impl: child(args, "--rounds", model, impl, "--methods", *methods) for impl in ("ours", "captum")}

    def limit(impl: str, method: str) -> List[float]:
        return [BATCHED[method][1] * ms for ms in runs[impl]["per_image"]]

    rows = [
        Row(
            model,
            method,
            runs["ours"]["methods"][method],
            runs["captum"]["methods"][method],
            limit("ours", method),
            BATCHED_TARGET,
            limit("captum", method),
        )
        for method in methods
    ]
    layout, batch = runs["ours"]["best"]
    return rows, f"{batch} {layout}"


def chunk_sizes(s: Subject, method: str) -> List[int]:
    """The chunks our memory budget cut ``method``'s passes into, read from the updates of the long call."""
    total = BATCHED[method][1] * s.x.shape[0]
    done: List[int] = [0] + [round(update.fraction * total) for update in ours_steps(s, method)]
    return [b - a for a, b in zip(done, done[1:])]


def child(args: argparse.Namespace, *argv: str) -> dict:
    """Run this script with ``argv`` (and our threads, clock and rounds) in a fresh interpreter; its JSON answer."""
    common = ["--threads", str(args.threads), "--clock", args.clock, "--batched-repeats", str(args.batched_repeats)]
    out = subprocess.run([sys.executable, __file__, *argv, *common], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- printing -------------------------------------------------------------------------------------------------

TIMES = (
    ("model", -18),
    ("method", -20),
    ("ours ms", 8),
    ("captum ms", 9),
    ("limit ms", 8),
    ("ours/limit", 10),
    ("captum/limit", 12),
    ("captum/ours", 11),
    ("target", -11),
)


def print_row(r: Row) -> None:
    """One timing line with the verdict: medians of the rounds, ours/limit and captum/limit as medians of
    per-round ratios, captum/ours as the quotient of those two."""
    ratio = median_ratio(r.ours, r.limit)
    verdict = f"<={r.bound:.2f} " + ("ok" if ratio <= r.bound else "MISS")
    ms = statistics.median
    if r.captum is None:
        captum = ("-", "-", "-")
    else:
        captum_ratio = median_ratio(r.captum, r.captum_limit or r.limit)
        captum = (f"{ms(r.captum):.1f}", f"{captum_ratio:.2f}", f"{captum_ratio / ratio:.2f}")
    cells = (
        r.model,
        r.method,
        f"{ms(r.ours):.1f}",
        captum[0],
        f"{ms(r.limit):.1f}",
        f"{ratio:.2f}",
        captum[1],
        captum[2],
        verdict,
    )
    print(table_line(cells, [w for _, w in TIMES]), flush=True)


def run_length(sizes: Sequence[int]) -> str:
    """``[1, 4, 4, 4, 1]`` as ``"1, 4x3, 1"``."""
    parts: List[List[int]] = []
    for size in sizes:
        if parts and parts[-1][0] == size:
            parts[-1][1] += 1
        else:
            parts.append([size, 1])
    return ", ".join(f"{size}x{count}" if count > 1 else str(size) for size, count in parts)


def print_memory(
    subjects: Sequence[Subject], methods: Sequence[str], best_limit: Dict[str, str], args: argparse.Namespace
) -> None:
    """Chunking and peak extra memory of the batched methods, ours next to captum's."""
    print(
        "\nBatched methods: our chunks (passes per forward+backward), peak extra memory (VmHWM rise, fresh process)\n"
    )
    columns = (
        ("model", -18),
        ("method", -20),
        ("our chunks", -22),
        ("best limit (batch, layout)", -26),
        ("ours peak MiB", 13),
        ("captum peak MiB", 15),
    )
    widths = [w for _, w in columns]
    print_table_head([name for name, _ in columns], widths)
    for s in subjects:
        for method in methods:
            peaks = [child(args, "--peak", s.name, method, impl)["peak_mb"] for impl in ("ours", "captum")]
            cells = (
                s.name,
                method,
                run_length(chunk_sizes(s, method)),
                best_limit[s.name],
                f"{peaks[0]:.0f}",
                f"{peaks[1]:.0f}",
            )
            print(table_line(cells, widths), flush=True)


def child_main(args: argparse.Namespace, timing: Timing) -> None:
    """Subprocess entry: print, as JSON, a cold call's peak extra memory (``--peak``) or batched rounds
    (``--rounds``)."""
    if args.peak:
        model, method, impl = args.peak
        s = load_subject(model)
        print(json.dumps({"peak_mb": peak_extra_mb(ours_fn(s, method) if impl == "ours" else captum_fn(s, method))}))
    else:
        model, impl = args.rounds
        print(json.dumps(batched_rounds(load_subject(model), impl, [m for m in args.methods if m in BATCHED], timing)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="rounds for single-pass methods")
    parser.add_argument("--batched-repeats", type=int, default=7, help="rounds for batched methods")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="wall", help="wall time, or this process's CPU time")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--methods", nargs="+", default=[*SINGLE_PASS, *BATCHED], choices=[*SINGLE_PASS, *BATCHED])
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--peak", nargs=3, metavar=("MODEL", "METHOD", "IMPL"), help=argparse.SUPPRESS)
    parser.add_argument("--rounds", nargs=2, metavar=("MODEL", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    timing = Timing(args.repeats, args.batched_repeats, CLOCKS[args.clock])
    if args.peak or args.rounds:
        return child_main(args, timing)
    print(
        f"CPU, {args.threads} threads, 224x224, batch 1, {args.clock} clock; medians of {args.repeats} interleaved "
        f"rounds ({args.batched_repeats} for batched methods); limit: fastest of layouts {tuple(LAYOUTS)}, "
        f"batch sizes searched {LIMIT_BATCHES}\n"
    )
    print_table_head([name for name, _ in TIMES], [w for _, w in TIMES])
    subjects, best_limit = [load_subject(name) for name in args.models], {}
    batched = [method for method in BATCHED if method in args.methods]
    for s in subjects:
        for method in SINGLE_PASS:
            if method in args.methods:
                print_row(single_pass_row(s, method, timing))
        if batched:
            rows, best_limit[s.name] = batched_rows(s.name, batched, args)
            for row in rows:
                print_row(row)
    print(NOTES)
    if best_limit and not args.no_memory:
        print_memory(subjects, batched, best_limit, args)


if __name__ == "__main__":
    main()
