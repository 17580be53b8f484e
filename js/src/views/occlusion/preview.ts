/** The clicked window's occluded picture beside the original, each captioned with the class probability; the
 * window outlined on both. */
import type { AnyModel } from "@anywidget/types";
import { h, show } from "../../core/dom";
import type { Scope } from "../../core/scope";
import type { OcclusionTraits } from "../../core/traits";
import { newestImage } from "../../components/heat";
import { previewCaptions, type OccludedWindow } from "../../logic/occlusion";

export function windowPreview(scope: Scope, model: AnyModel<OcclusionTraits>): { el: HTMLElement; setBase(next: ImageData | null): void } {
  const canvas = (which: string) => h("canvas", { class: "cnnviz-preview-canvas", "data-preview": which, width: 224, height: 224 });
  const original = canvas("original");
  const occluded = canvas("occluded");
  const captions = [h("figcaption", {}), h("figcaption", {})];
  const figures = h("div", { class: "cnnviz-preview-pair" }, h("figure", {}, original, captions[0]), h("figure", {}, occluded, captions[1]));
  const hint = h("div", { class: "cnnviz-note cnnviz-preview-hint" }, "Click the map to see the picture with that window covered.");
  let base: ImageData | null = null;

  const paint = (target: HTMLCanvasElement, pixels: ImageData, box: number[]) => {
    target.width = pixels.width;
    target.height = pixels.height;
    const ctx = target.getContext("2d")!;
    ctx.putImageData(pixels, 0, 0);
    const [top, bottom, left, right] = box;
    ctx.strokeStyle = "#2196f3";
    ctx.lineWidth = 2;
    ctx.strokeRect(left, top, right - left, bottom - top);
  };
  const land = (pixels: ImageData | null) => {
    const w = model.get("occluded") as OccludedWindow;
    const shown = Boolean(pixels && base);
    show(figures, shown);
    show(hint, !shown);
    if (!shown) return;
    paint(original, base!, w.box);
    paint(occluded, pixels!, w.box);
    const text = previewCaptions(w);
    captions[0].textContent = text.original;
    captions[1].textContent = text.occluded;
  };
  const decode = newestImage(land);
  const draw = () => void decode((model.get("occluded") as Partial<OccludedWindow> | null)?.image);
  draw();
  scope.listen(model, { occluded: draw });
  return {
    el: h("div", { class: "cnnviz-section cnnviz-preview" }, h("div", { class: "cnnviz-heading" }, "selected window"), hint, figures),
    setBase(next) {
      base = next;
      draw();
    },
  };
}
