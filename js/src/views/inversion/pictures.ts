/**
 * The photo and one reconstruction per layer side by side, each captioned ("photo", then the layer and its PSNR
 * against the photo). Python sends them as one strip of equal pictures, live JPEG frames and the PNG where a run ended
 * (components/liveBatch's `liveFrames`: acknowledged, newest wins, "Download PNG" saves the PNG as it is). Before a
 * run the photo (`original`) stands beside an empty place for each ticked layer.
 */
import type { AnyModel } from "@anywidget/types";
import { h } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { InversionTraits } from "../../core/traits";
import { newestImage } from "../../components/heat";
import { liveFrames } from "../../components/liveBatch";
import { cellWidth, waitingCaptions } from "../../logic/inversion";

interface Cell {
  canvas: HTMLCanvasElement;
  caption: HTMLElement;
  el: HTMLElement;
}

export function inversionPictures(scope: Scope, model: AnyModel<InversionTraits>): HTMLElement {
  const grid = h("div", { class: "cnnviz-inv-pictures" });
  let cells: Cell[] = [];
  let strip: ImageData | null = null;
  let photo: ImageData | null = null;

  const layout = (count: number) => {
    if (cells.length === count) return;
    cells = Array.from({ length: count }, (_, i) => {
      const canvas = h("canvas", { class: "cnnviz-inv-canvas", width: 1, height: 1 });
      const caption = h("figcaption", {});
      return { canvas, caption, el: h("figure", { class: "cnnviz-inv-cell", "data-index": i }, canvas, caption) };
    });
    grid.replaceChildren(...cells.map((cell) => cell.el));
  };
  const paint = (canvas: HTMLCanvasElement, pixels: ImageData, x: number, width: number) => {
    canvas.width = width;
    canvas.height = pixels.height;
    canvas.getContext("2d")!.putImageData(pixels, -x, 0, x, 0, width, pixels.height);
  };
  const render = () => {
    const texts = strip ? (model.get("captions") ?? []) : waitingCaptions(model.get("layers") ?? []);
    layout(Math.max(1, texts.length));
    cells.forEach((cell, i) => {
      cell.caption.textContent = texts[i] ?? "";
      cell.el.classList.toggle("cnnviz-inv-waiting", !strip && i > 0);
      const source = strip ?? (i === 0 ? photo : null);
      const width = strip ? cellWidth(strip.width, cells.length) : photo ? photo.width : 0;
      if (source) paint(cell.canvas, source, strip ? i * width : 0, width);
      else if (photo) {
        cell.canvas.width = photo.width; // an empty place the photo's shape
        cell.canvas.height = photo.height;
      }
    });
  };
  const decodePhoto = newestImage((pixels) => {
    photo = pixels;
    render();
  });
  const title = "the photo and the reconstructions where the last run ended, lossless";
  const landed = (pixels: ImageData | null) => {
    strip = pixels;
    render();
  };
  const download = liveFrames(scope, model, landed, "feature-inversion.png", title);
  void decodePhoto(model.get("original"));
  scope.listen(model, { captions: render, layers: render, original: () => void decodePhoto(model.get("original")) });
  return h("div", { class: "cnnviz-inv-stage" }, grid, h("div", { class: "cnnviz-look" }, download));
}
