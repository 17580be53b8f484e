/** SaliencyExplorer's view: overlay canvas, class picker (top-5), method buttons, Grad-CAM layer picker. */
import type { AnyModel } from "@anywidget/types";
import type { WireArray } from "../arrays";
import { overlayCanvas } from "../overlayCanvas";
import { errorBanner, h, layerPicker, listen, predictionList, progressBar, save } from "../ui";

const LAYER_METHODS = new Set(["gradcam"]);
const TITLES: Record<string, string> = { gradient: "Gradient", gradcam: "Grad-CAM" };

export function renderSaliency(model: AnyModel, el: HTMLElement): () => void {
  const overlay = overlayCanvas({
    opacity: Number(model.get("opacity")),
    colormap: String(model.get("colormap")),
    filename: "saliency.png",
  });
  const banner = errorBanner(model);
  const progress = progressBar(model);
  const predictions = predictionList(model);
  const picker = layerPicker(model);
  const methods = h("div", { class: "cnnviz-methods", role: "radiogroup" });

  const drawMethods = () => {
    const current = String(model.get("method"));
    methods.replaceChildren(
      ...((model.get("methods") ?? []) as string[]).map((m) =>
        h(
          "button",
          { class: `cnnviz-method${m === current ? " cnnviz-selected" : ""}`, "data-method": m, onclick: () => save(model, "method", m) },
          TITLES[m] ?? m,
        ),
      ),
    );
    const wasHidden = picker.el.style.display === "none";
    picker.el.style.display = LAYER_METHODS.has(current) ? "" : "none";
    if (wasHidden && LAYER_METHODS.has(current)) picker.shown();
  };
  drawMethods();
  const image = () => overlay.setImage((model.get("image") as DataView) ?? null);
  const heat = () => overlay.setHeatmap((model.get("heatmap") as WireArray) ?? null);
  void image().then(heat);

  el.append(
    h(
      "div",
      { class: "cnnviz cnnviz-saliency" },
      banner.el,
      h(
        "div",
        { class: "cnnviz-row" },
        overlay.el,
        h("div", { class: "cnnviz-side" }, h("div", { class: "cnnviz-heading" }, "Top-5 (click to explain)"), predictions.el, methods, picker.el),
      ),
      progress.el,
    ),
  );
  const stop = listen(model, { image: () => void image().then(heat), heatmap: heat, method: drawMethods, methods: drawMethods });
  return () => {
    stop();
    for (const part of [banner, progress, predictions, picker]) part.dispose();
  };
}
