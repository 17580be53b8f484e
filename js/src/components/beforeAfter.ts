/**
 * A before/after comparison: the dream over the photo, with a draggable divider (pointer, or the arrow keys when it
 * has focus) left of which the photo shows. Live JPEG frames (`frame`, an octave's picture, smaller than the photo)
 * are stretched over the photo's size and acknowledged ({type: "ack", seq}) once drawn; `final`, the full-size PNG
 * where a run ended, replaces them, and "Download PNG" saves it as it is.
 */
import type { AnyModel } from "@anywidget/types";
import { toBytes } from "../core/codec";
import { h, saveBlob, show } from "../core/dom";
import { send } from "../core/requests";
import type { Scope } from "../core/scope";
import type { DreamTraits } from "../core/traits";
import { dividerAt, nudged } from "../logic/dream";

async function bitmap(bytes: ReturnType<typeof toBytes>, type: string): Promise<ImageBitmap | null> {
  return bytes ? createImageBitmap(new Blob([bytes], { type })) : null;
}

export function beforeAfter(scope: Scope, model: AnyModel<DreamTraits>, filename: string): HTMLElement {
  const before = h("canvas", { class: "cnnviz-ba-before", width: 1, height: 1 });
  const after = h("canvas", { class: "cnnviz-ba-after", width: 1, height: 1 });
  const handle = h("div", {
    class: "cnnviz-ba-divider", role: "slider", tabindex: 0, "aria-label": "before/after divider",
    "aria-valuemin": 0, "aria-valuemax": 100, "data-lm-suppress-shortcuts": "true",
  });
  const labels = [h("span", { class: "cnnviz-ba-label cnnviz-ba-label-before" }, "before"), h("span", { class: "cnnviz-ba-label cnnviz-ba-label-after" }, "after")];
  const box = h("div", { class: "cnnviz-ba" }, after, before, handle, ...labels);
  const empty = h("div", { class: "cnnviz-note cnnviz-ba-empty" }, "Press Start: the dream grows over the photo, octave by octave.");
  const download = h("button", { class: "cnnviz-download", title: "The full-size dream where the last run ended, lossless" }, "Download PNG");
  let fraction = 0.5;
  let latest = 0;

  const place = () => {
    const pct = Math.round(fraction * 1000) / 10;
    before.style.clipPath = `inset(0 ${100 - pct}% 0 0)`;
    handle.style.left = `${pct}%`;
    handle.setAttribute("aria-valuenow", String(Math.round(pct)));
  };
  const bytes = (name: "frame" | "final" | "original") => {
    const value = toBytes(model.get(name));
    return value && value.byteLength > 0 ? value : null;
  };
  const paint = (canvas: HTMLCanvasElement, picture: ImageBitmap | null, width: number, height: number) => {
    canvas.width = width;
    canvas.height = height;
    if (picture) canvas.getContext("2d")!.drawImage(picture, 0, 0, width, height);
  };
  const drawOriginal = async () => {
    const picture = await bitmap(bytes("original"), "image/png");
    if (!picture) return;
    paint(before, picture, picture.width, picture.height);
    if (!bytes("final") && !bytes("frame")) paint(after, picture, picture.width, picture.height);
    picture.close();
  };
  // One sequence for both streams: whichever picture was asked for last is the one drawn.
  const drawDream = async (data: ReturnType<typeof toBytes>, type: string, seq?: number) => {
    const mine = ++latest;
    const picture = await bitmap(data, type);
    if (mine !== latest) return picture?.close();
    show(empty, !picture);
    if (picture) {
      paint(after, picture, before.width, before.height);
      picture.close();
    } else void drawOriginal();
    if (picture && seq !== undefined) send(model, { type: "ack", seq });
  };
  const onFrame = () => {
    const frame = bytes("frame");
    if (frame) void drawDream(frame, "image/jpeg", Number(model.get("frame_seq")));
    else if (!bytes("final")) void drawDream(null, "");
  };
  const onFinal = () => {
    const final = bytes("final");
    download.disabled = !final;
    if (final) void drawDream(final, "image/png");
    else onFrame();
  };
  const drag = (ev: PointerEvent) => {
    const rect = box.getBoundingClientRect();
    fraction = dividerAt(ev.clientX, rect.left, rect.width);
    place();
  };
  box.addEventListener("pointerdown", (ev) => {
    box.setPointerCapture(ev.pointerId);
    drag(ev);
    box.addEventListener("pointermove", drag);
  });
  const release = () => box.removeEventListener("pointermove", drag);
  box.addEventListener("pointerup", release);
  box.addEventListener("pointercancel", release);
  handle.addEventListener("keydown", (ev) => {
    const next = nudged(fraction, ev.key);
    if (next === null) return;
    ev.preventDefault();
    ev.stopPropagation();
    fraction = next;
    place();
  });
  download.addEventListener("click", () => {
    const final = bytes("final");
    if (final) saveBlob(new Blob([final], { type: "image/png" }), filename);
  });
  place();
  void drawOriginal().then(onFinal);
  scope.listen(model, { original: () => void drawOriginal(), frame: onFrame, final: onFinal });
  return h("div", { class: "cnnviz-ba-wrap" }, box, empty, h("div", { class: "cnnviz-look" }, download));
}
