/** The embedding tab: the scatter plot itself is the plotly chart of `view.dashboard()`; here are the images its lasso
 * chose and the embedding snapped to an image grid (cs231n's t-SNE grid), and, for the view's side column beside the
 * image in focus (the nearest place to the chart at every width), the image under the chart's mouse. */
import type { AnyModel } from "@anywidget/types";
import { toBytes } from "../../core/codec";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { DatasetsTraits } from "../../core/traits";
import { itemText, selectionText } from "../../logic/datasets";
import { spaceSelect } from "./neighbours";
import { markItem, pictures, thumb, waiting } from "./pictures";

const METHODS: Record<string, string> = { pca: "PCA", tsne: "t-SNE", umap: "UMAP" };

export function embeddingPanel(scope: Scope, model: AnyModel<DatasetsTraits>, pick: (item: number) => void): { panel: HTMLElement; hovered: HTMLElement } {
  const about = h("div", { class: "cnnviz-note" });
  const hoverUrls = pictures(scope);
  const hovered = h("div", { class: "cnnviz-ds-hovered" });
  const chosenUrls = pictures(scope);
  const chosenNote = h("div", { class: "cnnviz-note" });
  const chosen = h("div", { class: "cnnviz-ds-strip cnnviz-ds-selection", "data-lm-suppress-shortcuts": "true" });
  const gridUrls = pictures(scope);
  const grid = h("img", { class: "cnnviz-ds-grid", alt: "the embedding snapped to an image grid" });
  const gridNote = h("div", { class: "cnnviz-note" });

  const drawAbout = () => {
    const method = METHODS[String(model.get("method"))] ?? String(model.get("method"));
    about.textContent =
      `Each dataset image is a point placed by ${method} of its ${model.get("space")} features, so images the layer finds alike lie close together. ` +
      "The scatter plot comes with view.dashboard(): hover a point to see its image beside the image in focus, lasso points to list them below, click one to put it in focus.";
  };
  const drawHovered = () => {
    hoverUrls.clear();
    const found = model.get("hovered");
    hovered.replaceChildren(
      ...(found && "image" in found
        ? [thumb(hoverUrls.url(found.image), `${itemText(found.item, found.name)}${found.label ? ` · ${found.label}` : ""}`, { item: found.item, title: "put it in focus", pick, cls: "cnnviz-ds-large" })]
        : [h("div", { class: "cnnviz-empty-note" }, "Hover a point in the chart to see its image here.")]),
    );
  };
  const drawChosen = () => {
    chosenUrls.clear();
    const found = model.get("selection");
    const items = found && "items" in found ? found.items : [];
    const images = found && "images" in found ? found.images : [];
    chosenNote.textContent = selectionText(found && "total" in found ? found.total : 0, items.length);
    const item = Number(model.get("item"));
    chosen.replaceChildren(...items.map((it, i) => thumb(chosenUrls.url(images[i]), "", { item: it, title: `#${it}: put it in focus`, selected: it === item, pick })));
  };
  const drawGrid = () => {
    gridUrls.clear();
    const bytes = toBytes(model.get("grid"));
    const has = Boolean(bytes && bytes.byteLength);
    show(grid, has);
    if (has) grid.src = gridUrls.url(bytes);
    else grid.removeAttribute("src");
    gridNote.textContent = has
      ? "The same embedding snapped to a grid, one image per cell (a larger dataset is sampled evenly): neighbouring cells hold images the layer finds alike."
      : waiting(model, "Laying the images out in 2-D…");
  };
  drawAbout();
  drawHovered();
  drawChosen();
  drawGrid();
  const missing = () => void (grid.src || drawGrid());
  scope.listen(model, {
    method: drawAbout, space: drawAbout, hovered: drawHovered, selection: drawChosen,
    item: () => markItem(chosen, Number(model.get("item"))), grid: drawGrid, busy: missing, summary: missing,
  });
  const panel = h(
    "div",
    { class: "cnnviz-tab-panel", "data-tab": "embedding" },
    about,
    h("div", { class: "cnnviz-toolbar" }, spaceSelect(scope, model, "features of")),
    h("div", { class: "cnnviz-section" }, h("div", { class: "cnnviz-heading" }, "lasso selection"), chosenNote, chosen),
    h("div", { class: "cnnviz-section" }, h("div", { class: "cnnviz-heading" }, "image grid"), gridNote, grid),
  );
  return { panel, hovered: h("div", { class: "cnnviz-section cnnviz-ds-hover-slot" }, h("div", { class: "cnnviz-heading" }, "under the chart's mouse"), hovered) };
}
