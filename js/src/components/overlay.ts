/**
 * The main picture of a photo view: the photo with its heat-map, the colour bar, a hover line, the Look controls,
 * "Download PNG" and an optional click handler. `hover` turns the point under the mouse into words.
 */
import { h, saveBlob, show } from "../core/dom";
import type { NdArray } from "../core/arrays";
import { formatValue } from "../logic/overlay";
import { colorBar } from "./colorBar";
import { heatCanvas, lookControls, type Look, type MapPoint } from "./heat";

export interface OverlayView {
  el: HTMLElement;
  setBase(base: ImageData | null): void;
  setMap(map: NdArray | null, quantity?: string): void;
  size(): [number, number];
  /** Outline [top, left, bottom, right] (picture pixels, bottom and right exclusive) over the picture; null: none. */
  setBox(box: [number, number, number, number] | null): void;
}

const defaultHover = (at: MapPoint) =>
  `pixel (${at.y}, ${at.x}): ${Number.isNaN(at.value) ? "not computed yet" : formatValue(at.value)}`;

export function overlayView(opts: {
  look: Look;
  filename: string;
  onLook?: () => void;
  onClick?: (at: MapPoint) => void;
  hover?: (at: MapPoint) => string;
  /** Shown right under the picture, e.g. the fit notice. */
  below?: HTMLElement;
}): OverlayView {
  const bar = colorBar();
  const heat = heatCanvas(opts.look, { class: "cnnviz-canvas" }, bar);
  const hover = h("div", { class: "cnnviz-hover" }, "\u00a0");
  const download = h("button", { class: "cnnviz-download", title: "the picture as shown, with its overlay" }, "Download PNG");
  const say = opts.hover ?? defaultHover;

  heat.canvas.addEventListener("mousemove", (ev) => {
    const at = heat.valueAt(ev);
    hover.textContent = at ? say(at) : "\u00a0";
  });
  heat.canvas.addEventListener("click", (ev) => {
    const at = heat.valueAt(ev);
    if (at && opts.onClick) opts.onClick(at);
  });
  heat.canvas.classList.toggle("cnnviz-clickable", Boolean(opts.onClick));
  heat.canvas.addEventListener("mouseleave", () => (hover.textContent = "\u00a0"));
  download.addEventListener("click", () => heat.canvas.toBlob((blob) => blob && saveBlob(blob, opts.filename), "image/png"));
  const controls = lookControls(opts.look, () => {
    heat.draw();
    opts.onLook?.();
  });
  controls.append(download);
  const outline = h("div", { class: "cnnviz-box" });
  show(outline, false);
  const frame = h("div", { class: "cnnviz-frame" }, heat.canvas, outline);
  return {
    el: h("div", { class: "cnnviz-overlay" }, frame, bar.el, hover, ...(opts.below ? [opts.below] : []), controls),
    setBox(box) {
      show(outline, Boolean(box));
      if (!box) return;
      const [height, width] = heat.size();
      const [top, left, bottom, right] = box;
      Object.assign(outline.style, {
        top: `${(100 * top) / height}%`, left: `${(100 * left) / width}%`,
        height: `${(100 * (bottom - top)) / height}%`, width: `${(100 * (right - left)) / width}%`,
      });
    },
    setBase: heat.setBase,
    setMap: heat.setMap,
    size: heat.size,
  };
}
