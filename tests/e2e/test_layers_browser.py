"""LayerExplorer in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium via Playwright), clicked like a
person: the activation grid of the first convolution, the filters tab (an RGB mosaic drawn, a block's note), a layer
chosen with the mouse and one with the arrow keys, a channel clicked (its map over the photo, the receptive-field box
and the projection drawn) and the invariance tab (curves drawn). Python-side state is read through a second kernel
client, never the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import looks_like_a_photo, write_notebook

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods")]

ROOT = ".cnnviz.cnnviz-layers"
CANVAS = f"{ROOT} canvas.cnnviz-canvas"
CELLS = [
    'import cnnviz_widgets as cw\n\nnet = cw.load_model()\nimg = cw.sample_image("cat")',
    'lx = cw.LayerExplorer(net, img, layer="_conv_stem")\nlx',
]
IDLE = "(lx.thumbnails.get('layer'), lx.busy, lx.error)"


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "layers.ipynb", CELLS)


def settled(nb, layer: str):
    """Wait until the grid shows ``layer`` and no job runs; fail at once on an error in the banner."""

    def ready(v) -> bool:
        assert not v[2], f"the view shows an error: {v[2]}"
        return v[0] == layer and not v[1]

    return nb.probe.wait_for(IDLE, ready, timeout=60)


def test_layers_channels_and_tabs_are_drawn_as_clicked(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    view = page.locator(ROOT)
    expect(view).to_be_visible()
    settled(nb, "_conv_stem")
    expect(view.locator(".cnnviz-unit")).to_have_count(32)  # every channel of the stem, from one array
    photo = nb.wait_canvas(looks_like_a_photo, "the cat photo", selector=CANVAS)

    # The filters tab: the stem's 32 RGB 3x3 filters as one mosaic (6 columns of 4 px, 1 px apart).
    view.locator("button.cnnviz-tab[data-tab='filters']").click()
    mosaic = view.locator("[data-tab='filters'] canvas.cnnviz-mosaic[data-kind='rgb']")
    expect(mosaic).to_be_visible()
    assert nb.probe.wait_for("(lx.tab, lx.filters.get('kind'), lx.filters.get('total'))") == ("filters", "rgb", 32)
    stats = nb.wait_canvas(lambda s: s["colours"] > 50, "the filters", selector=f"{ROOT} canvas.cnnviz-mosaic")
    assert (stats["width"], stats["height"]) == (6 * 4 - 1, 6 * 4 - 1), stats
    expect(view.locator("[data-tab='filters'] .cnnviz-note").first).to_contain_text("filters 0–31 of 32")

    # The arrow key steps to the next layer; a click on a block's row shows why a block has no filters.
    view.locator(".cnnviz-layer-list").focus()
    page.keyboard.press("ArrowDown")
    settled(nb, "_bn0")
    view.locator(".cnnviz-layer-row[data-layer='_blocks.1']").click()
    settled(nb, "_blocks.1")
    expect(view.locator("[data-tab='filters'] .cnnviz-note").first).to_contain_text("not a convolution")
    expect(view.locator(".cnnviz-unit")).to_have_count(24)

    # A channel: its map over the photo, the box on its receptive field and the projection beside the patch.
    view.locator("button.cnnviz-tab[data-tab='activations']").click()
    view.locator(".cnnviz-unit[data-unit='5']").click()
    state = nb.probe.wait_for("(lx.unit, lx.projection.get('unit'), lx.busy)", lambda v: v[1] == 5 and not v[2])
    assert state[0] == 5, state
    nb.wait_canvas(lambda s: s["hash"] != photo["hash"] and s["colours"] > 2000, "the channel's map", selector=CANVAS)
    expect(view.locator(".cnnviz-box")).to_be_visible()
    box = view.locator(".cnnviz-box").bounding_box()
    frame = view.locator(".cnnviz-frame").bounding_box()
    assert box and frame and 0 < box["width"] <= frame["width"] + 1, (box, frame)
    for part in ("patch", "projection"):
        drawn = nb.wait_canvas(lambda s: s["width"] >= 96 and s["colours"] > 20, f"the {part}",
                               selector=f"{ROOT} canvas.cnnviz-projection-image[data-part='{part}']")  # fmt: skip
        assert drawn["height"] >= 96, drawn
    expect(view.locator(".cnnviz-projection")).to_contain_text("fires most at")

    # The invariance tab computes when shown: one curve per layer and the class probability.
    view.locator("button.cnnviz-tab[data-tab='invariance']").click()
    nb.probe.wait_for("(bool(lx.invariance), lx.busy)", lambda v: v[0] and not v[1], timeout=90)
    paths = view.locator("[data-tab='invariance'] svg path[data-series]")
    expect(paths).to_have_count(5)  # four layers' distances, one probability
    assert all(len(d or "") > 20 for d in paths.evaluate_all("(ps) => ps.map((p) => p.getAttribute('d'))"))
    view.screenshot(path=str(artifacts_dir / f"layers-{nb.server.app}.png"))
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
