"""FoolingImage in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of a two-cell notebook: the default model and a fooling view of the cat, bounded to
half a grey level with tiny steps, so that a run goes on far longer than a test waits (for Stop and Resume), not
started. Python-side state is read through a second kernel client, never the page.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from .conftest import write_notebook
from .test_look_browser import CONTRAST_JS, FIT_JS, set_theme

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-fooling"
CANVAS = f"{ROOT} .cnnviz-fool-{{}} canvas"
STEPS = 3000
CELLS = [
    'import cnnviz_widgets as cw\n\nnet = cw.load_model()\nimg = cw.sample_image("cat")',
    f'fool = cw.FoolingImage(net, img, 1, mode="bounded", epsilon=0.5, lr=0.05, steps={STEPS}, start=False)\nfool',
]
STATE = "(fool.busy, fool.step, fool.status, fool.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "fooling.ipynb", CELLS)


def open_view(nb) -> None:
    """Run the notebook; wait for the view with the photo drawn and the idle hint."""
    nb.run_all()
    expect(nb.page.locator(ROOT)).to_be_visible()
    nb.wait_canvas(lambda s: s["colours"] > 1000, "the photo", selector=CANVAS.format("original"))
    expect(nb.page.locator(f"{ROOT} .cnnviz-fool-empty")).to_be_visible()
    busy, step, status, error = nb.probe.eval(STATE)
    assert not busy and step == 0 and not error, (busy, step, error)
    assert status.startswith("press Start to make the model predict 1 (goldfish), within 0.5/255 of the photo"), status


def distinct(nb, which: str, count: int, timeout: float = 60.0) -> list:
    """Poll a canvas until it has shown ``count`` different pictures; their pixel statistics."""
    seen: dict = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        assert time.monotonic() < deadline, f"only {len(seen)} different {which} frames within {timeout} s"
        stats = nb.canvas_stats(CANVAS.format(which))
        if stats["colours"] > 1:
            seen.setdefault(stats["hash"], stats)
        nb.page.wait_for_timeout(50)
    return list(seen.values())


def canvas_hash(rgb: np.ndarray) -> int:
    """The ``hash`` of CANVAS_STATS_JS for an ``(H, W, 3)`` picture: ``h = h * 31 + 0xRRGGBB`` over the pixels in
    row order, in signed 32-bit integers."""
    value = 0
    for pixel in (rgb[..., 0].astype(np.int64) << 16 | rgb[..., 1].astype(np.int64) << 8 | rgb[..., 2]).ravel():
        value = (value * 31 + int(pixel)) & 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def download_png(page) -> int:
    """Click "Download PNG": the canvas hash of the file saved, which must be named fooled.png."""
    with page.expect_download() as download:
        page.locator(f"{ROOT} button.cnnviz-download").click()
    assert download.value.suggested_filename == "fooled.png"
    return canvas_hash(np.asarray(Image.open(io.BytesIO(Path(download.value.path()).read_bytes())).convert("RGB")))


def test_search_a_class_start_streams_frames_stop_and_resume_and_download(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    open_view(nb)
    search = page.locator(f"{ROOT} input.cnnviz-class-search")
    search.fill("tiger sha")
    expect(page.locator(f"{ROOT} .cnnviz-class-suggestion")).to_have_text(["3: tiger shark"])
    page.locator(f"{ROOT} .cnnviz-class-suggestion").click()
    assert nb.probe.wait_for("fool.target", lambda t: t == 3) == 3
    expect(page.locator(f"{ROOT} .cnnviz-class-current")).to_have_text("3: tiger shark")

    page.locator(f"{ROOT} button.cnnviz-run").click()
    changes = distinct(nb, "change", 3)
    busy, step, status, error = nb.probe.eval(STATE)
    assert busy and 0 < step < STEPS and not error, (busy, step, error)
    assert re.match(rf"step \d+/{STEPS} · [\d.]+ steps/s · target ", status), status
    assert all(c["width"] == c["height"] == 224 for c in changes)
    assert nb.probe.eval("fool._pacer.acked") >= 2, "the view acknowledges the frames it draws"
    caption = re.compile(r"change ×[\d.]+, max 0\.[0-5]/255")  # within the budget of half a grey level
    expect(page.locator(f"{ROOT} .cnnviz-fool-change figcaption")).to_have_text(caption)
    expect(page.locator(f"{ROOT} .cnnviz-fool-after .cnnviz-prediction")).to_have_count(5)

    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, stopped, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert 0 < stopped < STEPS and not error and status.startswith(f"stopped at step {stopped}/{STEPS}"), status
    page.wait_for_timeout(500)
    assert nb.probe.eval("(fool.busy, fool.step)") == (False, stopped), "the run went on after Stop"
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text("Resume goes on")
    final = np.asarray(nb.probe.eval("__import__('numpy').asarray(fool.final.convert('RGB')).tolist()"), np.uint8)
    halves = {"fooled": canvas_hash(final[:, :224]), "change": canvas_hash(final[:, 224:])}
    for name, shown in halves.items():  # the PNG where the run stopped replaces the frames, pixel for pixel
        nb.wait_canvas(lambda s, h=shown: s["hash"] == h, f"the final {name} picture", selector=CANVAS.format(name))
    assert download_png(page) == halves["fooled"], "the download is Python's fooled picture"

    # Resume streams live frames over the final pictures of the stretch before: each canvas changes from what it
    # showed at Stop, and the view acknowledges the frames it draws (else the pacer sends one a second). The download
    # is still the PNG where the stretch before ended, not the live frame.
    acked = nb.probe.eval("fool._pacer.acked")
    page.locator(f"{ROOT} button.cnnviz-resume").click()
    nb.probe.wait_for("fool.step", lambda s: s > stopped + 3)
    for name, shown in halves.items():
        nb.wait_canvas(lambda s, h=shown: s["hash"] != h, f"{name} frames after Resume", selector=CANVAS.format(name))
    nb.probe.wait_for("fool._pacer.acked", lambda a: a >= acked + 3, timeout=10)
    assert download_png(page) == halves["fooled"], "the download during a resumed run is the last stretch's PNG"
    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, resumed, status, _ = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert stopped < resumed < STEPS and status.startswith(f"stopped at step {resumed}/{STEPS}"), status

    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    widget.screenshot(path=str(artifacts_dir / f"fooling-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_a_click_in_the_top5_picks_the_class_the_prediction_is_refused_and_a_run_fools_the_model(
    notebook, artifacts_dir
):
    nb, page = notebook, notebook.page
    open_view(nb)
    rows = page.locator(f"{ROOT} .cnnviz-class-picker:not(.cnnviz-fool-after) .cnnviz-prediction")
    expect(rows).to_have_count(5)
    top, runner_up = (int(rows.nth(i).get_attribute("data-index")) for i in range(2))
    rows.nth(0).click()
    expect(page.locator(f"{ROOT} .cnnviz-error")).to_contain_text(
        f"already predicts class {top} (Egyptian cat) for this image: choose another target, e.g. the runner-up "
        f"{runner_up}"
    )
    assert nb.probe.eval("fool.target") == 1, "the refused class stays out"
    rows.nth(1).click()
    assert nb.probe.wait_for("fool.target", lambda t: t == runner_up) == runner_up
    page.locator(f"{ROOT} select.cnnviz-fool-mode").select_option("unconstrained")
    nb.probe.wait_for("fool.mode", lambda m: m == "unconstrained")
    nb.probe.eval("setattr(fool, 'lr', None)")  # the mode's own step
    page.locator(f"{ROOT} button.cnnviz-run").click()
    busy, step, status, error = nb.probe.wait_for(STATE, lambda v: v[3] or (not v[0] and v[1] > 0), timeout=120)
    assert not error and nb.probe.eval("fool.reached") and status.startswith(f"fooled in {step} steps"), status
    after = page.locator(f"{ROOT} .cnnviz-fool-after .cnnviz-prediction").first
    expect(after).to_have_attribute("data-index", str(runner_up))
    expect(after).to_have_class(re.compile("cnnviz-selected"))
    expect(page.locator(f"{ROOT} .cnnviz-fool-fooled figcaption")).to_have_text(f"fooled · step {step} · predicted")
    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    widget.screenshot(path=str(artifacts_dir / f"fooling-fooled-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


@pytest.mark.lab_only
def test_the_view_reads_well_in_the_dark_theme_and_fits_narrow_cells(notebook, artifacts_dir):
    """The look test's checks for this view alone: dark-theme contrast >= 4.5 and no overflow at 800 px."""
    nb, page = notebook, notebook.page
    open_view(nb)
    nb.probe.eval("setattr(fool, 'mode', 'unconstrained') or fool.run()")
    nb.probe.wait_for(STATE, lambda v: not v[0] and v[1] > 0, timeout=120)
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.locator(ROOT).screenshot(path=str(artifacts_dir / "look-fooling-light.png"))
    set_theme(page, "JupyterLab Dark", light=False)
    page.locator(ROOT).screenshot(path=str(artifacts_dir / "look-fooling-dark.png"))
    low = [r for r in page.locator(ROOT).evaluate_all(CONTRAST_JS) if r["ratio"] < 4.5]
    assert not low, f"text below 4.5:1 in the dark theme: {low}"
    set_theme(page, "JupyterLab Light", light=True)
    page.set_viewport_size({"width": 800, "height": 2000})
    page.wait_for_timeout(500)
    for fit in page.locator(ROOT).evaluate_all(FIT_JS):
        assert fit["scroll"] <= fit["client"] + 1 and fit["right"] <= fit["outRight"], fit
    page.locator(ROOT).screenshot(path=str(artifacts_dir / "look-fooling-800.png"))
