/**
 * Unit picker: a scrolling grid of channel thumbnails from the `thumbnails` trait (a layer's (C, h, w) activation
 * maps on the photo), in the order `order` gives (default: by index). Each is drawn over a grey copy of the photo,
 * colour-mapped on its own range and smoothly upsampled, opaque where the channel fires and see-through where it is
 * quiet, so one sees *what* a unit responds to; it is labelled with its channel index. A click makes a channel the
 * `unit`; where the model has `units` (feature visualisation's batch), a ctrl-, shift- or cmd-click adds it there (or
 * removes it).
 */
import type { AnyModel } from "@anywidget/types";
import { decodeArray, unstack, wireArray } from "../core/arrays";
import { h } from "../core/dom";
import type { Scope } from "../core/scope";
import { save, type UnitTraits } from "../core/traits";
import { lut } from "../logic/colormap";
import { colorize } from "../logic/overlay";
import { activationAlpha, peak, rescale, toggleUnit } from "../logic/thumbs";
import { colorBar } from "./colorBar";

const unitTitle = (unit: number, high: number) => `unit ${unit}: peak activation ${high.toPrecision(3)}`;
const SIDE = 64; // CSS pixels of a thumbnail: enough to see the photo's parts under the activation

export interface UnitPicker {
  el: HTMLElement;
  /** The photo the thumbnails show activations of (drawn in grey under each). */
  setPhoto(pixels: ImageData | null): void;
  /** Put the cells in the order `order` gives now (its inputs changed). */
  reorder(): void;
}

export interface UnitPickerOptions {
  /** The channels in the order shown (a permutation of 0..C-1); default by index. */
  order?: (count: number) => number[];
  /** The hint under the heading, given the channel count and the layer. */
  note?: (count: number, layer: string) => string;
  /** A channel's tooltip, given its index and peak activation. */
  title?: (unit: number, peak: number) => string;
}

const batchNote = (count: number, layer: string) =>
  `${count} channels of ${layer} on the photo (bright: where the channel fires) · click: choose the unit · ctrl-click: add it to the channels batch`;

export function unitPicker(scope: Scope, model: AnyModel<UnitTraits>, opts: UnitPickerOptions = {}): UnitPicker {
  const note = h("div", { class: "cnnviz-units-note" });
  const grid = h("div", { class: "cnnviz-units", role: "listbox", "aria-label": "unit" });
  const bar = colorBar({ compact: true });
  let cells: HTMLElement[] = [];
  let photo: HTMLCanvasElement | null = null;
  const units = () => model.get("units") ?? [];

  const multi = model.get("units") !== undefined;
  const pick = (unit: number, ev: MouseEvent) => {
    if (multi && (ev.ctrlKey || ev.metaKey || ev.shiftKey)) return save(model, "units", toggleUnit(units(), unit));
    model.set("unit", unit);
    if (multi) model.set("units", []);
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
  const arrange = () => grid.replaceChildren(...(opts.order ? opts.order(cells.length).map((i) => cells[i]) : cells));
  const build = () => {
    const wire = model.get("thumbnails");
    const maps = decodeArray(wireArray(wire));
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
      note.textContent = (opts.note ?? batchNote)(maps.shape[0], String(wire!.layer));
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
          { class: "cnnviz-unit", role: "option", "data-unit": i, title: (opts.title ?? unitTitle)(i, peak(map.data)), onclick: (ev: Event) => pick(i, ev as MouseEvent) },
          canvas,
          h("span", { class: "cnnviz-unit-index" }, String(i)),
        );
      });
    }
    bar.set({ low: 0, high: 1, belowLow: false, aboveHigh: false }, colormap, "activation, each channel from its lowest (0) to its highest (1)");
    arrange();
    requestAnimationFrame(mark); // laid out by then, so the chosen unit can be scrolled to
  };
  build();
  scope.listen(model, { thumbnails: build, colormap: build, unit: mark, ...(multi ? { units: mark } : {}) });
  const el = h("div", { class: "cnnviz-section cnnviz-unit-picker" }, h("div", { class: "cnnviz-heading" }, "unit"), note, grid, bar.el);
  return {
    el,
    reorder: arrange,
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
