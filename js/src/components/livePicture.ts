/**
 * One picture being optimised, at its own aspect ratio (a style transfer keeps the content photo's): live JPEG frames
 * are drawn as they come and acknowledged ({type: "ack", seq}), the PNG where a run ended replaces them, and
 * "Download PNG" saves it (components/liveStream). Before the first frame a dashed box says what will appear.
 */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../core/dom";
import { send } from "../core/requests";
import type { Scope } from "../core/scope";
import { liveStream, type StreamTraits } from "./liveStream";

export function livePicture(scope: Scope, model: AnyModel<StreamTraits>, filename: string, waiting: string): HTMLElement {
  const canvas = h("canvas", { class: "cnnviz-live-picture", width: 1, height: 1 });
  const empty = h("div", { class: "cnnviz-batch-empty" }, waiting);
  const download = h("button", { class: "cnnviz-download", title: "The picture where the last run ended, lossless" }, "Download PNG");
  let latest = 0;
  // One sequence for both streams: whichever picture was asked for last is the one drawn.
  const draw = async (data: Uint8Array<ArrayBuffer> | null, type: string, seq?: number) => {
    const mine = ++latest;
    const picture = data ? await createImageBitmap(new Blob([data], { type })) : null;
    if (mine !== latest) return picture?.close();
    show(empty, !picture);
    show(canvas, Boolean(picture));
    if (!picture) return;
    canvas.width = picture.width;
    canvas.height = picture.height;
    canvas.getContext("2d")!.drawImage(picture, 0, 0);
    picture.close();
    if (seq !== undefined) send(model, { type: "ack", seq });
  };
  liveStream(scope, model, download, filename, (data, type, seq) => void draw(data, type, seq));
  return h("div", { class: "cnnviz-live cnnviz-live-one" }, empty, canvas, h("div", { class: "cnnviz-look" }, download));
}
