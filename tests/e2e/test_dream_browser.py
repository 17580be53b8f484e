"""DeepDream in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of a two-cell notebook: the default model and a DeepDream of the cat at 256 px with far
more steps per octave than a test waits for, started by the Start button. Python-side state is read through a second
kernel client, never the page.
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

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-dream"
AFTER = f"{ROOT} canvas.cnnviz-ba-after"
STEPS = 400
CELLS = [
    'import cnnviz_widgets as cw\n\nnet = cw.load_model()\nimg = cw.sample_image("cat")',
    f"dd = cw.DeepDream(net, img, octaves=2, steps={STEPS}, size=256, start=False)\ndd",
]
STATE = "(dd.busy, dd.step, dd.status, dd.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "dream.ipynb", CELLS)


def distinct_frames(nb, count: int, timeout: float = 60.0) -> list:
    """Poll the dream canvas until it has shown ``count`` different pictures; their pixel statistics."""
    seen: dict = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} different frames within {timeout} s"
        stats = nb.canvas_stats(AFTER)
        seen.setdefault(stats["hash"], stats)
        nb.page.wait_for_timeout(50)
    return list(seen.values())


def test_start_streams_octave_frames_stop_ends_the_run_and_the_divider_drags(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    expect(page.locator(ROOT)).to_be_visible()
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text("press Start to dream")
    photo = nb.wait_canvas(lambda s: s["colours"] > 1000, "the photo", selector=AFTER)

    page.locator(f"{ROOT} button.cnnviz-run").click()
    frames = distinct_frames(nb, 3)
    busy, step, status, error = nb.probe.eval(STATE)
    assert busy and 0 < step < 2 * STEPS and not error, (busy, step, error)
    assert status.startswith("octave 1/2") and "steps/s" in status, status
    # The frames (a smaller octave) are stretched over the photo's size, and are pictures, not blanks.
    assert all(f["width"] == photo["width"] and f["colours"] > 1000 and f["std"] > 10 for f in frames), frames
    assert nb.probe.eval("dd._pacer.acked") >= 2, "the view acknowledges the frames it draws"

    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, stopped, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert 0 < stopped < 2 * STEPS and not error and status.startswith("stopped at octave"), status
    page.wait_for_timeout(500)
    assert nb.probe.eval("(dd.busy, dd.step, dd.dream.step)") == (False, stopped, stopped), "it went on after Stop"
    with page.expect_download() as download:
        page.locator(f"{ROOT} button.cnnviz-download").click()
    saved = Path(download.value.path()).read_bytes()
    assert download.value.suggested_filename == "deepdream.png" and saved.startswith(b"\x89PNG")
    digest = "__import__('hashlib').sha1(__import__('numpy').asarray(dd.final).tobytes()).hexdigest()"
    pixels = np.asarray(Image.open(io.BytesIO(saved)).convert("RGB"))
    assert hashlib.sha1(pixels.tobytes()).hexdigest() == nb.probe.eval(digest), "the download is Python's picture"

    box = page.locator(f"{ROOT} .cnnviz-ba").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 0.25 * box["width"], box["y"] + box["height"] / 2)
    handle = page.locator(f"{ROOT} .cnnviz-ba-divider")
    expect(handle).to_have_attribute("aria-valuenow", "25")
    handle.focus()
    page.keyboard.press("End")
    expect(handle).to_have_attribute("aria-valuenow", "100")
    page.keyboard.press("ArrowLeft")
    expect(handle).to_have_attribute("aria-valuenow", "95")

    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    widget.screenshot(path=str(artifacts_dir / f"dream-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
