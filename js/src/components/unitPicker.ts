/**
 * Unit picker: a scrolling grid of channel thumbnails from the `thumbnails` trait (a layer's (C, h, w) activation
 * maps on the photo). Each is drawn over a grey copy of the photo, colour-mapped on its own range and smoothly
 * upsampled, opaque where the channel fires and see-through where it is quiet, so one sees *what* a unit responds
 * to; it is labelled with its channel index. A click makes a channel the `unit`; a ctrl-, shift- or cmd-click adds it
 * to `units` (or removes it), the channels a batch renders side by side.
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, unstack } from "../core/arrays";
import { h } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type FeaturevisTraits } from "../core/traits";
import { lut } from "../logic/colormap";
import { colorize } from "../logic/overlay";
import { activationAlpha, peak, rescale, toggleUnit } from "../logic/thumbs";
import { colorBar } from "./colorBar";

const SIDE = 64; // CSS pixels of a thumbnail: enough to see the photo's parts under the activation

export interface UnitPicker {
  el: HTMLElement;
  /** The photo the thumbnails show activations of (drawn in grey under each). */
  setPhoto(pixels: ImageData | null): void;
}

export function unitPicker(scope: Scope, model: AnyModel<FeaturevisTraits>): UnitPicker {
  const note = h("div", { class: "cnnviz-units-note" });
  const grid = h("div", { class: "cnnviz-units", role: "listbox", "aria-label": "unit" });
  const bar = colorBar({ compact: true });
  let cells: HTMLElement[] = [];
  let photo: HTMLCanvasElement | null = null;
  const units = () => model.get("units") ?? [];

  const pick = (unit: number, ev: MouseEvent) => {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey) return save(model, "units", toggleUnit(units(), unit));
    model.set("unit", unit);
    model.set("units", []);
    model.save_changes();
  };
  const mark = () => {
    const unit = Number(model.get("unit"));
    const picked = new Set(units());
    cells.forEach((cell, i) => {
      cell.classList.toggle("cnnviz-selected", i === unit);
      cell.classList.toggle("cnnviz-picked", picked.has(i));
      cell.setAttribute("aria-selected", String(i === unit));
    });
    const chosen = cells[unit];
    if (chosen && (chosen.offsetTop < grid.scrollTop || chosen.offsetTop + chosen.offsetHeight > grid.scrollTop + grid.clientHeight)) {
      grid.scrollTop = chosen.offsetTop - grid.clientHeight / 2;
    }
  };
  const build = () => {
    const wire = model.get("thumbnails");
    const maps = decodeArray(wire);
    const colormap = String(model.get("colormap"));
    if (!maps || maps.shape.length !== 3) {
      cells = [];
      note.textContent = "No thumbnails: this layer's output has no (C, H, W) maps.";
    } else {
      const table = lut(colormap);
      const [, mh, mw] = maps.shape;
      const ratio = window.devicePixelRatio || 1;
      const [width, height] = mw >= mh ? [SIDE, Math.round((SIDE * mh) / mw)] : [Math.round((SIDE * mw) / mh), SIDE];
      grid.style.gridTemplateColumns = `repeat(auto-fill, minmax(${width + 8}px, 1fr))`;
      note.textContent = `${maps.shape[0]} channels of ${wire!.layer} on the photo (bright: where the channel fires) · click: choose the unit · ctrl-click: add it to the channels batch`;
      const small = h("canvas", { width: mw, height: mh });
      cells = unstack(maps).map((map, i) => {
        const canvas = h("canvas", { class: "cnnviz-unit-canvas", width: Math.round(width * ratio), height: Math.round(height * ratio), style: `width:${width}px;height:${height}px` });
        const ctx = canvas.getContext("2d")!;
        if (photo) {
          ctx.filter = "grayscale(1)";
          ctx.drawImage(photo, 0, 0, canvas.width, canvas.height);
          ctx.filter = "none";
        }
        const levels = rescale(map.data);
        small.getContext("2d")!.putImageData(new ImageData(activationAlpha(colorize(levels, mh, mw, table), levels), mw, mh), 0, 0);
        ctx.imageSmoothingEnabled = true;
        ctx.imageSmoothingQuality = "high";
        ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
        return h(
          "div",
          { class: "cnnviz-unit", role: "option", "data-unit": i, title: `unit ${i}: peak activation ${peak(map.data).toPrecision(3)}`, onclick: (ev: Event) => pick(i, ev as MouseEvent) },
          canvas,
          h("span", { class: "cnnviz-unit-index" }, String(i)),
        );
      });
    }
    bar.set({ low: 0, high: 1, belowLow: false, aboveHigh: false }, colormap, "activation, each channel from its lowest (0) to its highest (1)");
    grid.replaceChildren(...cells);
    requestAnimationFrame(mark); // laid out by then, so the chosen unit can be scrolled to
  };
  build();
  scope.listen(model, { thumbnails: build, colormap: build, unit: mark, units: mark });
  const el = h("div", { class: "cnnviz-section cnnviz-unit-picker" }, h("div", { class: "cnnviz-heading" }, "unit"), note, grid, bar.el);
  return {
    el,
    setPhoto(pixels) {
      photo = null;
      if (pixels) {
        photo = h("canvas", { width: pixels.width, height: pixels.height });
        photo.getContext("2d")!.putImageData(pixels, 0, 0);
      }
      build();
    },
  };
}
