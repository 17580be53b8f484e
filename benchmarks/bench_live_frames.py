"""Live frames of the FeatureVisualizer in a real JupyterLab 4 page: do the pictures keep up with the optimiser?

The issue: the picture repainted 1-2.6 times a second while the optimiser ran 10-20 steps/s. The goal: at least
min(10, steps/s) frames drawn per second when the browser acknowledges them (the view acks each frame once drawn).

For each size a fresh notebook (its own kernel) makes ``cw.FeatureVisualizer(cw.load_model(), "_blocks.6:3",
size=S, steps=100000, start=False)``; the benchmark clicks Start in headless Chromium, lets the run warm up, then
measures over a window of ``--seconds``:

- steps/s: the engine's step count (``fv.visualization.step``) at both ends of the window, read from the kernel;
- frames sent/s: ``frame_seq`` at both ends of the window;
- frames drawn/s: repaints of the live canvases in the page (``putImageData`` on ``.cnnviz-batch-canvas``, counted
  once per picture, not per canvas of the batch);
- ack ms: median (and 90th percentile) time from the frame leaving the pacer (the ``frame`` trait being set, before
  the JPEG is encoded) to its ack arriving in the kernel;
- ratio: frames drawn/s / min(10, steps/s); 1.0 or more keeps up.

The machine is shared (2 cores): steps/s is printed beside frames/s so that contention shows, and each size is
measured ``--repeats`` times (one row each). Speed is shown here, never asserted.

    python benchmarks/bench_live_frames.py [--sizes 64 224] [--seconds 5] [--warmup 2] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import (  # noqa: E402 - the e2e fixtures' server, page and probe, used outside pytest
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    JupyterServer,
    NotebookPage,
)

ROOT = ".cnnviz.cnnviz-featurevis"
GOAL_FPS = 10.0
FORMATS = {"acked": ".0f", "ack ms": ".0f", "ack p90": ".0f", "ratio": ".2f"}

# Counts repaints of the live batch: one picture is drawn on every canvas of the batch in one go, so calls within
# 2 ms of each other count once.
PAINTS_JS = """() => {
  window.__cnnvizPaints = [];
  const put = CanvasRenderingContext2D.prototype.putImageData;
  CanvasRenderingContext2D.prototype.putImageData = function (...args) {
    if (this.canvas.classList && this.canvas.classList.contains('cnnviz-batch-canvas')) {
      const now = performance.now(), paints = window.__cnnvizPaints;
      if (!paints.length || now - paints[paints.length - 1] > 2) paints.push(now);
    }
    return put.apply(this, args);
  };
}"""

# In the kernel: when each frame left the pacer and when each ack arrived (the view's own pacer, wrapped).
RECORD = """\
import time
sent_at, acked_at = {}, {}
fv.observe(lambda c: c.new is not None and sent_at.setdefault(fv.frame_seq, time.monotonic()), names="frame")
_ack = fv._pacer.ack
def _record_ack(seq, _ack=_ack):
    acked_at.setdefault(seq, time.monotonic())
    _ack(seq)
fv._pacer.ack = _record_ack
_p = fv._pacer
PACER = f"{1000 * _p.interval:g} ms, {getattr(_p, 'in_flight', 1)} in flight"
import cnnviz_widgets
CODE = cnnviz_widgets.__file__
"""
MARK = "(time.monotonic(), fv.visualization.step if fv.visualization else 0, fv.frame_seq)"


def notebook(path: Path, size: int, pacing: str) -> None:
    cells = [
        f"import cnnviz_widgets as cw\n\nnet = cw.load_model()\n{pacing}",
        f"fv = cw.FeatureVisualizer(net, size={size}, steps=100000, start=False)\nfv",
        RECORD,
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in cells])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)


def measure(
    browser: Any, server: JupyterServer, size: int, seconds: float, warmup: float, run: int, pacing: str
) -> Dict:
    name = f"live_{size}_{run}.ipynb"
    notebook(server.root / name, size, pacing)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    page.add_init_script(f"({PAINTS_JS})()")
    nb = NotebookPage(page, server, name)
    try:
        nb.open()
        nb.run_all()
        page.locator(f"{ROOT} button.cnnviz-run").click()
        nb.probe.wait_for("fv.frame_seq", lambda seq: seq > 0)
        time.sleep(warmup)
        paints0 = page.evaluate("window.__cnnvizPaints.length")
        t0, step0, seq0 = nb.probe.eval(MARK)
        time.sleep(seconds)
        paints1 = page.evaluate("window.__cnnvizPaints.length")
        t1, step1, seq1 = nb.probe.eval(MARK)
        sent, acked, busy, pacer, code = nb.probe.eval("(sent_at, acked_at, fv.busy, PACER, CODE)")
        nb.probe.eval("fv.stop()")
        assert busy, "the run ended inside the window: give it more steps"
        errors = nb.widget_errors()
        assert not errors, errors
    finally:
        nb.close()
        page.close()
        server.delete_sessions()
    elapsed = t1 - t0
    trips = sorted(1000 * (acked[seq] - sent[seq]) for seq in range(seq0 + 1, seq1 + 1) if seq in acked and seq in sent)
    steps_s = (step1 - step0) / elapsed
    drawn_s = (paints1 - paints0) / elapsed
    return {
        "code": code,
        "pacer": pacer,
        "size": size,
        "steps/s": steps_s,
        "sent/s": (seq1 - seq0) / elapsed,
        "drawn/s": drawn_s,
        "acked": len(trips),
        "ack ms": statistics.median(trips) if trips else float("nan"),
        "ack p90": trips[int(0.9 * (len(trips) - 1))] if trips else float("nan"),
        "ratio": drawn_s / min(GOAL_FPS, steps_s) if steps_s > 0 else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of the run before the window opens")
    parser.add_argument("--repeats", type=int, default=1, help="measurements per size (one row each)")
    parser.add_argument("--interval", type=float, help="set FeatureVisualizer.FRAME_INTERVAL (s) before the view")
    parser.add_argument("--in-flight", type=int, help="set FeatureVisualizer.FRAMES_IN_FLIGHT before the view")
    args = parser.parse_args()
    pacing = "".join(
        f"cw.FeatureVisualizer.{name} = {value!r}\n"
        for name, value in (("FRAME_INTERVAL", args.interval), ("FRAMES_IN_FLIGHT", args.in_flight))
        if value is not None
    )

    from playwright.sync_api import sync_playwright

    begin = time.monotonic()
    rows: List[Dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, sync_playwright() as pw:
        server = JupyterServer("lab", Path(tmp))
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            server.start()
            for run in range(args.repeats):
                for size in args.sizes:
                    rows.append(measure(browser, server, size, args.seconds, args.warmup, run, pacing))
        finally:
            browser.close()
            server.stop()

    print(f"\nFeatureVisualizer live frames in JupyterLab 4 + headless Chromium, {args.seconds:g} s windows")
    print("(ratio = frames drawn/s / min(10, steps/s); >= 0.9 keeps up)")
    print(f"kernel's cnnviz_widgets: {', '.join(sorted({row['code'] for row in rows}))}\n")
    head = ["pacer", "size", "steps/s", "sent/s", "drawn/s", "acked", "ack ms", "ack p90", "ratio"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    for row in rows:
        cells = [row["pacer"], f"{row['size']} px"] + [format(row[k], FORMATS.get(k, ".1f")) for k in head[2:]]
        print("| " + " | ".join(cells) + " |")
    print(f"\n({time.monotonic() - begin:.0f} s in all)")


if __name__ == "__main__":
    main()
