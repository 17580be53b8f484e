"""Inputs a new user brings (issue 12), in real JupyterLab 4 and Notebook 7 pages (headless Debian Chromium).

A 300×200 photo is shown exactly as the default model sees it (squashed to 224×224) with a quiet notice under it
saying so; a grayscale MNIST-like model gets the photo in grey. Each test writes its own notebook, waits on the canvas
showing pixels, and saves a screenshot of the explorer under tests/artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
from playwright.sync_api import expect

from .conftest import EXPLORER_READY, heatmap_ready, looks_like_a_photo, write_notebook

pytestmark = [
    pytest.mark.e2e,
    # pytest-playwright's own base_url fixture trips a pytest deprecation warning; not ours.
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

ROOT = ".cnnviz.cnnviz-saliency"
NOTICE = f"{ROOT} .cnnviz-notice"
SQUASHED = "squashed from 300×200 to 224×224: the aspect ratio changed; Preprocess(fit='crop' or 'pad') keeps it"

WIDE_CELLS = [
    "import cnnviz_widgets as cw\n\nnet = cw.load_model()",
    'photo = cw.sample_image("cat").resize((300, 200))\nexplorer = cw.SaliencyExplorer(net, photo)\nexplorer',
]
GREY_CELLS = [
    "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\nimport cnnviz_widgets as cw\n"
    "from cnnviz_widgets.engine import Preprocess",
    "class LeNet(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)\n"
    "        self.conv2 = nn.Conv2d(6, 16, 5)\n"
    "        self.fc1 = nn.Linear(16 * 5 * 5, 84)\n"
    "        self.fc2 = nn.Linear(84, 10)\n"
    "\n"
    "    def forward(self, x):\n"
    "        x = F.max_pool2d(F.relu(self.conv1(x)), 2)\n"
    "        x = F.max_pool2d(F.relu(self.conv2(x)), 2)\n"
    "        return self.fc2(F.relu(self.fc1(x.flatten(1))))\n"
    "\n"
    "torch.manual_seed(0)\n"
    "net = cw.Net(LeNet().eval(), Preprocess(size=28, channels=1, mean=(0.1307,), std=(0.3081,)))",
    'explorer = cw.SaliencyExplorer(net, cw.sample_image("cat"))\nexplorer',
]

# The colour an element would get from a JupyterLab theme variable, and the notice's own colour.
THEME_COLOUR_JS = """(el) => {
  const probe = document.createElement('span');
  probe.style.color = 'var(--jp-ui-font-color2)';
  document.body.append(probe);
  const themed = getComputedStyle(probe).color;
  probe.remove();
  return { notice: getComputedStyle(el).color, themed,
           variable: getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color2').trim() };
}"""


@pytest.fixture
def notebook_source(request, tmp_path) -> Path:
    cells = GREY_CELLS if "grayscale" in request.node.name else WIDE_CELLS
    return write_notebook(tmp_path / "inputs.ipynb", cells)


def open_explorer(nb) -> None:
    """Run the notebook; wait until the explorer's first heat-map is computed without an error."""
    nb.run_all()
    expect(nb.page.locator(ROOT)).to_be_visible()
    expect(nb.page.locator(f"{ROOT} li.cnnviz-prediction")).to_have_count(5)
    nb.probe.wait_for(EXPLORER_READY, heatmap_ready)


def screenshot(nb, artifacts_dir: Path, name: str) -> None:
    widget = nb.page.locator(ROOT)
    widget.scroll_into_view_if_needed()
    nb.page.wait_for_timeout(200)  # let the scroll settle
    widget.screenshot(path=str(artifacts_dir / f"{name}-{nb.server.app}.png"))


def test_a_300x200_photo_is_shown_squashed_as_the_model_sees_it_with_a_notice(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    open_explorer(nb)
    stats = nb.wait_canvas(looks_like_a_photo, "the squashed photo with a heat-map")
    assert (stats["width"], stats["height"]) == (224, 224), stats  # exactly the model's picture, not the 300×200 one

    notice = page.locator(NOTICE)
    expect(notice).to_be_visible()
    expect(notice).to_have_text(SQUASHED)
    assert nb.probe.eval("explorer.notice") == SQUASHED
    # Under the photo, no wider than it, in the theme's secondary text colour.
    canvas_box, notice_box = page.locator(f"{ROOT} canvas.cnnviz-canvas").bounding_box(), notice.bounding_box()
    assert notice_box["y"] >= canvas_box["y"] + canvas_box["height"] - 1, (canvas_box, notice_box)
    assert notice_box["width"] <= canvas_box["width"] + 1 and notice_box["height"] > 0, (canvas_box, notice_box)
    colours: Dict[str, Any] = notice.evaluate(THEME_COLOUR_JS)
    assert colours["variable"] and colours["notice"] == colours["themed"], colours
    screenshot(nb, artifacts_dir, "inputs-300x200")

    # A square picture is only resized: the notice goes away.
    nb.probe.eval("explorer.set_image(cw.sample_image('cat').crop((0, 0, 300, 300)))")
    expect(notice).to_be_hidden()
    assert nb.probe.eval("explorer.notice") == ""
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())


def test_a_grayscale_model_explains_the_photo_in_grey(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    open_explorer(nb)
    assert nb.probe.eval("(net.preprocess.channels, tuple(explorer._x.shape))") == (1, (1, 1, 28, 28))
    nb.wait_canvas(
        lambda s: (s["width"], s["height"]) == (28, 28) and s["colours"] > 100 and s["std"] > 10 and not s["grey"],
        "the 28×28 photo with a heat-map",
    )
    expect(page.locator(NOTICE)).to_have_text(
        "squashed from 451×300 to 28×28: the aspect ratio changed; Preprocess(fit='crop' or 'pad') keeps it"
    )
    screenshot(nb, artifacts_dir, "inputs-grayscale")

    # Opacity 0 leaves the picture the model sees: grey, with real contrast.
    slider = page.locator(f"{ROOT} input.cnnviz-opacity")
    slider.focus()
    page.keyboard.press("Home")
    nb.wait_canvas(lambda s: s["grey"] and s["colours"] > 50 and s["std"] > 20, "the grey photo alone")
    screenshot(nb, artifacts_dir, "inputs-grayscale-photo")
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
