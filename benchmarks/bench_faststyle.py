"""Fast style transfer (Johnson et al. 2016): training time of the small configuration on the default model, the two
judgements on held-out photos, and the time of one ``apply`` at 256 px.

The style is the style-transfer lab's painting (``cw.labs.painting``: swirling blue strokes and yellow whorls), which
no training photo resembles. The network trains on the offline photo set without the bundled cat and coffee, which
are the held-out photos. The judge (:func:`cnnviz_widgets.engine.style.judge.judge`) is a seeded, randomly initialised
shallow CNN that training never saw: a stylised photo passes when its Gram statistics moved at least halfway from the
photo's to the style's, and its deepest features are closer to the photo's than to the style's. Times are CPU seconds
of this process (``time.process_time``), which other processes on a shared machine do not inflate, and wall seconds.

    python benchmarks/bench_faststyle.py [--steps 1000] [--threads 2] [--every 100] [--out /tmp]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Dict

import numpy as np
import torch
from common import print_table_head, table_line
from PIL import Image

import cnnviz_widgets as cw
from cnnviz_widgets.engine.faststyle import DEFAULTS, STEPS, FastStyle
from cnnviz_widgets.engine.faststyle.training import HELD_OUT, picture
from cnnviz_widgets.engine.style.judge import judge
from cnnviz_widgets.labs.pictures import painting

HALFWAY = 0.5
"""The style judgement passes when the result's Gram statistics moved at least this far to the style's."""


def save_png(image: torch.Tensor, path: Path) -> None:
    """A ``(1, 3, H, W)`` picture in [0, 1] as an 8-bit PNG."""
    array = (image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path)


def apply_ms(run: FastStyle, photo: torch.Tensor, repeats: int = 5) -> float:
    """Median ms of one :meth:`FastStyle.apply` of ``photo`` (after one warm-up call)."""
    run.apply(photo)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run.apply(photo)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=STEPS, help="training steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=100, help="steps between two preview PNGs")
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--content-weight", type=float, default=DEFAULTS["content_weight"])
    parser.add_argument("--style-weight", type=float, default=DEFAULTS["style_weight"])
    parser.add_argument("--tv", type=float, default=None)
    parser.add_argument("--out", default="/tmp", help="folder of the fast-*.png pictures")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    net = cw.load_model(device="cpu")
    style = painting(384)
    style.save(out / "fast-style.png")
    settings = dict(lr=args.lr, content_weight=args.content_weight, style_weight=args.style_weight, tv=args.tv)
    run = FastStyle(net, style, **settings)
    shown = {key: value for key, value in {**DEFAULTS, **settings}.items() if key != "seed"}
    print(f"CPU, {args.threads} threads; efficientnet_lite0 as the loss network ({run.preset.name}); "
          f"{', '.join(f'{k}={v}' for k, v in shown.items())}; {len(run.photos)} training photos\n")  # fmt: skip

    widths = [6, 12, 12, 10, 10, 10]
    print_table_head(["step", "CPU s", "wall s", "content", "style", "total"], widths)
    cpu, wall = time.process_time(), time.perf_counter()
    for update in run.steps(args.steps, every=args.every):
        frame = update.result
        if frame is not None:
            cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
            save_png(frame.preview, out / f"fast-preview-{frame.step:05d}.png")
            losses = frame.losses
            print(table_line([str(frame.step), f"{cpu_s:.0f}", f"{wall_s:.0f}", f"{losses['content']:.3f}",
                              f"{losses['style']:.2f}", f"{losses['total']:.2f}"], widths), flush=True)  # fmt: skip
    cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
    print(f"\ntraining: {args.steps} steps in {cpu_s:.0f} CPU s, {wall_s:.0f} wall s "
          f"({1000 * wall_s / max(args.steps, 1):.0f} ms/step wall)\n")  # fmt: skip

    style_tensor = picture(style)
    widths = [-8, 16, 18, 16, 10]
    print_table_head(["photo", "style progress", "content distance", "style distance", "verdict"], widths)
    times: Dict[str, float] = {}
    for name in HELD_OUT:
        photo = picture(cw.sample_image(name), 256)
        result = run.apply(photo)
        save_png(result, out / f"fast-{name}.png")
        verdict = judge(result, photo, style_tensor)
        passed = verdict.style_progress >= HALFWAY and verdict.content_kept
        print(table_line([name, f"{verdict.style_progress:.2f}", f"{verdict.content_distance:.1f}",
                          f"{verdict.style_distance:.1f}", "pass" if passed else "FAIL"], widths))  # fmt: skip
        times[name] = apply_ms(run, photo)
    square = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    print(f"\napply: {apply_ms(run, square):.0f} ms at 256x256 px "
          f"({', '.join(f'{k} {v:.0f} ms' for k, v in times.items())} at their 256 px sizes)")  # fmt: skip
    run.save(out / "fast-checkpoint.pt")


if __name__ == "__main__":
    main()
