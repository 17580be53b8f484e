"""FeatureVisualizer in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of a two-cell notebook: the default model and a visualizer of channel 3 of
``_blocks.6`` at 128 px with far more steps than a test waits for, started by the Start button. Python-side
state is read through a second kernel client, never the page.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import write_notebook

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright's own base_url fixture trips a pytest deprecation warning; not ours.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-featurevis"
CANVAS = f"{ROOT} canvas.cnnviz-batch-canvas"
STEPS = 3000
CELLS = [
    "import cnnviz_widgets as cw\n\nnet = cw.load_model()",
    f'fv = cw.FeatureVisualizer(net, "_blocks.6:3", size=128, steps={STEPS}, start=False)\nfv',
]
STATE = "(fv.busy, fv.step, fv.status, fv.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "featurevis.ipynb", CELLS)


def open_visualizer(nb) -> None:
    """Run the notebook; wait for the view with its 80 channel thumbnails and the idle hint."""
    nb.run_all()
    expect(nb.page.locator(ROOT)).to_be_visible()
    expect(nb.page.locator(f"{ROOT} .cnnviz-unit")).to_have_count(80)
    expect(nb.page.locator(f"{ROOT} .cnnviz-batch-empty")).to_be_visible()
    busy, step, status, error = nb.probe.eval(STATE)
    assert (
        not busy and step == 0 and not error and status.startswith("press Start to render channel('_blocks.6', 3)")
    ), status


def distinct_frames(nb, count: int, timeout: float = 30.0) -> list:
    """Poll the live canvas until it has shown ``count`` different pictures; their pixel statistics."""
    seen: dict = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} different frames within {timeout} s"
        stats = nb.canvas_stats(CANVAS)
        seen.setdefault(stats["hash"], stats)
        nb.page.wait_for_timeout(50)
    return list(seen.values())


def test_start_streams_frames_stop_ends_the_run_and_resume_goes_on(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    open_visualizer(nb)
    page.locator(f"{ROOT} button.cnnviz-run").click()

    frames = distinct_frames(nb, 3)
    busy, step, status, error = nb.probe.eval(STATE)
    assert busy and 0 < step < STEPS and not error, (busy, step, error)
    assert re.fullmatch(rf"step \d+/{STEPS} · [\d.]+ steps/s · objective -?[\d.e+-]+", status), status
    # Not blank: the first steps are low-contrast noise (the random start), colours come as the picture forms.
    assert all(f["width"] == f["height"] == 128 and f["colours"] > 200 and f["std"] > 2 for f in frames), frames
    assert nb.probe.eval("fv._pacer.acked") >= 2, "the view acknowledges the frames it draws"
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text("steps/s")

    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, stopped, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert 0 < stopped < STEPS and not error and status.startswith(f"stopped at step {stopped}/{STEPS}"), status
    page.wait_for_timeout(500)
    assert nb.probe.eval("(fv.busy, fv.step, fv.visualization.step)") == (False, stopped, stopped), (
        "the run went on after Stop"
    )
    assert nb.probe.eval("sum(range(10))") == 45, "the kernel answers"
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text("stopped at step")
    with page.expect_download() as download:
        page.locator(f"{ROOT} button.cnnviz-download").click()
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "featurevis.png" and saved.startswith(b"\x89PNG")
    digest = "__import__('hashlib').sha1(__import__('numpy').asarray(fv.final).tobytes()).hexdigest()"
    pixels = np.asarray(Image.open(io.BytesIO(saved)).convert("RGB"))
    assert hashlib.sha1(pixels.tobytes()).hexdigest() == nb.probe.eval(digest), "the download is Python's picture"
    final = nb.wait_canvas(lambda s: s["colours"] > 1000, "the final picture", selector=CANVAS)
    expect(page.locator(f"{ROOT} .cnnviz-batch-cell figcaption")).to_have_text("channel('_blocks.6', 3)")

    page.locator(f"{ROOT} button.cnnviz-resume").click()
    nb.probe.wait_for("fv.visualization.step", lambda s: s > stopped + 5)
    nb.wait_canvas(lambda s: s["hash"] != final["hash"], "frames after Resume", selector=CANVAS)
    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, resumed, status, _ = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert stopped < resumed < STEPS and status.startswith(f"stopped at step {resumed}/{STEPS}"), status

    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    widget.screenshot(path=str(artifacts_dir / f"featurevis-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_thumbnails_pick_units_a_batch_of_channels_renders_and_bad_settings_are_caught_as_typed(
    notebook, artifacts_dir
):
    nb, page = notebook, notebook.page
    open_visualizer(nb)
    thumbs = nb.canvases_stats(f"{ROOT} canvas.cnnviz-unit-canvas", key="data-unit")
    assert nb.probe.eval("fv.thumbnails['shape'][1:]") == [14, 14]  # _blocks.6's maps at their own size
    assert len(thumbs) == 80 and all(t["width"] == t["height"] for t in thumbs.values())
    # Drawn over the grey photo, smoothly upsampled, large enough to see what each unit fires on.
    shown = page.locator(f"{ROOT} canvas.cnnviz-unit-canvas").first.bounding_box()
    assert shown["width"] >= 48 and shown["width"] == shown["height"], shown
    assert len({t["hash"] for t in thumbs.values()}) > 40, "the thumbnails show different activation maps"

    page.locator(f"{ROOT} .cnnviz-unit[data-unit='7']").click()
    assert nb.probe.wait_for("fv.unit", lambda u: u == 7) == 7
    expect(page.locator(f"{ROOT} .cnnviz-unit[data-unit='7']")).to_have_class(re.compile("cnnviz-selected"))
    expect(page.locator(f"{ROOT} input.cnnviz-fv-unit")).to_have_value("7")
    page.locator(f"{ROOT} .cnnviz-unit[data-unit='12']").click(modifiers=["Control"])
    page.locator(f"{ROOT} .cnnviz-unit[data-unit='20']").click(modifiers=["Control"])
    assert nb.probe.wait_for("fv.units", lambda u: u == [12, 20]) == [12, 20]
    expect(page.locator(f"{ROOT} .cnnviz-unit.cnnviz-picked")).to_have_count(2)

    # The picked channels side by side: a batch of two, captioned with their units.
    page.locator(f"{ROOT} select.cnnviz-fv-batch_mode").select_option("channels")
    nb.probe.wait_for("fv.status", lambda s: s.startswith("press Start to render channels 12, 20 of '_blocks.6'"))
    page.locator(f"{ROOT} button.cnnviz-run").click()
    expect(page.locator(f"{ROOT} .cnnviz-batch-cell figcaption")).to_have_text(["_blocks.6:12", "_blocks.6:20"])
    nb.probe.wait_for("fv.visualization and fv.visualization.step", lambda s: s and s > 20)
    page.locator(f"{ROOT} button.cnnviz-stop").click()
    nb.probe.wait_for(STATE, lambda v: not v[0] and v[2].startswith("stopped"))
    cells = nb.wait_canvases(
        CANVAS, lambda c: len(c) == 2 and all(s["colours"] > 500 for s in c.values()), "two pictures", key="data-index"
    )
    assert cells["0"]["hash"] != cells["1"]["hash"], "each channel has its own picture"
    batch = page.locator(f"{ROOT} .cnnviz-live")
    batch.scroll_into_view_if_needed()
    batch.screenshot(path=str(artifacts_dir / f"featurevis-channels-{nb.server.app}.png"))

    kind = page.locator(f"{ROOT} select.cnnviz-fv-kind")
    kind.select_option("class_logit")
    expect(page.locator(f"{ROOT} .cnnviz-fv-class-label")).to_have_text("Egyptian cat")
    expect(page.locator(f"{ROOT} .cnnviz-unit-picker")).to_be_hidden()
    kind.select_option("neuron")
    expect(page.locator(f"{ROOT} input.cnnviz-fv-y")).to_be_visible()
    assert nb.probe.wait_for("fv.kind", lambda k: k == "neuron") == "neuron"

    banner = page.locator(f"{ROOT} .cnnviz-error")
    expect(banner).to_be_hidden()
    # Settings are checked as typed against the schema (and the unit against the layer's channels): the field is
    # marked with the valid values and nothing is sent.
    before = nb.probe.eval("(fv.size, fv.unit, fv.batch, fv.lr, fv.y)")
    mark = len(nb.sent)
    for name, raw, valid in (
        ("size", "0", "1..2048 px"),
        ("unit", "999", "0..79"),
        ("batch", "0", "1..64"),
        ("lr", "-1", "0.0001..100"),
        ("y", "99", "0..13; empty: automatic"),
    ):
        field = page.locator(f"{ROOT} input.cnnviz-fv-{name}")
        field.fill(raw)
        field.press("Enter")
        expect(field).to_have_class(re.compile(r"\bcnnviz-invalid\b"))
        expect(field).to_have_attribute("title", re.compile(re.escape(valid) + "$"))
    page.wait_for_timeout(500)
    assert not nb.comm_msgs_since(mark), "an invalid field was sent to Python"
    assert nb.probe.eval("(fv.size, fv.unit, fv.batch, fv.lr, fv.y)") == before
    page.locator(f"{ROOT} input.cnnviz-fv-size").fill("16")
    page.locator(f"{ROOT} input.cnnviz-fv-size").press("Enter")
    assert nb.probe.wait_for("fv.size", lambda s: s == 16) == 16
    expect(page.locator(f"{ROOT} input.cnnviz-fv-size")).not_to_have_class(re.compile(r"\bcnnviz-invalid\b"))
    expect(banner).to_be_hidden()

    page.set_viewport_size({"width": 1400, "height": 2400})  # the whole view in one element screenshot
    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    widget.screenshot(path=str(artifacts_dir / f"featurevis-settings-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
