"""DatasetExplorer in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright), clicked like a
person: the scan runs with its progress bar, a unit is chosen in the layer overview, a top patch is clicked (its image
in focus with the receptive field boxed), the neighbours tab shows both rows, and in the embedding tab the mouse over a
point of the plotly scatter shows that image's thumbnail in the view, on screen next to the chart. Python-side state is
read through a second kernel client, never the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ISOLATED_POINT_JS, write_notebook

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods")]

ROOT = ".cnnviz.cnnviz-datasets"
IMAGES = 160
CELLS = [
    "import cnnviz_widgets as cw\n\nnet = cw.load_model()\nimages = cw.datasets.stand_in(n=%d, size=96)" % IMAGES,
    'dx = cw.DatasetExplorer(net, images, ["_blocks.3", "_blocks.8"], cache=False, batch_size=16)\ndx.dashboard()',
    'fv = cw.FeatureVisualizer(net, "_blocks.3:2", steps=4, size=64, start=False)\nfv',
]
STATE = "(dx.summary.get('scanned'), dx.scanning, dx.busy, dx.error)"


# The shortest distance between two page boxes (0 where they touch or overlap).
GAP_JS = """([a, b]) => Math.hypot(Math.max(0, a.x - (b.x + b.width), b.x - (a.x + a.width)),
                                  Math.max(0, a.y - (b.y + b.height), b.y - (a.y + a.height)))"""


def shoot(view, path: Path) -> None:
    """The whole view in one picture: in a window tall enough for it (an element taller than the window comes out
    overlapped by the app's bars), then back to the usual window."""
    page = view.page
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2600})
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    view.screenshot(path=str(path))
    page.set_viewport_size(size)


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "datasets.ipynb", CELLS)


def idle(nb, what: str, timeout: float = 60):
    """Wait until ``what`` (a Python expression) is truthy and no job runs; fail at once on an error in the banner."""

    def ready(v) -> bool:
        assert not v[2], f"the view shows an error: {v[2]}"
        return bool(v[0]) and not v[1]

    return nb.probe.wait_for(f"({what}, dx.busy, dx.error)", ready, timeout=timeout)


def test_scan_patches_neighbours_and_a_hovered_point(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    view = page.locator(ROOT)
    expect(view).to_be_visible()

    # The scan runs with its progress bar moving, then the summary says every image was scanned.
    seen = nb.probe.wait_for(STATE, lambda v: v[1] and 0 < (v[0] or 0) < IMAGES, timeout=60)
    assert not seen[3], seen
    expect(view.locator(".cnnviz-progress-fill")).not_to_have_attribute("style", "width: 0%;")
    nb.probe.wait_for(STATE, lambda v: v[0] == IMAGES and not v[1], timeout=180)
    expect(view.locator(".cnnviz-ds-summary")).to_contain_text(f"{IMAGES}")

    # The layer overview: one cell per unit of _blocks.3 (40 channels); click the third cell of the first row.
    idle(nb, "dx.overview.get('layer') == '_blocks.3' and dx.patches.get('unit') == 0", timeout=90)
    sprite = view.locator("img.cnnviz-ds-sprite")
    expect(sprite).to_be_visible()
    box = sprite.bounding_box()
    columns = nb.probe.wait_for("dx.overview['columns']")
    cell = box["width"] / columns
    sprite.click(position={"x": 2.5 * cell, "y": 0.5 * cell})
    idle(nb, "dx.unit == 2 and dx.patches.get('unit') == 2", timeout=90)

    # Its top patches: click the first; its image comes into focus with the receptive field boxed.
    patches = view.locator(".cnnviz-ds-patch-grid button[data-item]")
    expect(patches.first).to_be_visible()
    first = int(patches.last.get_attribute("data-item"))
    patches.last.click()
    focus = idle(nb, f"dx.focus.get('item') == {first} and dx.focus.get('box')")
    assert focus[0], focus
    expect(view.locator(".cnnviz-box")).to_be_visible()
    shoot(view, artifacts_dir / f"datasets-patches-{nb.server.app}.png")

    # Neighbours of that image: a row in the layer's features and a row in pixels.
    view.locator("button.cnnviz-tab[data-tab='neighbours']").click()
    idle(nb, f"dx.neighbours.get('item') == {first}", timeout=90)
    rows = view.locator("[data-tab='neighbours'] .cnnviz-ds-strip")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("button[data-item]")).to_have_count(8)
    expect(rows.nth(1).locator("button[data-item]")).to_have_count(8)

    # The embedding: the grid picture in the view, and the mouse over a point of the scatter shows its image.
    view.locator("button.cnnviz-tab[data-tab='embedding']").click()
    idle(nb, "dx.grid is not None and len(dx.embedding.get('items', ())) == %d" % IMAGES, timeout=120)
    expect(view.locator("img.cnnviz-ds-grid")).to_be_visible()
    plot = page.locator(".js-plotly-plot").first
    plot.scroll_into_view_if_needed()
    expect(plot.locator(".gl-container canvas, canvas").first).to_be_attached()
    target = plot.evaluate(ISOLATED_POINT_JS)
    page.mouse.move(target["x"], target["y"])
    hovered = nb.probe.wait_for("dx.hovered.get('item')", lambda v: v is not None, timeout=30)
    assert hovered == target["item"], (hovered, target)
    thumb = view.locator(".cnnviz-ds-hovered img")
    expect(thumb).to_be_visible()
    assert thumb.evaluate("(img) => img.complete && img.naturalWidth > 0")
    # ...next to the chart, where the person looks: on screen with it, at most a few lines of controls away.
    page.screenshot(path=str(artifacts_dir / f"datasets-dashboard-{nb.server.app}.png"))
    gap = page.evaluate(GAP_JS, [plot.bounding_box(), thumb.bounding_box()])
    assert gap < 250, f"the hovered image is {gap:.0f} px from the chart"
    top = thumb.bounding_box()["y"]
    assert 0 <= top <= page.viewport_size["height"] - 40, f"the hovered image is off screen (top {top:.0f} px)"
    shoot(view, artifacts_dir / f"datasets-embedding-{nb.server.app}.png")

    # Now that the model has a scan, FeatureVisualizer shows unit 2's top patches beside its picture (at Start).
    visualizer = page.locator(".cnnviz.cnnviz-featurevis")
    visualizer.scroll_into_view_if_needed()
    visualizer.locator("button.cnnviz-run").click()
    nb.probe.wait_for("(len(fv.examples.get('crops', ())), fv.busy)", lambda v: v[0] == 9 and not v[1], timeout=90)
    strip = visualizer.locator(".cnnviz-fv-examples img")
    expect(strip).to_have_count(9)
    assert all(strip.evaluate_all("(imgs) => imgs.map((i) => i.complete && i.naturalWidth > 0)"))
    shoot(visualizer, artifacts_dir / f"datasets-featurevis-{nb.server.app}.png")
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
