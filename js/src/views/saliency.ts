/**
 * SaliencyExplorer's view: image picker and compare toggle on top; the overlay canvas beside the class
 * picker (top-5), method picker with options and layer picker; the compare grid (only in the DOM while
 * `compare` is on); the faithfulness panel; progress with Stop.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, type WireArray } from "../arrays";
import type { WireBytes } from "../codec";
import { imageInput } from "../imageInput";
import { fitNotice } from "../notice";
import { newestImage, overlayCanvas, type Look } from "../overlayCanvas";
import { errorBanner, h, layerPicker, listen, predictionList, progressBar, save } from "../ui";
import { analysisPanel } from "./analysisPanel";
import { compareGrid } from "./compareGrid";
import { methodPicker } from "./methodPicker";

export function renderSaliency(model: AnyModel, el: HTMLElement): () => void {
  const initial = (): Look => ({ opacity: Number(model.get("opacity")), colormap: String(model.get("colormap")) });
  const look = initial();
  const analysis = analysisPanel(model, look);
  const notice = fitNotice(model);
  const overlay = overlayCanvas({ look, filename: "saliency.png", onLook: analysis.redraw, below: notice.el });
  const grid = compareGrid(model, initial());
  const banner = errorBanner(model);
  const progress = progressBar(model);
  const predictions = predictionList(model);
  const methods = methodPicker(model);
  const picker = layerPicker(model);
  const images = imageInput(model);
  const toggle = h("button", { class: "cnnviz-compare-toggle", onclick: () => save(model, "compare", !model.get("compare")) }, "Compare all methods");
  const gridSlot = h("div", { class: "cnnviz-compare-slot" });

  const showLayerPicker = () => {
    const wanted = Boolean(methods.current()?.layer);
    const wasHidden = picker.el.style.display === "none";
    picker.el.style.display = wanted ? "" : "none";
    if (wasHidden && wanted) picker.shown();
  };
  // The grid leaves the DOM when compare is off, so the main overlay's controls are the only ones there.
  const showCompare = () => {
    const on = Boolean(model.get("compare"));
    toggle.setAttribute("aria-pressed", String(on));
    toggle.classList.toggle("cnnviz-selected", on);
    gridSlot.replaceChildren(...(on ? [grid.el] : []));
  };
  const decode = newestImage((base) => {
    overlay.setBase(base);
    grid.setBase(base);
  });
  const image = () => decode(model.get("image") as WireBytes | null);
  const heat = () => overlay.setMap(decodeArray(model.get("heatmap") as WireArray | null));
  showLayerPicker();
  showCompare();
  heat();
  void image();

  el.append(
    h(
      "div",
      { class: "cnnviz cnnviz-saliency" },
      banner.el,
      h("div", { class: "cnnviz-toolbar" }, images.el, toggle),
      h(
        "div",
        { class: "cnnviz-row" },
        overlay.el,
        h(
          "div",
          { class: "cnnviz-side" },
          h("div", { class: "cnnviz-heading" }, "Top-5 (click to explain)"),
          predictions.el,
          methods.el,
          picker.el,
        ),
      ),
      gridSlot,
      analysis.el,
      progress.el,
    ),
  );
  const stop = listen(model, {
    image: () => void image(),
    heatmap: heat,
    method: showLayerPicker,
    methods: showLayerPicker,
    compare: showCompare,
  });
  return () => {
    stop();
    for (const part of [banner, progress, predictions, picker, methods, images, grid, analysis, notice]) part.dispose();
  };
}
