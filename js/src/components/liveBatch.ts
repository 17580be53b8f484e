/**
 * The pictures being optimised: one captioned canvas per image of the batch, which Python sends side by side as
 * one picture. Live JPEG frames (`frame`) are drawn as they come and acknowledged ({type: "ack", seq}): Python
 * keeps at most two frames unacknowledged, so a slow page never builds a backlog; `final`, the PNG of where a run
 * ended, replaces them, and "Download PNG" saves it as it is. `liveFrames` is that stream, decoded, for views that
 * lay their pictures out themselves.
 */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../core/dom";
import { send } from "../core/requests";
import type { Scope } from "../core/scope";
import type { LiveTraits } from "../core/traits";
import { gridColumns } from "../logic/layout";
import { stripCount } from "../logic/thumbs";
import { decodeImage } from "./heat";
import { liveStream } from "./liveStream";

export function liveBatch(scope: Scope, model: AnyModel<LiveTraits>, filename = "featurevis.png"): HTMLElement {
  let cells: { canvas: HTMLCanvasElement; caption: HTMLElement }[] = [];
  const grid = h("div", { class: "cnnviz-batch" });
  const empty = h("div", { class: "cnnviz-batch-empty" }, "Press Start: the picture appears here while it is optimised.");

  const caption = () => {
    const texts = model.get("captions") ?? [];
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
    show(empty, !pixels);
    const side = pixels ? pixels.height : 0;
    layout(pixels ? stripCount(pixels.width, side) : 0);
    cells.forEach((cell, i) => {
      cell.canvas.width = side;
      cell.canvas.height = side;
      cell.canvas.getContext("2d")!.putImageData(pixels!, -i * side, 0, i * side, 0, side, side);
    });
  };
  const download = liveFrames(scope, model, paint, filename, "The picture where the last run ended, lossless");
  scope.listen(model, { captions: caption });
  return h("div", { class: "cnnviz-live" }, empty, grid, h("div", { class: "cnnviz-look" }, download));
}

/**
 * A view's live pictures as one decoded stream (see `liveStream`): `land` gets the newest picture (null: none is
 * set), each frame acknowledged once landed. Returns the "Download PNG" button.
 */
export function liveFrames(
  scope: Scope,
  model: AnyModel<LiveTraits>,
  land: (pixels: ImageData | null) => void,
  filename: string,
  title: string,
): HTMLButtonElement {
  const download = h("button", { class: "cnnviz-download", title }, "Download PNG");
  let latest = 0;
  // One sequence for both streams: whichever picture was asked for last is the one drawn.
  const draw = async (data: Uint8Array | null, type: string, seq?: number) => {
    const mine = ++latest;
    const pixels = await decodeImage(data, type);
    if (mine !== latest) return;
    land(pixels);
    if (pixels && seq !== undefined) send(model, { type: "ack", seq });
  };
  liveStream(scope, model, download, filename, (data, type, seq) => void draw(data, type, seq));
  return download;
}
