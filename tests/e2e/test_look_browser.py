"""Every view in JupyterLab's light and dark themes: screenshots, text contrast, and layouts that reflow.

One notebook holds every view (saliency with its compare grid and a sanity check, a finished occlusion map, a short
feature visualisation, a layer explorer with a channel clicked, a dataset explorer over 48 small images with a patch
clicked and a scatter point hovered, shown in its top-patches and its embedding tab, a short DeepDream, a short class
visualisation, a fooling image of the cat run until the model is fooled, a short style transfer with its loss chart, a
short feature inversion from three layers, a fast style network trained for a few steps);
the page is screenshotted in the light theme, switched to "JupyterLab Dark" through Lab's own command, screenshotted
again, and in the dark theme every visible text of our views must have a contrast ratio of at least 4.5 against its
background. Then at 800 and 1600 px wide (file browser open) no view may be wider than its cell and no chart title may
be cut. Lab only, buffers mode: themes and layout do not depend on the wire mode, and Notebook 7 uses the same theme
variables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import ISOLATED_POINT_JS, write_notebook

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods")]

CELLS = [
    'import cnnviz_widgets as cw\n\nnet = cw.load_model()\nimg = cw.sample_image("cat")',
    'explorer = cw.SaliencyExplorer(net, img, method="gradient", compare=True)\nexplorer.dashboard()',
    "occ = cw.OcclusionExplorer(net, img, window=32, stride=16)\nocc",
    'fv = cw.FeatureVisualizer(net, "_blocks.6:3", size=128, steps=24)\nfv.dashboard()',
    'lx = cw.LayerExplorer(net, img, layer="_blocks.5")\nlx.unit = 42\nlx',
    "dx = cw.DatasetExplorer(net, cw.datasets.stand_in(n=48, size=64), ['_blocks.3'], cache=False, batch_size=16)\n"
    "dx.dashboard()",
    "dd = cw.DeepDream(net, img, octaves=2, steps=3, size=256)\ndd",
    "cv = cw.ClassVisualizer(net, 281, steps=8)\ncv",
    "fool = cw.FoolingImage(net, img, 1)\nfool",
    'st = cw.StyleTransfer(net, img, cw.sample_image("coffee"), size=128, steps=8)\nst.dashboard()',
    'inv = cw.FeatureInversion(net, img, ["_conv_stem", "_blocks.2", "_blocks.7"], size=128, steps=6)\ninv',
    'fs = cw.FastStyleTrainer(net, cw.sample_image("coffee"), preview=img, steps=4, size=64, batch=2)\nfs',
]
VIEWS = {
    "saliency": ".cnnviz.cnnviz-saliency",
    "occlusion": ".cnnviz.cnnviz-occlusion",
    "featurevis": ".cnnviz.cnnviz-featurevis",
    "layers": ".cnnviz.cnnviz-layers",
    "datasets": ".cnnviz.cnnviz-datasets",
    "dream": ".cnnviz.cnnviz-dream",
    "classvis": ".cnnviz.cnnviz-classvis",
    "fooling": ".cnnviz.cnnviz-fooling",
    "style": ".cnnviz.cnnviz-style",
    "inversion": ".cnnviz.cnnviz-inversion",
    "faststyle": ".cnnviz.cnnviz-faststyle",
}
READY = (
    "(len(explorer.maps), bool(explorer.sanity), explorer.busy, occ.done == occ.total > 0, occ.busy, fv.step, fv.busy,"
    " explorer.error or occ.error or fv.error or lx.error, lx.busy, lx.projection.get('unit'))"
)

# Every visible element of our views with its own text: its colour and the background behind it (the first opaque
# background up the tree, with translucent ones composited over it), and the contrast ratio of the two.
CONTRAST_JS = """(roots) => {
  const parse = (c) => {
    const m = c.match(/[\\d.]+/g) || [0, 0, 0, 0];
    return [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1];
  };
  const over = (top, below) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + below[i] * (1 - a)).concat(1);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const rows = [];
  for (const root of roots) for (const el of [root, ...root.querySelectorAll('*')]) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    if (!own || box.width === 0 || box.height === 0 || el.closest('button:disabled, option')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || +style.opacity === 0) continue;
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    rows.push({ text: el.textContent.trim().slice(0, 40), tag: el.tagName.toLowerCase(), cls: el.className,
                ratio: (a + 0.05) / (b + 0.05), color: style.color, bg: `rgb(${bg.slice(0, 3).map(Math.round)})` });
  }
  return rows;
}"""

# Overlap check: no two runs of text in a view are drawn over each other (a line-height of 0 leaking from one view's
# CSS into another's once stacked the saliency grid's titles, colour-bar ends and captions on one line). Each text
# node's line boxes, from a Range, cut to what the view's own scrolling or clipping boxes show (the notebook's scroll
# position does not matter); pairs of texts sharing over a third of the smaller box count.
OVERLAP_JS = """(roots) => {
  const clip = (r, el, root) => {  // the part of r that shows: cut by the view's boxes that clip their overflow
    let [l, t, rt, b] = [r.left, r.top, r.right, r.bottom];
    for (let e = el; e && e !== root.parentElement; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      const c = e.getBoundingClientRect();
      [l, t, rt, b] = [Math.max(l, c.left), Math.max(t, c.top), Math.min(rt, c.right), Math.min(b, c.bottom)];
    }
    return { left: l, top: t, right: rt, bottom: b, width: rt - l, height: b - t };
  };
  const found = [];
  for (const root of roots) {
    const boxes = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(), n = 0; node; node = walker.nextNode(), n++) {
      const text = node.textContent.trim();
      if (!text || node.parentElement.closest('option, select, .js-plotly-plot')) continue;
      const style = getComputedStyle(node.parentElement);
      if (style.visibility === 'hidden' || +style.opacity === 0) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const whole of range.getClientRects()) {
        const r = clip(whole, node.parentElement, root);
        if (r.width > 1 && r.height > 1) boxes.push({ n, text: text.slice(0, 30), r });
      }
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      if (boxes[i].n === boxes[j].n) continue;  // one text's own line boxes (an ellipsis splits them)
      const a = boxes[i].r, b = boxes[j].r;
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w <= 0 || h <= 0) continue;
      const smaller = Math.min(a.width * a.height, b.width * b.height);
      if (w * h > smaller / 3) found.push({ view: root.className, a: boxes[i].text, b: boxes[j].text });
    }
  }
  return found;
}"""

# Width check: each view root fits its cell (no horizontal overflow inside it or past the output area), and every
# plotly chart title is drawn whole inside its chart.
FIT_JS = """(roots) => roots.map((root) => {
  const out = root.closest('.jp-OutputArea-output') || root.parentElement;
  const r = root.getBoundingClientRect(), o = out.getBoundingClientRect();
  const titles = [...root.closest('.jp-OutputArea').querySelectorAll('.js-plotly-plot')].map((plot) => {
    const t = plot.querySelector('.gtitle'); const p = plot.getBoundingClientRect();
    if (!t) return null;
    const b = t.getBoundingClientRect();
    return { text: t.textContent, cut: b.left < p.left - 1 || b.right > p.right + 1 };
  }).filter(Boolean);
  return { view: root.className, scroll: root.scrollWidth, client: root.clientWidth,
           right: r.right, outRight: o.right + 1, titles };
})"""


@pytest.fixture
def notebook_source(tmp_path) -> Path:
    return write_notebook(tmp_path / "look.ipynb", CELLS)


# Every picture of a view has been decoded (an <img> without a source does not count).
PICTURES_JS = """(sel) => [...document.querySelectorAll(`${sel} img`)].every((i) => !i.getAttribute('src') ||
  (i.complete && i.naturalWidth > 0))"""


def dataset_tab(nb, tab: str, ready: str) -> None:
    """Open the DatasetExplorer's ``tab``; wait until ``ready`` (a Python expression) holds, no job runs, and its
    pictures are drawn."""
    view = nb.page.locator(VIEWS["datasets"])
    view.locator(f"button.cnnviz-tab[data-tab='{tab}']").click()
    state = nb.probe.wait_for(f"(dx.error, dx.tab == {tab!r} and {ready} and not dx.busy)", lambda v: v[0] or v[1])
    assert not state[0], f"DatasetExplorer shows an error: {state[0]}"
    expect(view.locator(f".cnnviz-tab-panel[data-tab='{tab}']")).to_be_visible()
    nb.page.wait_for_function(PICTURES_JS, arg=VIEWS["datasets"], timeout=30_000)


def prepare_datasets(nb) -> None:
    """The DatasetExplorer as a person leaves it: a scan point hovered in the embedding's chart, then back in the
    top-patches tab with a patch of unit 0 clicked (its image in focus, the receptive field boxed)."""
    page, view = nb.page, nb.page.locator(VIEWS["datasets"])
    dataset_tab(nb, "embedding", "dx.grid is not None and len(dx.embedding.get('items', ())) == 48")
    plot = view.locator("xpath=ancestor::div[contains(@class, 'widget-hbox')][1]").locator(".js-plotly-plot")
    plot.scroll_into_view_if_needed()
    target = plot.evaluate(ISOLATED_POINT_JS)
    page.mouse.move(target["x"], target["y"])
    assert nb.probe.wait_for("dx.hovered.get('item')", lambda v: v is not None, timeout=30) == target["item"]
    expect(view.locator(".cnnviz-ds-hovered img")).to_be_visible()
    page.mouse.move(0, 0)
    dataset_tab(nb, "patches", "dx.patches.get('unit') == 0 and bool(dx.patches.get('items'))")
    patch = view.locator(".cnnviz-ds-patch-grid button[data-item]").last
    item = int(patch.get_attribute("data-item"))
    patch.click()
    nb.probe.wait_for("(dx.focus.get('item'), dx.busy)", lambda v: v == (item, False))
    expect(view.locator(".cnnviz-box")).to_be_visible()
    page.wait_for_function(PICTURES_JS, arg=VIEWS["datasets"], timeout=30_000)


def set_theme(page, name: str, light: bool) -> None:
    page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', { theme: t })", name)
    page.wait_for_function("(v) => document.body.dataset.jpThemeLight === v", arg=str(light).lower(), timeout=30_000)
    page.wait_for_timeout(500)  # let the theme's stylesheet and the charts' relayout settle


# Each plotly chart beside a view as wide as the slot it was given (a chart that keeps the width it had before the
# dashboard wrapped leaves a gap, or is cut).
CHART_FILL_JS = """() => [...document.querySelectorAll('.jp-OutputArea .js-plotly-plot')].map((plot) => {
  const slot = plot.closest('.widget-vbox') || plot.parentElement;
  const svg = plot.querySelector('svg.main-svg');
  const title = (plot.querySelector('.gtitle') || {}).textContent || '';
  return { title, plot: svg ? svg.getBoundingClientRect().width : 0, slot: slot.getBoundingClientRect().width };
})"""


def charts_fill_their_slots(page) -> None:
    charts = page.evaluate(CHART_FILL_JS)
    assert len(charts) == 5, charts  # sanity check, deletion/insertion, objective per step, embedding, style losses
    narrow = [c for c in charts if c["plot"] < 0.95 * c["slot"] or c["plot"] > c["slot"] + 1]
    assert not narrow, f"charts not as wide as their slots: {narrow}"


def shoot(page, selector: str, path: Path) -> None:
    """The view with the charts beside it (its output area), as a person sees it."""
    view = page.locator(selector)
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    view.locator("xpath=ancestor::div[contains(@class, 'jp-OutputArea')][1]").screenshot(path=str(path))


def shoot_views(nb, artifacts_dir: Path, theme: str) -> None:
    """Every view; the DatasetExplorer in its top-patches tab, then in its embedding tab."""
    page = nb.page
    page.set_viewport_size({"width": 1400, "height": 3000})  # tall enough for a whole view in one element shot
    for name, selector in VIEWS.items():
        shoot(page, selector, artifacts_dir / f"look-{name}-{theme}.png")


@pytest.mark.lab_only  # themes and layout do not depend on the app's shell or the wire mode: checked once
def test_every_view_in_light_and_dark_reads_well_and_reflows(notebook, artifacts_dir):
    nb, page = notebook, notebook.page
    nb.run_all()
    for selector in VIEWS.values():
        expect(page.locator(selector)).to_be_visible()
    state = nb.probe.wait_for("explorer.maps and len(explorer.maps) == 9 and not explorer.busy", timeout=180)
    page.locator(".cnnviz-saliency button.cnnviz-sanity").click()
    state = nb.probe.wait_for(
        READY,
        lambda v: (
            v[7]
            or (v[0] == 9 and v[1] and not v[2] and v[3] and not v[4] and v[5] == 24 and not v[6])
            and (not v[8] and v[9] == 42)
        ),
        timeout=180,
    )
    assert not state[7], f"a view shows an error: {state[7]}"
    done = nb.probe.wait_for("(dx.error, dx.summary.get('scanned') == 48 and not dx.scanning)", lambda v: v[0] or v[1])
    assert not done[0], f"DatasetExplorer shows an error: {done[0]}"
    dreamt = nb.probe.wait_for("(dd.error, dd.step == 6 and not dd.busy)", lambda v: v[0] or v[1], timeout=180)
    assert not dreamt[0], f"DeepDream shows an error: {dreamt[0]}"
    drawn = nb.probe.wait_for("(cv.error, cv.step == 16 and not cv.busy)", lambda v: v[0] or v[1], timeout=180)
    assert not drawn[0], f"ClassVisualizer shows an error: {drawn[0]}"
    fooled = nb.probe.wait_for("(fool.error, fool.reached and not fool.busy)", lambda v: v[0] or v[1], timeout=180)
    assert not fooled[0], f"FoolingImage shows an error: {fooled[0]}"
    styled = nb.probe.wait_for("(st.error, st.step == 8 and not st.busy)", lambda v: v[0] or v[1], timeout=180)
    assert not styled[0], f"StyleTransfer shows an error: {styled[0]}"
    inverted = nb.probe.wait_for("(inv.error, inv.step == 6 and not inv.busy)", lambda v: v[0] or v[1], timeout=180)
    assert not inverted[0], f"FeatureInversion shows an error: {inverted[0]}"
    trained = nb.probe.wait_for("(fs.error, fs.step == 4 and not fs.busy)", lambda v: v[0] or v[1], timeout=180)
    assert not trained[0], f"FastStyleTrainer shows an error: {trained[0]}"
    prepare_datasets(nb)
    expect(page.locator(".cnnviz-saliency .cnnviz-sanity-step").first).to_be_visible()
    # The page's theme reaches Python (the charts follow it).
    assert nb.probe.wait_for("(explorer.theme, occ.theme, fv.theme)", lambda v: v == ("light",) * 3)

    charts_fill_their_slots(page)  # as drawn, before any window resize: the views announce their width

    # A layer filter that matches nothing says so instead of leaving an empty box.
    search = page.locator(".cnnviz-featurevis input.cnnviz-layer-search")
    search.fill("no-such-layer")
    expect(page.locator(".cnnviz-featurevis .cnnviz-layer-list")).to_have_text("no layer matches “no-such-layer”")
    search.fill("")
    expect(page.locator(".cnnviz-featurevis .cnnviz-layer-row").first).to_be_visible()

    shoot_views(nb, artifacts_dir, "light")
    dataset_tab(nb, "embedding", "dx.grid is not None")
    shoot(page, VIEWS["datasets"], artifacts_dir / "look-datasets-embedding-light.png")
    charts_fill_their_slots(page)
    dataset_tab(nb, "patches", "bool(dx.patches.get('items'))")
    set_theme(page, "JupyterLab Dark", light=False)
    assert nb.probe.wait_for("(explorer.theme, occ.theme, fv.theme)", lambda v: v == ("dark",) * 3)
    shoot_views(nb, artifacts_dir, "dark")
    charts_fill_their_slots(page)

    roots = page.locator(".cnnviz")
    rows = roots.evaluate_all(CONTRAST_JS)
    dataset_tab(nb, "embedding", "dx.grid is not None")
    shoot(page, VIEWS["datasets"], artifacts_dir / "look-datasets-embedding-dark.png")
    rows += page.locator(VIEWS["datasets"]).evaluate_all(CONTRAST_JS)
    assert len(rows) > 60, f"only {len(rows)} texts found in the views"
    poor = [r for r in rows if r["ratio"] < 4.5]
    assert not poor, "texts below contrast 4.5 in the dark theme:\n" + "\n".join(map(str, poor[:20]))

    # Widths: the views reflow from 800 to 1600 px, with the file browser open (the DatasetExplorer in its embedding
    # tab, where the image under the chart's mouse must show next to the chart at both widths).
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    for width in (800, 1600):
        page.set_viewport_size({"width": width, "height": 1400})
        page.wait_for_timeout(800)
        fits = roots.evaluate_all(FIT_JS)
        bad = [
            f
            for f in fits
            if f["scroll"] > f["client"] + 1 or f["right"] > f["outRight"] or any(t["cut"] for t in f["titles"])
        ]
        assert not bad, f"at {width} px: views overflow their cells or chart titles are cut: {bad}"
        overlaps = roots.evaluate_all(OVERLAP_JS)
        assert not overlaps, f"at {width} px: texts drawn over each other: {overlaps[:10]}"
        view = page.locator(VIEWS["saliency"])
        view.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / f"look-width-{width}-dark.png"))
        page.locator(VIEWS["datasets"]).locator(".cnnviz-ds-hover-slot").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / f"look-width-{width}-datasets-dark.png"))
    set_theme(page, "JupyterLab Light", light=True)
    assert nb.probe.wait_for("explorer.theme", lambda v: v == "light")
    assert not nb.widget_errors(), "\n\n".join(nb.widget_errors())
