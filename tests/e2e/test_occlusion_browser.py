"""OcclusionExplorer in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright).

Each test opens its own copy of a two-cell notebook: the default model and an explorer with a fine grid
(window 16, stride 4: 2809 windows, far more than a test waits for) that starts on the Run button. Python-side
state is read through a second kernel client, never the page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import looks_like_a_photo, write_notebook

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright's own base_url fixture trips a pytest deprecation warning; not ours.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-occlusion"
CANVAS = f"{ROOT} canvas.cnnviz-canvas"
CELLS = [
    "import cnnviz_widgets as cw\n\nnet = cw.load_model()",
    'occ = cw.OcclusionExplorer(net, cw.sample_image("cat"), window=16, stride=4, start=False)\nocc',
]
STATE = "(occ.busy, occ.done, occ.total, occ.status, occ.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "occlusion.ipynb", CELLS)


def open_explorer(nb):
    """Run the notebook; return the photo-only canvas statistics once the picture is drawn."""
    nb.run_all()
    expect(nb.page.locator(ROOT)).to_be_visible()
    expect(nb.page.locator(f"{ROOT} li.cnnviz-prediction")).to_have_count(5)
    busy, done, total, status, error = nb.probe.eval(STATE)
    assert not busy and done == 0 and not error and status.startswith("press Run"), (busy, done, status, error)
    return nb.wait_canvas(looks_like_a_photo, "the cat photo", selector=CANVAS)


def test_map_fills_in_while_running_stop_keeps_it_and_a_click_shows_the_occluded_image(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    photo = open_explorer(nb)
    page.locator(f"{ROOT} button.cnnviz-run").click()

    # The canvas changes twice while Python is still busy: the map is drawn chunk by chunk, not at the end.
    first = nb.wait_canvas(lambda s: s["hash"] != photo["hash"], "a first partial map", selector=CANVAS)
    busy, done1, total, status, error = nb.probe.eval(STATE)
    assert busy and 0 < done1 < total and not error, (busy, done1, total, error)
    assert re.search(r"\d+/2809 windows, about .* left", status), status
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text("left")
    busy, done2, _, _, _ = nb.probe.wait_for(STATE, lambda v: v[1] > done1)  # more windows done, then drawn
    second = nb.wait_canvas(lambda s: s["hash"] != first["hash"], "the map filling in further", selector=CANVAS)
    assert busy and done1 < done2 < total, (busy, done1, done2, total)
    assert looks_like_a_photo(second) and not second["grey"], second
    fill = page.locator(f"{ROOT} .cnnviz-progress-fill").evaluate("(e) => parseFloat(e.style.width)")
    assert 0 < fill < 100, fill

    page.locator(f"{ROOT} button.cnnviz-stop").click()
    busy, stopped, total, status, error = nb.probe.wait_for(STATE, lambda v: not v[0])
    assert 0 < stopped < total and not error and status.startswith(f"stopped after {stopped}/{total}"), (
        stopped,
        status,
    )
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text("stopped after")
    page.wait_for_timeout(1000)
    assert nb.probe.eval("(occ.busy, occ.done)") == (False, stopped), "the job went on after Stop"
    kept = nb.wait_canvas(lambda s: s["hash"] != photo["hash"], "the partial map after Stop", selector=CANVAS)
    assert looks_like_a_photo(kept), kept

    # Click near the top of the map (the coarse pass covers the top rows first): the preview appears.
    expect(page.locator(f"{ROOT} .cnnviz-preview-pair")).to_be_hidden()
    canvas = page.locator(CANVAS)
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.04})
    occluded = nb.probe.wait_for("occ.occluded and (occ.occluded['i'], occ.occluded['j'], occ.occluded['prob'])")
    i, j, prob = occluded
    pair = page.locator(f"{ROOT} .cnnviz-preview-pair")
    expect(pair).to_be_visible()
    expect(pair.locator("figcaption").nth(1)).to_contain_text(f"window ({i}, {j}) covered: {100 * prob:.1f}%")
    expect(pair.locator("figcaption").nth(0)).to_contain_text("original: Egyptian cat")
    original = nb.wait_canvas(
        looks_like_a_photo, "the original preview", selector=f"{ROOT} canvas[data-preview=original]"
    )
    covered = nb.wait_canvas(
        looks_like_a_photo, "the occluded preview", selector=f"{ROOT} canvas[data-preview=occluded]"
    )
    assert (covered["width"], covered["height"]) == (224, 224) and covered["hash"] != original["hash"]

    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    widget.screenshot(path=str(artifacts_dir / f"occlusion-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_bad_settings_are_caught_as_typed_and_the_engines_message_shows_the_rest(notebook):
    nb, page = notebook, notebook.page
    open_explorer(nb)
    banner = page.locator(f"{ROOT} .cnnviz-error")
    expect(banner).to_be_hidden()
    mark = len(nb.sent)

    # Out of the schema's range or not a number nor a named baseline: marked at once, with the valid values, and
    # nothing is sent to Python.
    for name, raw, valid in (
        ("stride", "0", "1..224 px"),
        ("window", "300", "1..224 px"),
        ("baseline", "grey", "a number, mean or blur"),
    ):
        field = page.locator(f"{ROOT} input.cnnviz-occlusion-{name}")
        field.fill(raw)
        expect(field).to_have_class(re.compile(r"\bcnnviz-invalid\b"))
        expect(field).to_have_attribute("title", f"{name}: {valid}")
        field.press("Enter")
        expect(field.locator("xpath=ancestor::label[1]").locator(".cnnviz-field-problem")).to_have_text(valid)
    page.wait_for_timeout(500)
    assert not nb.comm_msgs_since(mark), "an invalid field was sent to Python"
    assert nb.probe.eval("(occ.window, occ.stride, occ.baseline)") == (16, 4, 0.0)
    expect(banner).to_be_hidden()

    # Valid again: sent, and the mark goes.
    for name, raw in (("stride", "4"), ("window", "16"), ("baseline", "blur")):
        field = page.locator(f"{ROOT} input.cnnviz-occlusion-{name}")
        field.fill(raw)
        field.press("Enter")
        expect(field).not_to_have_class(re.compile(r"\bcnnviz-invalid\b"))
    nb.probe.wait_for("(occ.window, occ.stride, occ.baseline)", lambda v: v == (16, 4, "blur"))

    # What only the engine knows (a stride that leaves gaps between windows) comes back in the banner.
    stride = page.locator(f"{ROOT} input.cnnviz-occlusion-stride")
    stride.fill("20")
    stride.press("Enter")
    expect(banner).to_contain_text("leaves gaps between windows")
    page.locator(f"{ROOT} button.cnnviz-run").click()  # Run with the bad setting: the message again, no job
    expect(banner).to_contain_text("leaves gaps between windows")
    assert nb.probe.eval("(occ.busy, occ.done)") == (False, 0)
    # The banner's × clears the error itself.
    page.locator(f"{ROOT} .cnnviz-error-close").click()
    expect(banner).to_be_hidden()
    assert nb.probe.wait_for("occ.error", lambda e: e == "") == ""
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_settings_typed_in_the_view_drive_a_run_to_the_end(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    photo = open_explorer(nb)
    for name, value in (("window", "32"), ("stride", "16"), ("baseline", "blur")):
        field = page.locator(f"{ROOT} input.cnnviz-occlusion-{name}")
        field.fill(value)
        field.press("Enter")
    nb.probe.wait_for("(occ.window, occ.stride, occ.baseline)", lambda v: v == (32, 16, "blur"))
    page.locator(f"{ROOT} button.cnnviz-run").click()

    busy, done, total, status, error = nb.probe.wait_for(STATE, lambda v: v[1] == v[2] > 0 and not v[0], timeout=120)
    assert total == 13 * 13 and not error and status.startswith("occlusion of “Egyptian cat”"), (total, status, error)
    expect(page.locator(f"{ROOT} .cnnviz-status")).to_contain_text(f"{total} windows in")
    done_map = nb.wait_canvas(
        lambda s: s["hash"] != photo["hash"] and s["colours"] > 2000, "the finished map", selector=CANVAS
    )
    # The whole picture is covered: at opacity 1 no pixel of the bare photo is left, only colour-map colours.
    slider = page.locator(f"{ROOT} input.cnnviz-opacity")
    slider.focus()
    page.keyboard.press("End")
    nb.wait_canvas(lambda s: s["hash"] != done_map["hash"] and s["colours"] <= 256, "the map alone", selector=CANVAS)
    # Clicking the most harmful window (named in the status line) previews it.
    i, j = map(int, re.search(r"window \((\d+), (\d+)\) hurts most", status).groups())
    canvas = page.locator(CANVAS)
    box = canvas.bounding_box()
    spot = {"x": box["width"] * (16 * j + 16) / 224, "y": box["height"] * (16 * i + 16) / 224}
    canvas.hover(position=spot)
    expect(page.locator(f"{ROOT} .cnnviz-hover")).to_contain_text(f"window ({i}, {j}): score drop")
    # The colour bar says what the map measures and the range it shows.
    bar = page.locator(f"{ROOT} .cnnviz-overlay .cnnviz-colorbar")
    expect(bar.locator(".cnnviz-colorbar-caption")).to_have_text("drop in the class score (logit) when occluded")
    expect(bar.locator(".cnnviz-colorbar-high")).to_have_text(re.compile(r"^(≥ )?\d"))
    canvas.click(position=spot)
    expect(page.locator(f"{ROOT} .cnnviz-preview-pair figcaption").nth(1)).to_contain_text(f"window ({i}, {j}) covered")

    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    widget.screenshot(path=str(artifacts_dir / f"occlusion-finished-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
