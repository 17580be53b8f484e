"""FeatureInversion in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of a two-cell notebook: the default model and a FeatureInversion of the cat from three
layers at 128 px, with far more steps than a test waits for, started by the Start button. Python-side state is read
through a second kernel client, never the page.
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import write_notebook
from .test_look_browser import CONTRAST_JS, FIT_JS, OVERLAP_JS, set_theme

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-inversion"
CELL = f"{ROOT} .cnnviz-inv-cell"
LAYERS = ["_conv_stem", "_blocks.2", "_blocks.7"]
STEPS = 2000
CELLS = [
    'import cnnviz_widgets as cw\n\nnet = cw.load_model()\nimg = cw.sample_image("cat")',
    f"inv = cw.FeatureInversion(net, img, {LAYERS!r}, size=128, steps={STEPS}, start=False)\ninv",
]
STATE = "(inv.busy, inv.step, inv.status, inv.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "inversion.ipynb", CELLS)


def box(page, layer: str):
    return page.locator(f'{ROOT} input[type="checkbox"][data-layer="{layer}"]')


def distinct_frames(nb, count: int, timeout: float = 90.0) -> list:
    """Poll the first reconstruction's canvas until it has shown ``count`` different pictures; their statistics."""
    seen: dict = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} different frames within {timeout} s"
        stats = nb.canvas_stats(f'{CELL}[data-index="1"] canvas')
        if stats["colours"] > 1:  # not the empty place the layer had before Start
            seen.setdefault(stats["hash"], stats)
        nb.page.wait_for_timeout(50)
    return list(seen.values())


def test_tick_layers_start_streams_reconstructions_stop_resume_and_download(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    expect(page.locator(ROOT)).to_be_visible()
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text("press Start to reconstruct the photo from 3 layers")
    expect(page.locator(f"{ROOT} .cnnviz-inv-model")).to_have_text("features of efficientnet_lite0")
    photo = nb.wait_canvas(lambda s: s["colours"] > 1000, "the photo", selector=f'{CELL}[data-index="0"] canvas')
    assert (photo["width"], photo["height"]) == (128, 85), photo  # the cat (451x300) at 128 px
    expect(page.locator(f"{CELL}.cnnviz-inv-waiting")).to_have_count(3)

    # The checklist: untick and tick like a person; unticking the last one is refused in the banner.
    page.locator(f"{ROOT} input.cnnviz-layer-search").fill("_blocks.7")
    expect(page.locator(f"{ROOT} .cnnviz-inv-layer")).to_have_count(len(nb.probe.eval(
        "[r['name'] for r in inv.layer_rows if '_blocks.7' in r['name']]")))  # fmt: skip
    box(page, "_blocks.7").uncheck()
    nb.probe.wait_for("inv.layers", lambda v: v == LAYERS[:2])
    expect(page.locator(f"{CELL}.cnnviz-inv-waiting")).to_have_count(2)
    page.locator(f"{ROOT} input.cnnviz-layer-search").fill("")
    box(page, "_blocks.2").uncheck()
    nb.probe.wait_for("inv.layers", lambda v: v == LAYERS[:1])
    box(page, "_conv_stem").click()
    expect(page.locator(f"{ROOT} .cnnviz-error")).to_contain_text("at least one layer")
    expect(box(page, "_conv_stem")).to_be_checked()
    assert nb.probe.eval("inv.layers") == LAYERS[:1]
    box(page, "_blocks.7").check()
    box(page, "_blocks.2").check()
    nb.probe.wait_for("inv.layers", lambda v: v == LAYERS)  # network order, whatever the order of the ticks
    expect(page.locator(f"{ROOT} .cnnviz-error")).to_be_hidden()  # a good list clears the banner

    page.locator(f"{ROOT} button.cnnviz-run").click()
    frames = distinct_frames(nb, 3)
    busy, step, status, error = nb.probe.eval(STATE)
    assert busy and 0 < step < STEPS and not error, (busy, step, error)
    assert "per layer" in status and "steps/s" in status, status
    assert all(f["width"] == 128 and f["height"] == 85 and f["colours"] > 500 for f in frames), frames
    expect(page.locator(f"{CELL} figcaption").nth(1)).to_contain_text(" dB")
    assert nb.probe.eval("inv._pacer.acked") >= 2, "the view acknowledges the frames it draws"

    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, stopped, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert 0 < stopped < STEPS and not error and status.startswith("stopped at step"), status
    page.wait_for_timeout(500)
    assert nb.probe.eval("(inv.busy, inv.step, inv.inversion.step)") == (False, stopped, stopped), "it went on"
    captions = page.locator(f"{CELL} figcaption").all_text_contents()
    assert captions == nb.probe.eval("inv.captions") and [c.split(" · ")[0] for c in captions] == ["photo", *LAYERS]

    resume = page.locator(f"{ROOT} button.cnnviz-resume")
    expect(resume).to_be_enabled()
    resume.click()
    nb.probe.wait_for("inv.step", lambda v: v > stopped + 2)
    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, again, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert again > stopped and not error and status.startswith("stopped"), status

    with page.expect_download() as download:
        page.locator(f"{ROOT} button.cnnviz-download").click()
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "feature-inversion.png" and saved.startswith(b"\x89PNG")
    digest = "__import__('hashlib').sha1(__import__('numpy').asarray(inv.final).tobytes()).hexdigest()"
    pixels = np.asarray(Image.open(io.BytesIO(saved)).convert("RGB"))
    assert pixels.shape == (85, 4 * 128, 3), pixels.shape  # the photo and three reconstructions
    assert hashlib.sha1(pixels.tobytes()).hexdigest() == nb.probe.eval(digest), "the download is Python's strip"

    view = page.locator(ROOT)
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    view.screenshot(path=str(artifacts_dir / f"inversion-{nb.server.app}-light.png"))
    set_theme(page, "JupyterLab Dark", light=False)
    nb.probe.wait_for("inv.theme", lambda v: v == "dark")
    view.screenshot(path=str(artifacts_dir / f"inversion-{nb.server.app}-dark.png"))
    rows = view.evaluate_all(CONTRAST_JS)
    poor = [r for r in rows if r["ratio"] < 4.5]
    assert len(rows) > 10 and not poor, "texts below contrast 4.5 in the dark theme:\n" + "\n".join(map(str, poor))
    set_theme(page, "JupyterLab Light", light=True)

    for width in (800, 1600):  # the pictures and the layer list reflow: nothing wider than the cell, no text overlaps
        page.set_viewport_size({"width": width, "height": 1200})
        page.wait_for_timeout(800)
        (fit,) = view.evaluate_all(FIT_JS)
        assert fit["scroll"] <= fit["client"] + 1 and fit["right"] <= fit["outRight"], (width, fit)
        assert not view.evaluate_all(OVERLAP_JS), width
        view.screenshot(path=str(artifacts_dir / f"inversion-{nb.server.app}-{width}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
