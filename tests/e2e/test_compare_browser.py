"""SaliencyExplorer's compare mode in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium).

Every method side by side in one grid, the grid's shared opacity / colour map, picking a method from the
grid, the sanity check and faithfulness buttons, and image upload. Each test opens its own copy of
notebooks/00_quickstart.ipynb, runs it from the Run menu and then clicks like a person; Python-side state
is read through a second kernel client, never the page.
"""

from __future__ import annotations

import re
from typing import Any, Dict

import pytest
from playwright.sync_api import expect

from .conftest import EXPLORER_READY, REPO, VIEWPORT, heatmap_ready, looks_like_a_photo

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright's own base_url fixture trips a pytest deprecation warning; not ours.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

METHODS = (
    "gradient",
    "input_x_gradient",
    "smoothgrad",
    "integrated_gradients",
    "guided_backprop",
    "deconvnet",
    "gradcam",
    "gradcam_pp",
    "guided_gradcam",
)
ROOT = ".cnnviz.cnnviz-saliency"
GRID = f"{ROOT} .cnnviz-compare-grid"
CELLS = f"{GRID} .cnnviz-compare-cell"
CELL_CANVASES = f"{CELLS} canvas"
COMPARE_READY = "(sorted(explorer.maps), explorer.busy, explorer.error, explorer.compare)"
COFFEE = REPO / "cnnviz_widgets" / "data" / "coffee.png"
ESPRESSO = 967
CLICKED = "input_x_gradient"  # an early, fast cell of the grid
NUMBER = re.compile(r"[-+]?\d*\.\d+|[-+]?\d+")


def compare_ready(v) -> bool:
    methods, busy, error, compare = v
    assert not error, f"the explorer shows an error: {error}"
    return compare and set(methods) == set(METHODS) and not busy


def drawn(s: Dict[str, Any]) -> bool:
    """A cell's canvas shows a picture: real size, many colours and contrast (not blank, not flat)."""
    return s["width"] >= 64 and s["height"] >= 64 and s["colours"] > 500 and s["std"] > 10


def map_drawn(s: Dict[str, Any]) -> bool:
    """A heat-map drawn alone (colour-map colours only): real size, several colours, contrast."""
    return s["width"] >= 32 and s["height"] >= 32 and s["colours"] >= 16 and s["std"] > 5


def all_drawn(stats: Dict[str, Dict[str, Any]]) -> bool:
    return set(stats) == set(METHODS) and all(drawn(s) for s in stats.values())


def all_changed(before: Dict[str, Dict[str, Any]]):
    """Every cell repainted: new pixels, still a picture (at opacity 1 only colour-map colours remain)."""

    def check(stats: Dict[str, Dict[str, Any]]) -> bool:
        return set(stats) == set(before) and all(
            map_drawn(s) and s["hash"] != before[m]["hash"] for m, s in stats.items()
        )

    return check


def no_widget_errors(nb) -> None:
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def click_method(nb, method: str) -> None:
    """Click a method button and wait until Python has that method's heat-map."""
    nb.page.locator(f'{ROOT} .cnnviz-method[data-method="{method}"]').click()
    nb.probe.wait_for(
        f"(explorer.method, {EXPLORER_READY})", lambda v: v[0] == method and heatmap_ready(v[1]), timeout=120
    )


def open_compare(nb) -> Dict[str, Dict[str, Any]]:
    """Run the quickstart, click the compare toggle, wait for all nine maps; return the cells' pixel stats."""
    page = nb.page
    nb.run_quickstart()
    toggle = page.locator(f"{ROOT} button.cnnviz-compare-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator(GRID)).to_be_visible()
    expect(page.locator(CELLS)).to_have_count(len(METHODS))
    nb.probe.wait_for(COMPARE_READY, compare_ready, timeout=120)
    expect(page.locator(f"{CELLS}.cnnviz-pending")).to_have_count(0)
    return nb.wait_canvases(CELL_CANVASES, all_drawn, "a drawn map in every cell")


def test_compare_shows_every_method(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    stats = open_compare(nb)

    cells = page.locator(CELLS)
    assert sorted(cells.evaluate_all("(els) => els.map((e) => e.dataset.method)")) == sorted(METHODS)
    for method in METHODS:
        cell = page.locator(f'{CELLS}[data-method="{method}"]')
        expect(cell).to_be_visible()
        expect(cell.locator("canvas")).to_have_count(1)
        assert cell.inner_text().strip(), f"the {method} cell has no title"
        # Every map has its colour bar: what it measures and the range it shows.
        expect(cell.locator(".cnnviz-colorbar-caption")).not_to_be_empty()
        expect(cell.locator(".cnnviz-colorbar-high")).to_have_text(re.compile(r"\d"))
    # Nine different pictures: every map is its own, and a pixel method looks unlike a class-activation map.
    hashes = {m: s["hash"] for m, s in stats.items()}
    assert len(set(hashes.values())) == len(METHODS), f"some cells show the same pixels: {stats}"
    grad, cam = stats["gradient"], stats["gradcam"]
    assert (grad["colours"], round(grad["std"], 1)) != (cam["colours"], round(cam["std"], 1)), (grad, cam)
    expect(page.locator(f"{ROOT} .cnnviz-error")).to_be_hidden()

    # The widget with its grid is taller than the usual viewport; an element screenshot only shows what is
    # inside the notebook's scroll area, so make the page tall enough to hold all of it.
    page.set_viewport_size({"width": VIEWPORT["width"], "height": 2800})
    widget = page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # let the relayout and the scroll settle before the screenshot
    widget.screenshot(path=str(artifacts_dir / f"compare-{nb.server.app}.png"))

    # The toggle closes the grid again.
    toggle = page.locator(f"{ROOT} button.cnnviz-compare-toggle")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(page.locator(GRID)).to_have_count(0)
    nb.probe.wait_for("explorer.compare", lambda v: v is False)
    no_widget_errors(nb)


def test_grid_opacity_and_colour_map_stay_in_the_browser(notebook):
    nb, page = notebook, notebook.page
    start = open_compare(nb)
    controls = page.locator(f"{ROOT} .cnnviz-compare-grid-controls")
    slider = controls.locator("input.cnnviz-opacity")
    colours = controls.locator("select.cnnviz-colormap")
    python_before = nb.probe.eval("(explorer.opacity, explorer.colormap, explorer.method)")
    # The quickstart's other views talk to the kernel while they run (map chunks, frame acks, the objective
    # chart's echoes): the quiet window starts once they are done and their last frames have settled.
    nb.probe.wait_for("(occ.busy, fv.busy)", lambda v: v == (False, False))
    page.wait_for_timeout(1000)

    mark = len(nb.sent)
    # Drag the shared opacity slider from its middle to its right end, as a person would with the mouse.
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    assert box and box["width"] > 20, box
    before_drag = float(slider.input_value())
    slider.hover(position={"x": box["width"] / 2, "y": box["height"] / 2})
    page.mouse.down()
    slider.hover(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    slider.hover(position={"x": box["width"] - 1, "y": box["height"] / 2})
    page.mouse.up()
    dragged = float(slider.input_value())
    assert dragged > max(before_drag, 0.9), f"the drag moved the opacity from {before_drag} to {dragged}"
    after_drag = nb.wait_canvases(CELL_CANVASES, all_changed(start), "new pixels in every cell after the opacity drag")

    # The shared colour map: a different one repaints every cell again.
    current = colours.input_value()
    other = "gray" if current != "gray" else "viridis"
    colours.select_option(other)
    expect(colours).to_have_value(other)
    after_colours = nb.wait_canvases(CELL_CANVASES, all_changed(after_drag), f"new pixels in every cell with {other}")
    if other == "gray" and dragged == 1.0:  # the maps alone, in grey
        assert all(s["grey"] for s in after_colours.values()), after_colours

    # The keyboard works on the same slider: Home = opacity 0.
    slider.focus()
    page.keyboard.press("Home")
    expect(slider).to_have_value("0")
    bare = nb.wait_canvases(CELL_CANVASES, all_changed(after_colours), "new pixels in every cell at opacity 0")
    assert len({s["hash"] for s in bare.values()}) == 1, (
        f"at opacity 0 every cell should show the same bare photo: {bare}"
    )
    page.wait_for_timeout(1000)

    leaked = nb.comm_msgs_since(mark)
    assert not leaked, (
        f"grid opacity / colour-map changes sent {len(leaked)} comm_msg frame(s) to the kernel: {leaked[:2]!r}"
    )
    assert nb.probe.eval("(explorer.opacity, explorer.colormap, explorer.method)") == python_before
    no_widget_errors(nb)


def test_clicking_a_cell_selects_its_method(notebook):
    nb, page = notebook, notebook.page
    nb.run_quickstart()
    assert nb.probe.eval("explorer.method") == "gradcam"
    page.locator(f"{ROOT} button.cnnviz-compare-toggle").click()
    # A person need not wait for the whole grid: click a cell as soon as its map is there (the grid's
    # slow methods are still being computed meanwhile).
    cell = page.locator(f'{CELLS}[data-method="{CLICKED}"]')
    expect(page.locator(f'{CELLS}[data-method="{CLICKED}"]:not(.cnnviz-pending)')).to_be_visible(timeout=120_000)
    mark = len(nb.sent)

    cell.click()

    nb.probe.wait_for("explorer.method", lambda m: m == CLICKED)
    assert nb.comm_msgs_since(mark), "the cell click sent no comm_msg to the kernel"
    expect(page.locator(f'{ROOT} .cnnviz-method[data-method="{CLICKED}"]')).to_have_class(
        re.compile(r"\bcnnviz-selected\b")
    )
    expect(page.locator(f"{ROOT} .cnnviz-method.cnnviz-selected")).to_have_count(1)
    # The main view shows the clicked method's map (already computed for the grid), without an error.
    nb.probe.wait_for(
        "(explorer.method, bool(explorer.heatmap), explorer.error)",
        lambda v: v[0] == CLICKED and v[1] and not v[2] or bool(v[2]),
    )
    assert not nb.probe.eval("explorer.error")
    expect(page.locator(f"{ROOT} .cnnviz-error")).to_be_hidden()
    no_widget_errors(nb)


def shown_matches(text: str, value: float) -> bool:
    """Does some number in ``text`` equal ``value`` to the precision it is printed with?"""
    for token in NUMBER.findall(text):
        decimals = len(token.split(".")[1]) if "." in token else 0
        if abs(float(token) - value) <= 0.5 * 10**-decimals + 1e-9:
            return True
    return False


def test_sanity_check_and_faithfulness(notebook):
    nb, page = notebook, notebook.page
    nb.run_quickstart()
    click_method(nb, "gradient")  # the fastest method keeps both checks short

    page.locator(f"{ROOT} button.cnnviz-sanity").click()
    n_steps, busy, error = nb.probe.wait_for(
        "(len(explorer.sanity.get('correlation', [])) if explorer.sanity else 0, explorer.busy, explorer.error)",
        lambda v: not v[2] and v[0] > 0 and not v[1] or bool(v[2]),
        timeout=120,
    )
    assert not error, f"the sanity check failed: {error}"
    assert n_steps >= 3, f"the sanity check has only {n_steps} step(s)"
    assert nb.probe.eval("float(explorer.sanity['correlation'][0])") == pytest.approx(1.0)
    strip = page.locator(f"{ROOT} .cnnviz-sanity-strip")
    expect(strip).to_be_visible()
    strip_canvases = strip.locator("canvas")
    expect(strip_canvases).to_have_count(n_steps)
    first = nb.wait_canvas(
        map_drawn, "the original map in the sanity strip", selector=f"{ROOT} .cnnviz-sanity-strip canvas >> nth=0"
    )
    last = nb.wait_canvas(
        map_drawn, "the last map in the sanity strip", selector=f"{ROOT} .cnnviz-sanity-strip canvas >> nth=-1"
    )
    assert first["hash"] != last["hash"], "the fully randomised model's map looks exactly like the original"
    # Each step's ρ is printed in its caption, not only in a tooltip, and is not cut.
    rhos = nb.probe.eval("[float(c) for c in explorer.sanity['correlation']]")
    shown = strip.locator(".cnnviz-rho")
    expect(shown).to_have_text([f"ρ {r:.2f}" for r in rhos])
    assert all(
        e["scroll"] <= e["client"]
        for e in shown.evaluate_all("(els) => els.map((e) => ({ scroll: e.scrollWidth, client: e.clientWidth }))")
    ), "a ρ caption is cut"

    page.locator(f"{ROOT} button.cnnviz-faithfulness").click()
    deletion, insertion, busy, error = nb.probe.wait_for(
        "(float(explorer.curves['deletion_auc']) if explorer.curves else None, "
        "float(explorer.curves['insertion_auc']) if explorer.curves else None, explorer.busy, explorer.error)",
        lambda v: (v[0] is not None and not v[2]) or bool(v[3]),
        timeout=120,
    )
    assert not error, f"the faithfulness check failed: {error}"
    assert 0.0 <= deletion <= 1.0 and 0.0 <= insertion <= 1.0, (deletion, insertion)
    auc = page.locator(f"{ROOT} .cnnviz-auc")
    expect(auc).to_be_visible()
    expect(auc).to_contain_text(re.compile(r"\d"))
    text = auc.inner_text()
    assert len(NUMBER.findall(text)) >= 2, f"the AUC text shows fewer than two numbers: {text!r}"
    assert shown_matches(text, deletion), f"deletion AUC {deletion} is not shown in {text!r}"
    assert shown_matches(text, insertion), f"insertion AUC {insertion} is not shown in {text!r}"
    expect(page.locator(f"{ROOT} .cnnviz-error")).to_be_hidden()
    no_widget_errors(nb)


def test_upload_rejects_a_non_image_then_explains_a_photo(notebook):
    nb, page = notebook, notebook.page
    nb.run_quickstart()
    before = nb.wait_canvas(
        looks_like_a_photo, "the cat with a heat-map", selector=f"{ROOT} canvas.cnnviz-canvas >> nth=0"
    )
    upload = page.locator(f"{ROOT} input.cnnviz-upload[type=file]")
    expect(upload).to_have_count(1)
    banner = page.locator(f"{ROOT} .cnnviz-error")
    expect(banner).to_be_hidden()

    upload.set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"these are not pixels\n" * 20}]
    )
    error = nb.probe.wait_for("explorer.error", bool, timeout=60)
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(error.strip()[:60])
    assert "notes.txt" in error, f"the upload error does not name the file: {error!r}"
    assert re.search(r"image", error, re.IGNORECASE), f"the upload error does not say what is wrong: {error!r}"
    assert "Traceback" not in error, error
    # The cat stays: a bad file changes nothing but the banner.
    assert nb.probe.eval("explorer.predictions[0]['index']") != ESPRESSO

    def espresso_explained(v) -> bool:
        top, (has_map, busy, now, target, _status) = v
        assert not now or now == error, f"the explorer shows a new error: {now}"
        return top == ESPRESSO and target == ESPRESSO and has_map and not busy and not now

    upload.set_input_files(str(COFFEE))
    nb.probe.wait_for(
        f"(explorer.predictions[0]['index'] if explorer.predictions else None, {EXPLORER_READY})",
        espresso_explained,
        timeout=120,
    )
    expect(banner).to_be_hidden()
    expect(page.locator(f"{ROOT} li.cnnviz-prediction").first).to_contain_text("espresso")
    nb.wait_canvas(
        lambda s: looks_like_a_photo(s) and s["hash"] != before["hash"],
        "the uploaded photo with its heat-map",
        selector=f"{ROOT} canvas.cnnviz-canvas >> nth=0",
    )
    # The sample menu says which picture is shown: an upload is "your picture"; a sample keeps its name.
    samples = page.locator(f"{ROOT} select.cnnviz-sample")
    expect(samples).to_have_value("")
    expect(samples.locator("option:checked")).to_have_text("your picture")
    samples.select_option("cat")
    nb.probe.wait_for(
        "(explorer.sample, explorer.predictions[0]['index'])", lambda v: v[0] == "cat" and v[1] != ESPRESSO
    )
    expect(samples).to_have_value("cat")
    page.wait_for_timeout(300)
    expect(samples).to_have_value("cat")  # it does not snap back
    no_widget_errors(nb)
