/**
 * DatasetExplorer's view: the banner, the scan's summary with Scan, Stop and progress, the tabs (top patches,
 * neighbours, embedding), a main row with the image in focus (its name, label, prediction and the receptive field of
 * the clicked patch) beside the layer picker (in the embedding tab: the image under the chart's mouse, above the image
 * in focus where they do not fit side by side, so it shows near the chart at every width) and the current tab's
 * settings, and the tab's panel below.
 */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../../core/dom";
import { announceResizes } from "../../core/resize";
import type { Scope } from "../../core/scope";
import { followTheme } from "../../core/theme";
import { save, type DatasetsTraits } from "../../core/traits";
import { errorBanner } from "../../components/banner";
import { newestImage } from "../../components/heat";
import { layerPicker } from "../../components/layerPicker";
import { overlayView } from "../../components/overlay";
import { traitForm } from "../../components/settingsForm";
import { failuresText, focusText, plural, summaryText } from "../../logic/datasets";
import { runBar } from "../../shells/stream";
import { embeddingPanel } from "./embedding";
import { neighboursPanel } from "./neighbours";
import { patchesPanel } from "./patches";

const TABS: [string, string][] = [
  ["patches", "top patches"],
  ["neighbours", "neighbours"],
  ["embedding", "embedding"],
];

/** The summary line, with the first reasons for skipped files in a disclosure (and a tooltip). */
function summaryLine(scope: Scope, model: AnyModel<DatasetsTraits>): HTMLElement {
  const text = h("span", { class: "cnnviz-ds-summary-text" });
  const skipped = h("summary", {});
  const reasons = h("ul", { class: "cnnviz-ds-failures" });
  const details = h("details", { class: "cnnviz-ds-skipped" }, skipped, reasons);
  const draw = () => {
    const s = model.get("summary");
    text.textContent = summaryText(s, Boolean(model.get("busy")));
    const why = failuresText(s);
    show(details, Boolean(s?.failed));
    skipped.textContent = `why ${s?.failed === 1 ? "it was" : "they were"} skipped`;
    details.title = why;
    reasons.replaceChildren(...why.split("\n").filter(Boolean).map((r) => h("li", {}, r)));
  };
  draw();
  scope.listen(model, { summary: draw, busy: draw });
  return h("div", { class: "cnnviz-ds-summary" }, text, details);
}

/** The image in focus with the receptive field of the clicked patch drawn on it. */
function stage(scope: Scope, model: AnyModel<DatasetsTraits>): HTMLElement {
  const caption = h("div", { class: "cnnviz-ds-focus-caption" });
  const overlay = overlayView({ look: { opacity: 0.5, colormap: "inferno" }, filename: "dataset-image.png", below: caption });
  const empty = h("div", { class: "cnnviz-empty-note" }, "Click a top patch, a neighbour or a point in the embedding chart to see its image here.");
  const box = () => {
    const f = model.get("focus");
    overlay.setBox(f && "box" in f && f.box ? f.box : null);
  };
  const land = newestImage((pixels) => {
    overlay.setBase(pixels);
    box();
  });
  const draw = () => {
    const f = model.get("focus");
    const has = Boolean(f && "image" in f);
    show(overlay.el, has);
    show(empty, !has);
    const field = f && "box" in f && f.box ? " · the box: the patch's receptive field" : "";
    caption.textContent = has ? focusText(f) + field : "";
    void land(f && "image" in f ? f.image : null);
  };
  draw();
  scope.listen(model, { focus: draw });
  return h("div", { class: "cnnviz-ds-stage" }, overlay.el, empty);
}

export function renderDatasets(scope: Scope, model: AnyModel<DatasetsTraits>, el: HTMLElement): void {
  followTheme(scope, model);
  const pick = (item: number) => save(model, "item", item);
  const tab = () => String(model.get("tab"));
  const embedding = embeddingPanel(scope, model, pick);
  const panels: Record<string, HTMLElement> = {
    patches: patchesPanel(scope, model, pick),
    neighbours: neighboursPanel(scope, model, pick),
    embedding: embedding.panel,
  };
  const picker = layerPicker(scope, model);
  const form = traitForm(scope, model, { prefix: "cnnviz-ds", options: (schema) => schema.filter((d) => d.group === tab()) });
  const buttons = TABS.map(([name, label]) =>
    h("button", { class: "cnnviz-tab", role: "tab", "data-tab": name, onclick: () => save(model, "tab", name) }, label),
  );
  const layerCount = h("div", { class: "cnnviz-note" });
  const main = h("div", { class: "cnnviz-main" }, h("div", { class: "cnnviz-stage" }, stage(scope, model)), h("div", { class: "cnnviz-side" }, embedding.hovered, picker.el, layerCount, form.el));
  const tabs = () => {
    buttons.forEach((b) => {
      const on = b.dataset.tab === tab();
      b.classList.toggle("cnnviz-selected", on);
      b.setAttribute("aria-selected", String(on));
    });
    Object.entries(panels).forEach(([name, panel]) => show(panel, name === tab()));
    show(embedding.hovered, tab() === "embedding");
    main.classList.toggle("cnnviz-ds-side-first", tab() === "embedding");
    show(picker.el, tab() === "patches");
    show(layerCount, tab() === "patches");
    form.rebuild();
    if (tab() === "patches") picker.shown();
  };
  const countLayers = () => (layerCount.textContent = `${plural((model.get("layers") ?? []).length, "layer")} scanned for top patches`);
  tabs();
  countLayers();
  scope.listen(model, { tab: tabs, layers: countLayers });

  const root = h(
    "div",
    { class: "cnnviz cnnviz-datasets" },
    errorBanner(scope, model),
    summaryLine(scope, model),
    runBar(scope, model, { run: "Scan" }),
    h("div", { class: "cnnviz-tab-bar", role: "tablist" }, ...buttons),
    main,
    ...Object.values(panels),
  );
  el.append(root);
  announceResizes(scope, root);
}
