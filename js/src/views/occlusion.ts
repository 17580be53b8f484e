/**
 * OcclusionExplorer's view: image picker on top; the overlay canvas (the map fills in while Python computes
 * it; a click asks for that window's occluded image) beside the class picker (top-5), the window / stride /
 * baseline fields with Run, and the preview of the clicked window next to the original; progress with Stop.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, type WireArray } from "../arrays";
import type { WireBytes } from "../codec";
import { traitField } from "../fields";
import { imageInput } from "../imageInput";
import { parseBaseline, previewCaptions, type OccludedWindow } from "../occlusion";
import { parseWhole } from "../options";
import { fitNotice } from "../notice";
import { newestImage, overlayCanvas, type Look } from "../overlayCanvas";
import { errorBanner, h, listen, predictionList, progressBar } from "../ui";

/** The clicked window's occluded picture beside the original, each with the class probability; boxes outlined. */
function windowPreview(model: AnyModel) {
  const original = h("canvas", { class: "cnnviz-preview-canvas", "data-preview": "original", width: 224, height: 224 });
  const occluded = h("canvas", { class: "cnnviz-preview-canvas", "data-preview": "occluded", width: 224, height: 224 });
  const captions = [h("figcaption", {}), h("figcaption", {})];
  const figures = h(
    "div",
    { class: "cnnviz-preview-pair" },
    h("figure", {}, original, captions[0]),
    h("figure", {}, occluded, captions[1]),
  );
  const hint = h("div", { class: "cnnviz-preview-hint" }, "Click the map to see the image with that window covered.");
  let base: ImageData | null = null;

  const paint = (canvas: HTMLCanvasElement, pixels: ImageData, box: number[]) => {
    canvas.width = pixels.width;
    canvas.height = pixels.height;
    const ctx = canvas.getContext("2d")!;
    ctx.putImageData(pixels, 0, 0);
    const [top, bottom, left, right] = box;
    ctx.strokeStyle = "#5b8def";
    ctx.lineWidth = 2;
    ctx.strokeRect(left, top, right - left, bottom - top);
  };
  const show = (pixels: ImageData | null) => {
    const w = model.get("occluded") as OccludedWindow;
    const shown = Boolean(pixels && base);
    figures.style.display = shown ? "" : "none";
    hint.style.display = shown ? "none" : "";
    if (!shown) return;
    paint(original, base!, w.box);
    paint(occluded, pixels!, w.box);
    const text = previewCaptions(w);
    captions[0].textContent = text.original;
    captions[1].textContent = text.occluded;
  };
  const decode = newestImage(show);
  const draw = () => void decode((model.get("occluded") as Partial<OccludedWindow> | null)?.image);
  draw();
  return {
    el: h("div", { class: "cnnviz-preview" }, hint, figures),
    setBase(next: ImageData | null) {
      base = next;
      draw();
    },
    dispose: listen(model, { occluded: draw }),
  };
}

export function renderOcclusion(model: AnyModel, el: HTMLElement): () => void {
  const look: Look = { opacity: Number(model.get("opacity")), colormap: String(model.get("colormap")) };
  const notice = fitNotice(model);
  const overlay = overlayCanvas({
    look,
    filename: "occlusion.png",
    below: notice.el,
    onClick: (at) => model.send({ type: "click", x: at.x, y: at.y }),
  });
  const banner = errorBanner(model);
  const progress = progressBar(model);
  const predictions = predictionList(model);
  const images = imageInput(model);
  const preview = windowPreview(model);
  const listId = `cnnviz-baselines-${Math.random().toString(36).slice(2)}`;
  const baselines = h("datalist", { id: listId });
  const prefix = "cnnviz-occlusion";
  const fields = [
    traitField(model, "window", parseWhole, { type: "number", min: 1, step: 1 }, { prefix }),
    traitField(model, "stride", parseWhole, { type: "number", min: 1, step: 1 }, { prefix }),
    traitField(model, "baseline", parseBaseline, { type: "text", list: listId, size: 6, title: "a number (0 = dataset mean colour), mean or blur" }, { prefix }),
  ];
  const run = h("button", { class: "cnnviz-run", onclick: () => model.send({ type: "run" }) }, "Run");

  const drawBaselines = () =>
    baselines.replaceChildren(...["0", ...((model.get("baselines") ?? []) as string[])].map((v) => h("option", { value: v })));
  const decode = newestImage((base) => {
    overlay.setBase(base);
    preview.setBase(base);
  });
  const image = () => decode(model.get("image") as WireBytes | null);
  const heat = () => overlay.setMap(decodeArray(model.get("heatmap") as WireArray | null));
  drawBaselines();
  heat();
  void image();

  el.append(
    h(
      "div",
      { class: "cnnviz cnnviz-occlusion" },
      banner.el,
      h("div", { class: "cnnviz-toolbar" }, images.el),
      h(
        "div",
        { class: "cnnviz-row" },
        overlay.el,
        h(
          "div",
          { class: "cnnviz-side" },
          h("div", { class: "cnnviz-heading" }, "Top-5 (click to choose the class)"),
          predictions.el,
          h("div", { class: "cnnviz-options cnnviz-occlusion-settings" }, ...fields.map((f) => f.el), baselines, run),
          preview.el,
        ),
      ),
      progress.el,
    ),
  );
  const stop = listen(model, { image: () => void image(), heatmap: heat, baselines: drawBaselines });
  return () => {
    stop();
    for (const part of [banner, progress, predictions, images, preview, notice, ...fields]) part.dispose();
  };
}
