"""ClassVisualizer in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of a two-cell notebook: the default model and a class visualizer of class 281 (tabby)
with both recipes and far more steps than a test waits for, started by the Start button. Python-side state is read
through a second kernel client, never the page.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import write_notebook

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-classvis"
CANVAS = f"{ROOT} canvas.cnnviz-batch-canvas"
STEPS = 2000
CELLS = [
    "import cnnviz_widgets as cw\n\nnet = cw.load_model()",
    f"cv = cw.ClassVisualizer(net, 281, steps={STEPS}, start=False)\ncv",
]
STATE = "(cv.busy, cv.step, cv.status, cv.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "classvis.ipynb", CELLS)


def test_pick_a_class_start_streams_both_recipes_stop_ends_the_run(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    expect(page.locator(ROOT)).to_be_visible()
    current = page.locator(f"{ROOT} .cnnviz-class-current")
    expect(current).to_have_text("281: tabby")
    page.locator(f"{ROOT} input.cnnviz-class-search").fill("goldfis")  # "goldfi" would match goldfinch too
    expect(page.locator(f"{ROOT} .cnnviz-class-suggestion")).to_have_text(["1: goldfish"])
    page.locator(f"{ROOT} .cnnviz-class-suggestion").click()
    assert nb.probe.wait_for("cv.target", lambda t: t == 1) == 1
    expect(current).to_have_text("1: goldfish")
    expect(page.locator(f"{ROOT} .cnnviz-cv-class-label")).to_have_text("goldfish")

    page.locator(f"{ROOT} button.cnnviz-run").click()
    seen: dict = {}
    deadline = time.monotonic() + 60
    while len(seen) < 3:
        assert time.monotonic() < deadline, f"only {len(seen)} different frames within 60 s"
        stats = nb.canvases_stats(CANVAS, key="data-index")
        key = tuple(s["hash"] for s in stats.values())
        seen.setdefault(key, stats)
        page.wait_for_timeout(100)
    expect(page.locator(CANVAS)).to_have_count(2)  # cs231n and distill side by side
    busy, step, status, error = nb.probe.eval(STATE)
    assert busy and 0 < step < 2 * STEPS and not error, (busy, step, error)
    expect(page.locator(f"{ROOT} .cnnviz-batch-cell figcaption").first).to_contain_text("cs231n · step")

    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, stopped, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert 0 < stopped < 2 * STEPS and not error and status.startswith("stopped at step"), status
    page.wait_for_timeout(500)
    assert nb.probe.eval("cv.step") == stopped, "the run went on after Stop"
    expect(page.locator(f"{ROOT} .cnnviz-batch-cell figcaption").last).to_contain_text("distill · step")
    expect(page.locator(f"{ROOT} .cnnviz-batch-cell figcaption").last).to_contain_text(" · p ")
    with page.expect_download() as download:
        page.locator(f"{ROOT} button.cnnviz-download").click()
    assert download.value.suggested_filename == "class-visualization.png"
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")

    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    widget.screenshot(path=str(artifacts_dir / f"classvis-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
