"""FastStyleTrainer in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of a notebook: the default model and a fast style trainer of the cat's style, with far
more steps than a test waits for, started by the Start button, with its loss chart beside it. The test watches the
held-out photo change as the network learns, clicks Stop, Download checkpoint, Resume and Stop again like a person,
stylises a bundled sample from the page, and screenshots the view in the light and the dark theme. Python-side state
is read through a second kernel client, never the page.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import write_notebook
from .test_look_browser import CONTRAST_JS, set_theme

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-faststyle"
PICTURE = f"{ROOT} canvas.cnnviz-live-picture"
STEPS = 3000
CELLS = [
    'import cnnviz_widgets as cw\n\nnet = cw.load_model()\nart = cw.sample_image("cat")',
    f"fs = cw.FastStyleTrainer(net, art, steps={STEPS}, size=96, batch=2, start=False)\nfs.dashboard()",
]
STATE = "(fs.busy, fs.step, fs.status, fs.error)"
DIGEST = "__import__('hashlib').sha1(fs.training.checkpoint()).hexdigest()"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "faststyle.ipynb", CELLS)


def distinct_frames(nb, count: int, timeout: float = 120.0) -> list:
    """Poll the preview's canvas until it has shown ``count`` different pictures; their pixel statistics."""
    seen: dict = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} different frames within {timeout} s"
        stats = nb.canvas_stats(PICTURE)
        if stats["width"] > 1:
            seen.setdefault(stats["hash"], stats)
        nb.page.wait_for_timeout(50)
    return list(seen.values())


def stop_and_wait(nb, view) -> tuple:
    view.locator("button.cnnviz-stop").click()
    return nb.probe.wait_for(STATE, lambda v: not v[0], timeout=60)


def test_fast_style_trains_live_stops_resumes_saves_and_stylises_from_the_page(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    view = page.locator(ROOT)
    expect(view).to_be_visible()
    expect(view.locator(".cnnviz-status")).to_contain_text("press Start to train a network to paint photos")
    expect(view.locator(".cnnviz-st-recipe")).to_contain_text("features of efficientnet_lite0, recipe ")
    expect(view.locator(".cnnviz-st-notes")).to_contain_text("previews the held-out coffee photo")
    expect(view.locator(".cnnviz-st-source")).to_have_count(2)
    expect(view.locator(".cnnviz-st-source img").nth(1)).to_have_js_property("complete", True)
    expect(view.locator("button.cnnviz-fs-checkpoint")).to_be_disabled()
    expect(view.locator(".cnnviz-batch-empty")).to_contain_text("Press Start")

    view.locator("button.cnnviz-run").click()
    frames = distinct_frames(nb, 3)
    busy, step, status, error = nb.probe.eval(STATE)
    assert busy and 0 < step < STEPS and not error, (busy, step, error)
    assert status.startswith("step ") and "steps/s" in status and "loss" in status, status
    # The coffee photo (640x427) at 256 px; an untrained network paints it in muted colours, so no contrast bound.
    assert all((f["width"], f["height"]) == (256, 171) and f["colours"] > 1000 for f in frames), frames
    assert nb.probe.eval("fs._pacer.acked") >= 2, "the view acknowledges the frames it draws"

    busy, stopped, status, error = stop_and_wait(nb, view)
    assert 0 < stopped < STEPS and not error and status.startswith("stopped at step"), status
    page.wait_for_timeout(500)
    assert nb.probe.eval("(fs.busy, fs.step, fs.training.step)") == (False, stopped, stopped), "it went on after Stop"
    assert nb.probe.eval("'checkpoint' in fs.get_state()") is False, "the checkpoint is not in the view's state"
    checkpoint = view.locator("button.cnnviz-fs-checkpoint")
    expect(checkpoint).to_be_enabled()
    with page.expect_download() as download:
        checkpoint.click()  # asks Python, which answers with the file in one message
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "faststyle.pt"
    assert hashlib.sha1(saved).hexdigest() == nb.probe.eval(DIGEST), "the download is Python's checkpoint"
    loaded = f"cw.engine.faststyle.FastStyle.load({str(download.value.path())!r}, net, images=[art]).step"
    assert nb.probe.eval(loaded, timeout=60) == stopped, "the downloaded checkpoint reads back"

    resume = view.locator("button.cnnviz-resume")
    expect(resume).to_be_enabled()
    resume.click()
    nb.probe.wait_for("fs.step", lambda v: v > stopped + 2, timeout=60)
    busy, again, status, error = stop_and_wait(nb, view)
    assert again > stopped and not error and status.startswith(f"stopped at step {again}/{STEPS}"), status
    curves = nb.probe.eval("{k: len(v) for k, v in fs.curves.items()}")
    assert curves == dict.fromkeys(("content", "style", "tv", "total"), again), curves
    chart = view.locator("xpath=ancestor::div[contains(@class, 'widget-hbox')][1]").locator(".js-plotly-plot")
    expect(chart.locator(".gtitle")).to_have_text("Loss terms per step")
    expect(chart.locator(".scatterlayer .trace")).not_to_have_count(0)

    # A bundled sample, painted in one pass by the network as trained so far.
    view.locator("button.cnnviz-fs-sample", has_text="cat").click()
    stylised = view.locator("img.cnnviz-fs-stylised")
    expect(stylised).to_be_visible()
    width = nb.probe.wait_for("fs.stylised and fs.stylised.size[0]", timeout=30)
    expect(stylised).to_have_js_property("naturalWidth", width)

    page.set_viewport_size({"width": 1400, "height": 3000})  # tall enough for the whole view in one element shot
    for theme, light in (("light", True), ("dark", False)):
        if not light:
            set_theme(page, "JupyterLab Dark", light=False)
            assert nb.probe.wait_for("fs.theme", lambda v: v == "dark")
            rows = view.evaluate_all(CONTRAST_JS)
            poor = [r for r in rows if r["ratio"] < 4.5]
            assert len(rows) > 15 and not poor, "texts below contrast 4.5 in the dark theme:\n" + "\n".join(
                map(str, poor[:20])
            )
        out = view.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea')][1]")
        out.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        out.screenshot(path=str(artifacts_dir / f"faststyle-{nb.server.app}-{theme}.png"))
    set_theme(page, "JupyterLab Light", light=True)
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
