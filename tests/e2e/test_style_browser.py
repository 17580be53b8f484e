"""StyleTransfer and TextureSynthesis in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via
Playwright).

Each test opens its own copy of a notebook: the default model; a style transfer of the cat in a blend of the coffee
photo and a grey, resized cat, with far more steps than a test waits for, started by the Start button, with its loss
chart beside it; and a short texture synthesis of the coffee photo that runs to its end. Python-side state is read
through a second kernel client, never the page. Both views are screenshotted in the light and the dark theme.
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
from .test_look_browser import CONTRAST_JS, set_theme

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-style-transfer"
TEXTURE = ".cnnviz.cnnviz-style-texture"
PICTURE = f"{ROOT} canvas.cnnviz-live-picture"
STEPS = 400
CELLS = [
    'import cnnviz_widgets as cw\n\nnet = cw.load_model()\nimg = cw.sample_image("cat")\n'
    'art = cw.sample_image("coffee")',
    f'st = cw.StyleTransfer(net, img, [art, img.convert("L").resize((300, 200))], size=128, steps={STEPS}, '
    "start=False)\nst.dashboard()",
    "tx = cw.TextureSynthesis(net, art, size=96, steps=6)\ntx",
]
STATE = "(st.busy, st.step, st.status, st.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "style.ipynb", CELLS)


def distinct_frames(nb, count: int, timeout: float = 90.0) -> list:
    """Poll the picture's canvas until it has shown ``count`` different pictures; their pixel statistics."""
    seen: dict = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} different frames within {timeout} s"
        stats = nb.canvas_stats(PICTURE)
        if stats["width"] > 1:
            seen.setdefault(stats["hash"], stats)
        nb.page.wait_for_timeout(50)
    return list(seen.values())


def weight_field(view, index: int):
    return view.locator(".cnnviz-st-source").nth(index).locator("input")


def test_style_transfer_streams_frames_stops_resumes_and_takes_weights_from_the_page(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    view = page.locator(ROOT)
    expect(view).to_be_visible()
    expect(view.locator(".cnnviz-status")).to_contain_text("press Start to paint the content photo")
    expect(view.locator(".cnnviz-st-recipe")).to_have_text(
        "features of efficientnet_lite0, recipe measured for efficientnet_lite0"
    )
    expect(view.locator(".cnnviz-st-notes")).to_contain_text("style 2 was L: used as RGB")
    expect(view.locator(".cnnviz-st-notes")).to_contain_text("style 2 resized from 300x200")
    # The content and two style thumbnails; each style with its weight and share of the blend.
    expect(view.locator(".cnnviz-st-source")).to_have_count(3)
    expect(view.locator(".cnnviz-st-source img").nth(2)).to_have_js_property("complete", True)
    expect(view.locator(".cnnviz-st-share")).to_have_text(["50%", "50%"])
    field = weight_field(view, 2)
    field.fill("3")
    field.press("Enter")
    assert nb.probe.wait_for("st.style_weights", lambda v: v == [1.0, 3.0])
    expect(view.locator(".cnnviz-st-share")).to_have_text(["25%", "75%"])
    # Both weights 0 would blend nothing: the banner says so and the field shows the weight in use again.
    weight_field(view, 1).fill("0")
    weight_field(view, 1).press("Enter")
    assert nb.probe.wait_for("st.style_weights", lambda v: v == [0.0, 3.0])
    field.fill("0")
    field.press("Enter")
    expect(view.locator(".cnnviz-error")).to_contain_text("must not all be 0")
    expect(field).to_have_value("3")
    view.locator(".cnnviz-error-close").click()
    weight_field(view, 1).fill("1")
    weight_field(view, 1).press("Enter")
    assert nb.probe.wait_for("st.style_weights", lambda v: v == [1.0, 3.0])

    view.locator("button.cnnviz-run").click()
    frames = distinct_frames(nb, 3)
    busy, step, status, error = nb.probe.eval(STATE)
    assert busy and 0 < step < STEPS and not error, (busy, step, error)
    assert status.startswith("step ") and "steps/s" in status and "loss" in status, status
    assert all(f["width"] == 128 and f["colours"] > 1000 and f["std"] > 10 for f in frames), frames
    assert nb.probe.eval("st._pacer.acked") >= 2, "the view acknowledges the frames it draws"
    assert nb.probe.eval("st.transfer.mix") == pytest.approx([0.25, 0.75])

    view.locator("button.cnnviz-stop").click()
    busy, stopped, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert 0 < stopped < STEPS and not error and status.startswith("stopped at step"), status
    page.wait_for_timeout(500)
    assert nb.probe.eval("(st.busy, st.step, st.transfer.step)") == (False, stopped, stopped), "it went on after Stop"
    with page.expect_download() as download:
        view.locator("button.cnnviz-download").click()
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "style-transfer.png" and saved.startswith(b"\x89PNG")
    digest = "__import__('hashlib').sha1(__import__('numpy').asarray(st.final).tobytes()).hexdigest()"
    pixels = np.asarray(Image.open(io.BytesIO(saved)).convert("RGB"))
    assert hashlib.sha1(pixels.tobytes()).hexdigest() == nb.probe.eval(digest), "the download is Python's picture"

    resume = view.locator("button.cnnviz-resume")
    expect(resume).to_be_enabled()
    resume.click()
    nb.probe.wait_for("st.step", lambda v: v > stopped + 2)
    view.locator("button.cnnviz-stop").click()
    busy, again, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert again > stopped and not error and status.startswith(f"stopped at step {again}/{STEPS}"), status
    curves = nb.probe.eval("{k: len(v) for k, v in st.curves.items()}")
    assert curves == dict.fromkeys(("content", "style", "tv", "total"), again), curves
    chart = view.locator("xpath=ancestor::div[contains(@class, 'widget-hbox')][1]").locator(".js-plotly-plot")
    expect(chart.locator(".gtitle")).to_have_text("Loss terms per step")
    expect(chart.locator(".scatterlayer .trace")).not_to_have_count(0)

    texture = page.locator(TEXTURE)
    done = nb.probe.wait_for("(tx.error, tx.step == 6 and not tx.busy)", lambda v: v[0] or v[1], timeout=120)
    assert not done[0], f"TextureSynthesis shows an error: {done[0]}"
    grown = f"{TEXTURE} canvas.cnnviz-live-picture"
    square = nb.wait_canvas(lambda s: s["colours"] > 500, "the texture", selector=grown)
    assert square["width"] == square["height"] == 96, square
    layers = nb.probe.eval("list(tx.style_layers)")
    expect(texture.locator(".cnnviz-st-layers input")).to_have_count(len(layers))
    first = texture.locator(".cnnviz-st-layers input").first
    first.fill("0")
    first.press("Enter")
    assert nb.probe.wait_for("tx.layer_weights[0]", lambda v: v == 0.0) == 0.0
    expect(texture.locator(".cnnviz-st-source")).to_have_count(1)
    expect(texture.locator("input.cnnviz-st-balance")).to_have_count(0)

    page.set_viewport_size({"width": 1400, "height": 3000})  # tall enough for a whole view in one element shot
    for theme, light in (("light", True), ("dark", False)):
        if not light:
            set_theme(page, "JupyterLab Dark", light=False)
            assert nb.probe.wait_for("(st.theme, tx.theme)", lambda v: v == ("dark", "dark"))
            rows = page.locator(".cnnviz.cnnviz-style").evaluate_all(CONTRAST_JS)
            poor = [r for r in rows if r["ratio"] < 4.5]
            assert len(rows) > 20 and not poor, "texts below contrast 4.5 in the dark theme:\n" + "\n".join(
                map(str, poor[:20])
            )
        for selector, name in ((ROOT, "transfer"), (TEXTURE, "texture")):
            out = page.locator(selector).locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea')][1]")
            out.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            out.screenshot(path=str(artifacts_dir / f"style-{name}-{nb.server.app}-{theme}.png"))
    set_theme(page, "JupyterLab Light", light=True)
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
