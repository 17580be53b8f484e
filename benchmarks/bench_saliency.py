"""Gradient saliency and Grad-CAM: ours vs captum vs the physical limit, side by side in one process.

The limit is what any implementation must do at least: one forward and one backward pass to the input
(gradient) or to the layer (Grad-CAM), written as bare torch. Runs are interleaved and the median of
several repeats is reported, so machine noise hits all three alike; read the ratios, not the milliseconds.

    python benchmarks/bench_saliency.py [--repeats 15] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Dict

import torch
import torch.nn.functional as F
from captum.attr import LayerAttribution, LayerGradCam, Saliency

import cnnviz_widgets as cw
from cnnviz_widgets import engine


def limit_gradient(model, x, target):
    x = x.detach().requires_grad_(True)
    return torch.autograd.grad(model(x)[0, target], x)[0]


def limit_gradcam(model, x, target, layer):
    acts = []
    handle = engine.resolve_layer(model, layer).register_forward_hook(lambda m, i, o: acts.append(o))
    try:
        out = model(x.detach().requires_grad_(True))
    finally:
        handle.remove()
    grad = torch.autograd.grad(out[0, target], acts[-1])[0]
    cam = F.relu((grad.mean(dim=(2, 3), keepdim=True) * acts[-1]).sum(1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)


def captum_gradcam(model, x, target, layer):
    cam = LayerGradCam(model, engine.resolve_layer(model, layer)).attribute(x, target=target, relu_attributions=True)
    return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")


def median_ms(fns: Dict[str, Callable[[], object]], repeats: int) -> Dict[str, float]:
    """Median wall time of each function, measured round-robin so drift affects all equally."""
    for fn in fns.values():  # warm-up
        fn()
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    nets = {
        "efficientnet_lite0": cw.load_model(device="cpu"),
        "resnet18": cw.load_model("resnet18", pretrained=False, device="cpu"),
        "squeezenet1_1": cw.load_model("squeezenet1_1", pretrained=False, device="cpu"),
    }
    print(f"CPU, {args.threads} threads, 224x224, batch 1, median of {args.repeats} interleaved runs\n")
    header = f"{'model':<20}{'method':<10}{'ours ms':>9}{'captum ms':>11}{'limit ms':>10}{'ours/limit':>12}{'captum/limit':>14}{'captum/ours':>13}"
    print(header)
    print("-" * len(header))
    for name, net in nets.items():
        model = net.model.eval()
        x = net.tensor(cw.sample_image("cat"))
        target = net.predict(cw.sample_image("cat"))[0].index
        layer = engine.default_cam_layer(model, net.layers())
        cases = {
            "gradient": {
                "ours": lambda: engine.saliency(model, x, target, method="gradient"),
                "captum": lambda: Saliency(model).attribute(x, target=target, abs=True).amax(dim=1),
                "limit": lambda: limit_gradient(model, x, target),
            },
            "gradcam": {
                "ours": lambda: engine.saliency(model, x, target, method="gradcam", layer=layer),
                "captum": lambda: captum_gradcam(model, x, target, layer),
                "limit": lambda: limit_gradcam(model, x, target, layer),
            },
        }
        for method, fns in cases.items():
            t = median_ms(fns, args.repeats)
            print(
                f"{name:<20}{method:<10}{t['ours']:>9.1f}{t['captum']:>11.1f}{t['limit']:>10.1f}"
                f"{t['ours'] / t['limit']:>12.2f}{t['captum'] / t['limit']:>14.2f}{t['captum'] / t['ours']:>13.2f}"
            )


if __name__ == "__main__":
    main()
