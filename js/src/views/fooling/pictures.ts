/**
 * FoolingImage's three pictures side by side: the photo, the fooled picture and the change magnified (its caption
 * says by how much). Python sends the last two as one picture, fooled | change: live JPEG frames (`frame`), drawn as
 * they come and acknowledged ({type: "ack", seq}), also over the PNG of a stretch before (Resume), and the PNG where a
 * run ended (`final`), which replaces them. "Download PNG" saves the fooled half of that PNG, pixel for pixel.
 */
import type { AnyModel } from "@anywidget/types";
import { toBytes } from "../../core/codec";
import { h, saveBlob, show } from "../../core/dom";
import { send } from "../../core/requests";
import type { Scope } from "../../core/scope";
import type { FoolingTraits } from "../../core/traits";
import { decodeImage } from "../../components/heat";
import { changeCaption } from "../../logic/fooling";
import type { PhotoShell } from "../../shells/photo";

function cell(name: string, title: string) {
  const canvas = h("canvas", { class: "cnnviz-fool-canvas", width: 1, height: 1, title });
  const caption = h("figcaption", {}, name);
  return { canvas, caption, el: h("figure", { class: `cnnviz-fool-cell cnnviz-fool-${name}` }, canvas, caption) };
}

/** Copy the `index`-th square of a side-by-side strip onto `canvas`. */
function paint(canvas: HTMLCanvasElement, pixels: ImageData, index: number): void {
  const side = pixels.height;
  canvas.width = canvas.height = side;
  canvas.getContext("2d")!.putImageData(pixels, -index * side, 0, index * side, 0, side, side);
}

export function foolingPictures(scope: Scope, model: AnyModel<FoolingTraits>, shell: PhotoShell): HTMLElement {
  const photo = cell("original", "the photo as the model sees it");
  const fooled = cell("fooled", "the photo changed until the model predicts the class");
  const change = cell("change", "fooled minus original, magnified around mid-grey");
  const empty = h("div", { class: "cnnviz-fool-empty" }, "Press Start: the fooled picture and the change appear here.");
  const download = h("button", { class: "cnnviz-download", title: "the fooled picture where the last run ended, lossless" }, "Download PNG");
  let latest = 0;
  let drawn = false;

  const captions = () => {
    const step = Number(model.get("step"));
    fooled.caption.textContent = `fooled · step ${step}${model.get("reached") ? " · predicted" : ""}`;
    change.caption.textContent = drawn ? changeCaption(Number(model.get("gain")), Number(model.get("max_change"))) : "change";
  };
  const draw = async (name: "frame" | "final", type: string, seq?: number) => {
    const mine = ++latest;
    const bytes = toBytes(model.get(name));
    const pixels = bytes && bytes.byteLength > 0 ? await decodeImage(bytes, type) : null;
    if (mine !== latest) return;
    drawn = pixels !== null;
    show(empty, !drawn);
    show(fooled.el, drawn);
    show(change.el, drawn);
    if (pixels) {
      paint(fooled.canvas, pixels, 0);
      paint(change.canvas, pixels, 1);
      if (seq !== undefined) send(model, { type: "ack", seq });
    }
    captions();
  };
  const has = (name: "frame" | "final") => (toBytes(model.get(name))?.byteLength ?? 0) > 0;
  // A frame is drawn whenever one comes, also over the final picture of a stretch before (Resume); the final
  // picture replaces the frames where a stretch ends.
  const onFrame = () => {
    if (has("frame")) void draw("frame", "image/jpeg", Number(model.get("frame_seq")));
    else if (!has("final")) void draw("frame", "image/jpeg");
  };
  const onFinal = () => {
    download.disabled = !has("final");
    void (has("final") ? draw("final", "image/png") : draw("frame", "image/jpeg"));
  };
  shell.onPhoto((pixels) => pixels && paint(photo.canvas, pixels, 0));
  // The fooled half of the final PNG itself: while a resumed run goes on, the canvas shows a live frame instead.
  download.addEventListener("click", async () => {
    const pixels = await decodeImage(model.get("final"), "image/png");
    if (!pixels) return;
    const canvas = h("canvas", { width: 1, height: 1 });
    paint(canvas, pixels, 0);
    canvas.toBlob((blob) => blob && saveBlob(blob, "fooled.png"), "image/png");
  });
  onFinal();
  scope.listen(model, { frame: onFrame, final: onFinal, step: captions, reached: captions, gain: captions });
  return h(
    "div",
    { class: "cnnviz-fool-stage" },
    h("div", { class: "cnnviz-fool-pictures" }, photo.el, fooled.el, change.el, empty),
    h("div", { class: "cnnviz-look" }, download),
  );
}
