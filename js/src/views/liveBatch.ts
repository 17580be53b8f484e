/**
 * The pictures being optimised: one captioned canvas per image of the batch, which Python sends side by side
 * as one picture. Live JPEG frames (`frame`) are drawn as they come and acknowledged with
 * {type: "frame_ack", seq} so that Python sends the next one only then; `final`, the PNG of where a run ended,
 * replaces them, and "Download PNG" saves it as it is.
 */
import type { AnyModel } from "@anywidget/types";
import { toBytes } from "../codec";
import { stripCount } from "../featurevis";
import { gridColumns } from "../layout";
import { decodeImage } from "../overlayCanvas";
import { h, listen, saveBlob } from "../ui";

export function liveBatch(model: AnyModel): { el: HTMLElement; dispose: () => void } {
  let cells: { canvas: HTMLCanvasElement; caption: HTMLElement }[] = [];
  let latest = 0;
  const grid = h("div", { class: "cnnviz-batch" });
  const empty = h("div", { class: "cnnviz-batch-empty" }, "Press Start: the picture appears here while it is optimised.");
  const download = h("button", { class: "cnnviz-download", title: "The picture where the last run ended, lossless" }, "Download PNG");
  const bytes = (name: string) => {
    const value = toBytes(model.get(name));
    return value && value.byteLength > 0 ? value : null;
  };

  const caption = () => {
    const texts = (model.get("captions") ?? []) as string[];
    cells.forEach((cell, i) => (cell.caption.textContent = texts[i] ?? ""));
  };
  const layout = (count: number) => {
    if (cells.length === count) return;
    cells = Array.from({ length: count }, () => ({ canvas: h("canvas", { class: "cnnviz-batch-canvas" }), caption: h("figcaption", {}) }));
    grid.style.gridTemplateColumns = `repeat(${gridColumns(count)}, minmax(0, 1fr))`;
    grid.replaceChildren(...cells.map((cell, i) => h("figure", { class: "cnnviz-batch-cell", "data-index": i }, cell.canvas, cell.caption)));
    caption();
  };
  const paint = (pixels: ImageData | null) => {
    empty.style.display = pixels ? "none" : "";
    const side = pixels ? pixels.height : 0;
    layout(pixels ? stripCount(pixels.width, side) : 0);
    cells.forEach((cell, i) => {
      cell.canvas.width = side;
      cell.canvas.height = side;
      cell.canvas.getContext("2d")!.putImageData(pixels!, -i * side, 0, i * side, 0, side, side);
    });
  };
  // One sequence for both streams: whichever picture was asked for last is the one drawn.
  const show = async (data: Uint8Array | null, type: string, seq?: number) => {
    const mine = ++latest;
    const pixels = await decodeImage(data, type);
    if (mine !== latest) return;
    paint(pixels);
    if (pixels && seq !== undefined) model.send({ type: "frame_ack", seq });
  };
  const onFrame = () => {
    const frame = bytes("frame");
    if (frame) void show(frame, "image/jpeg", Number(model.get("frame_seq")));
    else if (!bytes("final")) void show(null, "");
  };
  const onFinal = () => {
    const final = bytes("final");
    download.disabled = !final;
    if (final) void show(final, "image/png");
    else onFrame();
  };
  download.addEventListener("click", () => {
    const final = bytes("final");
    if (final) saveBlob(new Blob([final], { type: "image/png" }), "featurevis.png");
  });
  onFinal();

  return {
    el: h("div", { class: "cnnviz-live" }, empty, grid, h("div", { class: "cnnviz-overlay-controls" }, download)),
    dispose: listen(model, { frame: onFrame, final: onFinal, captions: caption }),
  };
}
