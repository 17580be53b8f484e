/**
 * The photo and one reconstruction per layer side by side, each captioned ("photo", then the layer and its PSNR
 * against the photo). Python sends them as one strip of equal pictures: live JPEG frames (`frame`), drawn as they
 * come and acknowledged ({type: "ack", seq}), and the PNG where a run ended (`final`), which replaces them and which
 * "Download PNG" saves as it is. Before a run the photo (`original`) stands beside an empty place for each ticked layer.
 */
import type { AnyModel } from "@anywidget/types";
import { toBytes } from "../../core/codec";
import { h, saveBlob } from "../../core/dom";
import { send } from "../../core/requests";
import type { Scope } from "../../core/scope";
import type { InversionTraits } from "../../core/traits";
import { decodeImage, newestImage } from "../../components/heat";
import { cellWidth, waitingCaptions } from "../../logic/inversion";

interface Cell {
  canvas: HTMLCanvasElement;
  caption: HTMLElement;
  el: HTMLElement;
}

export function inversionPictures(scope: Scope, model: AnyModel<InversionTraits>): HTMLElement {
  const grid = h("div", { class: "cnnviz-inv-pictures" });
  const download = h("button", { class: "cnnviz-download", title: "the photo and the reconstructions where the last run ended, lossless" }, "Download PNG");
  let cells: Cell[] = [];
  let strip: ImageData | null = null;
  let photo: ImageData | null = null;
  let latest = 0;

  const bytes = (name: "frame" | "final") => {
    const value = toBytes(model.get(name));
    return value && value.byteLength > 0 ? value : null;
  };
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
  // One sequence for both streams: whichever picture was asked for last is the one drawn.
  const draw = async (data: Uint8Array | null, type: string, seq?: number) => {
    const mine = ++latest;
    const pixels = await decodeImage(data, type);
    if (mine !== latest) return;
    strip = pixels;
    render();
    if (pixels && seq !== undefined) send(model, { type: "ack", seq });
  };
  const onFrame = () => {
    const frame = bytes("frame");
    if (frame) void draw(frame, "image/jpeg", Number(model.get("frame_seq")));
    else if (!bytes("final")) void draw(null, "");
  };
  const onFinal = () => {
    const final = bytes("final");
    download.disabled = !final;
    if (final) void draw(final, "image/png");
    else onFrame();
  };
  const decodePhoto = newestImage((pixels) => {
    photo = pixels;
    render();
  });
  download.addEventListener("click", () => {
    const final = bytes("final");
    if (final) saveBlob(new Blob([final], { type: "image/png" }), "feature-inversion.png");
  });
  void decodePhoto(model.get("original"));
  onFinal();
  scope.listen(model, { frame: onFrame, final: onFinal, captions: render, layers: render, original: () => void decodePhoto(model.get("original")) });
  return h("div", { class: "cnnviz-inv-stage" }, grid, h("div", { class: "cnnviz-look" }, download));
}
