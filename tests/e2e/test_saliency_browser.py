"""SaliencyExplorer in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of notebooks/00_quickstart.ipynb, runs it from the Run menu and checks one
thing a person would see or do. Python-side state is read through a second kernel client, never the page.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import EXPLORER_READY as READY
from .conftest import heatmap_ready, looks_like_a_photo

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright's own base_url fixture trips a pytest deprecation warning; not ours.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]


def test_quickstart_runs_without_errors(notebook):
    nb, page = notebook, notebook.page
    nb.run_all()

    errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
    assert errors.count() == 0, "error output in the notebook:\n" + "\n".join(errors.all_inner_texts())
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    assert stderr.count() == 0, "stderr output in the notebook:\n" + "\n".join(stderr.all_inner_texts())

    cells = page.locator(".jp-Notebook .jp-CodeCell")
    expect(cells).to_have_count(6)
    # The first cell installs the package only where it is missing (Colab): here it does nothing, silently.
    expect(cells.nth(0).locator(".jp-OutputArea-output")).to_have_count(0)
    expect(cells.nth(1).locator(".jp-OutputArea")).to_contain_text("Egyptian cat")
    widget = cells.nth(2).locator(".cnnviz.cnnviz-saliency")
    expect(widget).to_be_visible()
    expect(widget.locator("li.cnnviz-prediction")).to_have_count(5)
    expect(cells.nth(3).locator(".jp-OutputArea")).to_contain_text("torch.Size([1, 224, 224])")
    # The explorer's background job finishes without an error, and its banner stays hidden.
    nb.probe.wait_for(READY, heatmap_ready)
    expect(widget.locator(".cnnviz-error")).to_be_hidden()
    expect(widget.locator(".cnnviz-status")).to_contain_text("Egyptian cat")
    # The occlusion explorer at the end runs to its finished map, also without an error.
    expect(cells.nth(4).locator(".cnnviz.cnnviz-occlusion")).to_be_visible()
    done, total, error = nb.probe.wait_for("(occ.done, occ.total, occ.error)", lambda v: v[2] or (v[0] == v[1] > 0))
    assert not error and (done, total) == (13 * 13, 13 * 13), (done, total, error)
    expect(cells.nth(4).locator(".cnnviz-status")).to_contain_text("169 windows in")
    # The feature visualizer at the end renders its 64 steps, also without an error.
    expect(cells.nth(5).locator(".cnnviz.cnnviz-featurevis")).to_be_visible()
    step, busy, error = nb.probe.wait_for("(fv.step, fv.busy, fv.error)", lambda v: v[2] or (not v[1] and v[0] == 64))
    assert not error and step == 64, (step, busy, error)
    expect(cells.nth(5).locator(".cnnviz-status")).to_contain_text("done: step 64/64")
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_canvas_shows_photo_with_heatmap(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_quickstart()

    canvas = page.locator(".cnnviz-saliency canvas.cnnviz-canvas")
    expect(canvas).to_be_visible()
    stats = nb.wait_canvas(looks_like_a_photo, "a photo with a heat-map")
    # The picture is drawn at the model's input resolution, not left at a default blank size.
    assert (stats["width"], stats["height"]) == (224, 224), stats
    assert not stats["grey"], stats
    box = canvas.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100, box

    widget = page.locator(".cnnviz.cnnviz-saliency")
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(200)  # let the scroll settle before the screenshot
    app = nb.server.app
    widget.screenshot(path=str(artifacts_dir / f"saliency-{app}.png"))
    page.screenshot(path=str(artifacts_dir / f"saliency-{app}-page.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_clicking_a_prediction_explains_that_class(notebook):
    nb, page = notebook, notebook.page
    _, _, _, first_target, _ = nb.run_quickstart()
    rows = page.locator(".cnnviz-saliency li.cnnviz-prediction")
    expect(rows).to_have_count(5)
    assert int(rows.nth(0).get_attribute("data-index")) == first_target
    before = nb.wait_canvas(looks_like_a_photo, "a photo with a heat-map")

    row = rows.nth(1)
    index = int(row.get_attribute("data-index"))
    label = row.locator(".cnnviz-prediction-label").inner_text()
    assert index != first_target
    mark = len(nb.sent)
    row.click()

    # Python: the target follows the click, and a new heat-map for it is computed (its status names the class).
    nb.probe.wait_for(READY, lambda v: heatmap_ready(v) and v[3] == index and f"“{label}”" in v[4])
    assert nb.probe.eval("explorer.target") == index
    # Browser: the new heat-map arrives and is drawn.
    nb.wait_canvas(lambda s: looks_like_a_photo(s) and s["hash"] != before["hash"], "the new class' heat-map")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcnnviz-selected\b"))
    expect(rows.nth(0)).not_to_have_class(re.compile(r"\bcnnviz-selected\b"))
    assert nb.comm_msgs_since(mark), "the click sent no comm_msg to the kernel"
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_opacity_and_colour_map_stay_in_the_browser(notebook):
    nb, page = notebook, notebook.page
    nb.run_quickstart()
    start = nb.wait_canvas(looks_like_a_photo, "a photo with a heat-map")
    slider = page.locator(".cnnviz-saliency input.cnnviz-opacity")
    colours = page.locator(".cnnviz-saliency select.cnnviz-colormap")
    expect(slider).to_have_value("0.5")
    expect(colours).to_have_value("inferno")
    # The quickstart's other views talk to the kernel while they run (map chunks, frame acks, the objective
    # chart): the quiet window starts once they are done and their last frames have settled.
    nb.probe.wait_for("(occ.busy, fv.busy)", lambda v: v == (False, False))
    page.wait_for_timeout(1000)

    mark = len(nb.sent)
    # Keyboard on the focused range input, as a person would: End = opacity 1, the heat-map alone.
    slider.focus()
    page.keyboard.press("End")
    expect(slider).to_have_value("1")
    full = nb.wait_canvas(
        lambda s: s["hash"] != start["hash"] and s["colours"] <= 256 and not s["grey"],
        "only colour-map colours at opacity 1",
    )
    assert full["colours"] > 8, f"the heat-map is flat: {full}"
    # Colour map: gray at opacity 1 leaves only grey pixels.
    colours.select_option("gray")
    nb.wait_canvas(lambda s: s["grey"] and s["colours"] > 8, "a grey heat-map")
    # Home = opacity 0: the photo alone.
    slider.focus()
    page.keyboard.press("Home")
    expect(slider).to_have_value("0")
    nb.wait_canvas(lambda s: looks_like_a_photo(s) and not s["grey"] and s["hash"] != start["hash"], "the bare photo")
    page.wait_for_timeout(1000)

    leaked = nb.comm_msgs_since(mark)
    assert not leaked, (
        f"opacity / colour-map changes sent {len(leaked)} comm_msg frame(s) to the kernel: {leaked[:2]!r}"
    )
    # Python still has the initial values: nothing was synced.
    assert nb.probe.eval("(explorer.opacity, explorer.colormap)") == (0.5, "inferno")

    # The monitor can fail: a click on a prediction does send a comm_msg.
    mark = len(nb.sent)
    page.locator(".cnnviz-saliency li.cnnviz-prediction").nth(1).click()
    for _ in range(100):
        if nb.comm_msgs_since(mark):
            break
        page.wait_for_timeout(100)
    assert nb.comm_msgs_since(mark), "the websocket monitor saw no comm_msg after a prediction click"
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
