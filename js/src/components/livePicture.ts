/**
 * One picture being optimised, at its own aspect ratio (a style transfer keeps the content photo's): live JPEG frames
 * (`frame`) are drawn as they come and acknowledged ({type: "ack", seq}); `final`, the PNG where a run ended, replaces
 * them, and "Download PNG" saves it as it is. Before the first frame a dashed box says what will appear.
 */
import type { AnyModel } from "@anywidget/types";
import { toBytes } from "../core/codec";
import { h, saveBlob, show } from "../core/dom";
import { send } from "../core/requests";
import type { Scope } from "../core/scope";
import type { ViewTraits } from "../core/traits";
import type { WireBytes } from "../core/codec";

interface PictureTraits extends ViewTraits {
  frame: WireBytes | null;
  frame_seq: number;
  final: WireBytes | null;
}

export function livePicture(scope: Scope, model: AnyModel<PictureTraits>, filename: string, waiting: string): HTMLElement {
  const canvas = h("canvas", { class: "cnnviz-live-picture", width: 1, height: 1 });
  const empty = h("div", { class: "cnnviz-batch-empty" }, waiting);
  const download = h("button", { class: "cnnviz-download", title: "The picture where the last run ended, lossless" }, "Download PNG");
  let latest = 0;
  const bytes = (name: "frame" | "final") => {
    const value = toBytes(model.get(name));
    return value && value.byteLength > 0 ? value : null;
  };
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
  download.addEventListener("click", () => {
    const final = bytes("final");
    if (final) saveBlob(new Blob([final], { type: "image/png" }), filename);
  });
  onFinal();
  scope.listen(model, { frame: onFrame, final: onFinal });
  return h("div", { class: "cnnviz-live cnnviz-live-one" }, empty, canvas, h("div", { class: "cnnviz-look" }, download));
}
